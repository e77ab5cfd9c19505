"""Submitting a training recipe to a Ray cluster as a Ray job (the Jobs API behind `ray job submit`).

The job runs `<python> -m logicrl train --config <recipe> [overrides]` in the uploaded working directory,
exactly what `ray job submit --working-dir . -- /path/to/.venv/bin/python -m logicrl train --config
RECIPE.yaml` runs. `<python>` is this interpreter (`sys.executable`) by default, an absolute path, so the
job finds the same virtual environment whatever Python the cluster's PATH has; on a multi-node cluster
that path must exist on the nodes (install the project at the same path everywhere, or pass `--python
python` for a cluster image that has logicrl installed).

The working directory ships code, not run outputs: folders holding a run (`logicrl_run.json`, or a
checkpoint) or a model a run wrote (`logicrl_recipe.json`) are left out wherever they are, with `.venv/`,
`.git/`, `runs/` and what `.gitignore` lists. The package is built here, with Ray's own packaging
(`create_package`, what `ray job submit` builds), and measured before anything is sent: larger than the
dashboard accepts (100 MiB) is a one-line error with its size and largest folders.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from logicrl.errors import UserError, first_line

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
# Environment passed on to the job when set here (never secrets: a runtime_env is visible in the dashboard).
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "WANDB_MODE", "WANDB_PROJECT",
                 "WANDB_ENTITY", "LOGICRL_CACHE", "LOGICRL_VLLM_OPTIONS", "OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM")
# Never uploaded with the working directory (Ray also skips what .gitignore lists).
EXCLUDES = [".venv/", ".venv-vllm/", ".git/", "runs/", "outputs/", "wandb/", "__pycache__/", "*.pyc"]
MAX_UPLOAD_BYTES = 100 * 1024**2
"""The largest request body the Ray dashboard accepts (`ray_constants.DASHBOARD_CLIENT_MAX_SIZE`): the
working directory's zip must fit in it (a larger one fails with HTTP 413)."""
_UPLOAD_OVERHEAD = 64 * 1024  # the request's own bytes besides the zip


def resolve_address(address: str | None, config=None) -> str:
    """--address, else the recipe's `ray.address` when it is a dashboard URL, else $RAY_API_SERVER_ADDRESS,
    else $RAY_ADDRESS (when a URL), else http://127.0.0.1:8265."""
    if address and not address.startswith(("http://", "https://")):
        raise UserError(f"--address must be the dashboard URL (http://HOST:8265), got {address!r}")
    candidates = [address, getattr(getattr(config, "ray", None), "address", None),
                  os.environ.get("RAY_API_SERVER_ADDRESS"), os.environ.get("RAY_ADDRESS")]
    for cand in candidates:
        if cand and cand.startswith(("http://", "https://")):
            return cand
    return DEFAULT_ADDRESS


def build_entrypoint(config_relpath: str, overrides: list[str], python: str | None = None,
                     flags: list[str] | None = None) -> str:
    """The job's shell command line (`flags`: `logicrl train` flags such as --overwrite, after the overrides)."""
    return shlex.join([python or sys.executable, "-m", "logicrl", "train", "--config", config_relpath,
                       *overrides, *(flags or [])])


def output_dirs(working_dir: Path) -> list[str]:
    """Folders under `working_dir` that hold a run or a model a run wrote (`rundir.is_run_dir` /
    `is_model_dir`), as paths relative to it; `EXCLUDES`' folders are not searched."""
    from logicrl.training.rundir import is_model_dir, is_run_dir

    skip = {e.rstrip("/") for e in EXCLUDES if e.endswith("/")}
    found = []
    for root, dirs, _files in os.walk(working_dir):
        keep = []
        for name in sorted(dirs):
            path = Path(root) / name
            if name in skip or path.is_symlink():
                continue
            if is_run_dir(path) or is_model_dir(path):
                found.append(path.relative_to(working_dir).as_posix())
            else:
                keep.append(name)
        dirs[:] = keep
    return found


def build_runtime_env(working_dir: Path, config=None) -> dict:
    """working_dir upload (run outputs left out) plus the recipe's `ray.runtime_env` (its env_vars merged
    over the forwarded ones)."""
    extra = dict(getattr(getattr(config, "ray", None), "runtime_env", None) or {})
    env_vars = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env_vars.update(extra.pop("env_vars", {}) or {})
    excludes = list(EXCLUDES) + [f"/{rel}/" for rel in output_dirs(working_dir)]
    runtime_env = {"working_dir": str(working_dir), "excludes": excludes + list(extra.pop("excludes", []) or []),
                   **extra}
    if env_vars:
        runtime_env["env_vars"] = {k: str(v) for k, v in env_vars.items()}
    return runtime_env


def prepare(config_path: str | os.PathLike, overrides: list[str] | None = None,
            working_dir: str | os.PathLike = ".", python: str | None = None) -> tuple[str, dict, object]:
    """Validate the recipe here and return (entrypoint, runtime_env, config). Raises UserError."""
    from logicrl.config import load_config
    from logicrl.ray.settings import validate_rollout_engines, validate_settings

    overrides = list(overrides or [])
    wd = Path(working_dir).expanduser().resolve()
    if not wd.is_dir():
        raise UserError(f"working directory not found: {working_dir}")
    path = Path(config_path).expanduser().resolve()
    config = load_config(path, overrides)  # bad recipe: a one-line UserError now, not a failed job later
    validate_settings(config.ray)
    validate_rollout_engines(config)
    try:
        rel = path.relative_to(wd)
    except ValueError:
        raise UserError(f"config {config_path} is outside the working directory {wd} (it is uploaded "
                        f"with it): move it there or pass --working-dir") from None
    return build_entrypoint(rel.as_posix(), overrides, python), build_runtime_env(wd, config), config


def build_package(runtime_env: dict, target: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Zip `runtime_env`'s working_dir (its `excludes`, `.gitignore` and `.rayignore` applied, as Ray does)
    to `target` with Ray's own packaging, and check its size. Raises UserError, with the size, the limit
    and the largest folders, when it is over `max_bytes`."""
    from ray._private.runtime_env.packaging import create_package

    working_dir = runtime_env["working_dir"]
    create_package(working_dir, target, include_gitignore=True, excludes=list(runtime_env.get("excludes", [])))
    size = target.stat().st_size
    if size + _UPLOAD_OVERHEAD > max_bytes:
        raise UserError(f"working directory {working_dir} packs to {_mib(size)} (the Ray dashboard takes at most "
                        f"{_mib(max_bytes)}); largest: {largest_folders(target)}; leave data or outputs out "
                        f"(.gitignore, .rayignore, ray.runtime_env.excludes) or pass a smaller --working-dir")
    return target


def largest_folders(zip_path: Path, top: int = 3) -> str:
    """"data/ 80.1 MiB, demo2/ 30.0 MiB, ...": the top-level entries taking most of the zip."""
    import zipfile
    from collections import Counter

    sizes: Counter = Counter()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            head, sep, _ = info.filename.partition("/")
            sizes[head + ("/" if sep else "")] += info.compress_size
    return ", ".join(f"{name} {_mib(size)}" for name, size in sizes.most_common(top))


def _mib(size: float) -> str:
    return f"{size / 1024**2:.1f} MiB"


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


def submit(config_path: str | os.PathLike, overrides: list[str] | None = None, address: str | None = None,
           working_dir: str | os.PathLike = ".", python: str | None = None, submission_id: str | None = None,
           wait: bool = False, timeout: float | None = None, log=None,
           max_upload_bytes: int = MAX_UPLOAD_BYTES, flags: list[str] | None = None) -> tuple[str, str]:
    """Submit the recipe as a Ray job; returns (submission_id, status). With `wait`, streams the job's
    logs to `log` (default: sys.stdout) until it ends (or `timeout` seconds pass, then the job is stopped).
    Raises UserError for a bad recipe or a working directory that packs to more than `max_upload_bytes`."""
    from ray.job_submission import JobSubmissionClient

    overrides = list(overrides or [])
    entrypoint, runtime_env, config = prepare(config_path, overrides, working_dir, python)
    config_relpath = shlex.split(entrypoint)[5]
    url = resolve_address(address, config)
    if not Path(config.output_dir).is_absolute():
        if _is_loopback(url):  # same machine: results go where a local run would put them
            overrides.append(f"output_dir={Path(config.output_dir).resolve()}")
        else:
            print(f"logicrl submit: note: output_dir {config.output_dir!r} is relative to the job's temporary "
                  f"working directory on the cluster; use an absolute (shared) path to keep the results",
                  file=sys.stderr)
    entrypoint = build_entrypoint(config_relpath, overrides, python, flags)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="logicrl-submit-") as tmp:
        # What is uploaded is this zip, built and measured here (run outputs left out).
        package = build_package(runtime_env, Path(tmp) / "working_dir.zip", max_upload_bytes)
        runtime_env = {k: v for k, v in runtime_env.items() if k != "excludes"}
        runtime_env["working_dir"] = str(package)
        try:
            client = JobSubmissionClient(url)
        except (ConnectionError, RuntimeError) as exc:
            raise UserError(f"cannot reach the Ray dashboard at {url}: {first_line(exc)}") from None
        job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env, submission_id=submission_id,
                                   metadata={"logicrl_config": str(config_path)})
    print(f"logicrl submit: job {job_id} submitted to {url}", file=sys.stderr)
    print(f"  watch: ray job logs --address {url} --follow {job_id}    (dashboard: {url})", file=sys.stderr)
    if not wait:
        return job_id, str(client.get_job_status(job_id))
    return job_id, wait_for(client, job_id, timeout=timeout, log=log)


def wait_for(client, job_id: str, timeout: float | None = None, log=None) -> str:
    """Follow the job's logs (Ray's `tail_job_logs` stream) until it ends; returns the final status name.

    After `timeout` seconds the job is stopped and "TIMEOUT" returned.
    """
    import asyncio

    log = log or sys.stdout

    async def follow() -> None:
        async for chunk in client.tail_job_logs(job_id):  # ends when the job does
            log.write(chunk)
            log.flush()

    try:
        asyncio.run(asyncio.wait_for(follow(), timeout))
    except asyncio.TimeoutError:
        client.stop_job(job_id)
        return "TIMEOUT"
    while True:  # the stream may close a moment before the status is final
        status = str(client.get_job_status(job_id)).rsplit(".", 1)[-1]
        if status in TERMINAL:
            return status
        time.sleep(0.5)
