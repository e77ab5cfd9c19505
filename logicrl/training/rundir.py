"""The run directory: what a run keeps there, and the guarantees that hold whatever kills the run.

    <output_dir>/logicrl_run.json      marks the folder as a run's (`logicrl submit` never uploads one)
    <output_dir>/.logicrl.lock         held (flock) by the run's process while it runs: one run per folder
    <output_dir>/config.json           the resolved recipe
    <output_dir>/metrics.jsonl         one JSON line per logged step (and held-out evaluation)
    <output_dir>/checkpoint-N/         every `save_steps` and at the last step (`--resume` takes the newest
                                       complete one)
    <output_dir>/warm_start/           the supervised warm start's model (when the recipe has one)
    <output_dir>/final/                the final model or adapter, with logicrl_recipe.json beside it

Guarantees (docs/training.md, "The run directory"):

- One run per folder: `open_run` takes an exclusive `flock` on `.logicrl.lock` for the run's lifetime
  (the kernel drops it when the process dies, so a killed run never blocks the next); a second run stops
  with a one-line error naming the holder. In a Ray Train run the driver holds it, not the workers.
- A fresh run refuses a folder holding another run's files unless told `--resume` or `--overwrite`.
- A checkpoint is written with a `.logicrl-saving` marker inside, removed only once every file of it is
  on disk (`logicrl.trl_compat.LogicRLTrainer._save_checkpoint`); `--resume` takes the newest complete
  checkpoint and names the incomplete ones it skips. `final/` is written beside and renamed into place.
- On resume, metrics.jsonl is cut back to the checkpoint's step (atomically: temp file and rename), so
  every step is logged once.
- A run whose newest checkpoint reached `max_steps` and whose `final/` exists is complete: `--resume`
  says so and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from logicrl.config import TrainConfig
from logicrl.errors import UserError

RECIPE_FILE = "logicrl_recipe.json"
"""The resolved recipe, saved beside every model a run writes (final/, merged/, warm_start/)."""

RUN_MARKER = "logicrl_run.json"
"""Written when a run opens its folder: the folder holds a run's outputs (checkpoints, models, metrics)."""

LOCK_FILE = ".logicrl.lock"
"""The run's lock file (`flock`ed while the run lives; it names the holder)."""

SAVING_MARKER = ".logicrl-saving"
"""Inside a checkpoint folder while it is being written: a checkpoint holding it is incomplete."""

METRICS_FILE = "metrics.jsonl"
FINAL_DIR = "final"
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")

RUN_FILES = (RUN_MARKER, "config.json", METRICS_FILE, FINAL_DIR)
"""Entries (besides checkpoint-N folders) whose presence means the folder holds a run."""

CLEARED_ON_OVERWRITE = (RUN_MARKER, "config.json", METRICS_FILE, FINAL_DIR, "merged", "warm_start", "curves.png",
                        "ray_attempts.jsonl", "ray")
"""What `--overwrite` deletes (with every checkpoint-N folder and leftover temp folder); other files stay."""


def config_json(config: TrainConfig) -> str:
    import dataclasses

    return json.dumps(dataclasses.asdict(config), indent=2, default=str)


def notice(message: str) -> None:
    """A one-line notice on stderr (not an error)."""
    print(f"logicrl: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- checkpoints


def checkpoint_step(path: str | Path) -> int | None:
    """The step N of a `checkpoint-N` folder name (None for another name)."""
    match = _CHECKPOINT.match(Path(path).name)
    return int(match.group(1)) if match else None


def is_complete_checkpoint(path: str | Path) -> bool:
    """A checkpoint folder whose save finished: trainer_state.json present (transformers writes it after
    the weights, optimizer and RNG state) and no `.logicrl-saving` marker left by an interrupted save."""
    path = Path(path)
    return (path / TRAINER_STATE).is_file() and not (path / SAVING_MARKER).exists()


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Every checkpoint-N folder of the run, oldest (smallest N) first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=checkpoint_step)


def newest_complete_checkpoint(run_dir: str | Path, quiet: bool = False) -> Path | None:
    """The newest complete checkpoint (None if there is none); names each newer incomplete one it skips."""
    for path in reversed(checkpoints(run_dir)):
        if is_complete_checkpoint(path):
            return path
        if not quiet:
            missing = "a save was interrupted" if (path / SAVING_MARKER).exists() else f"no {TRAINER_STATE}"
            notice(f"skipping incomplete checkpoint {path} ({missing})")
    return None


def global_step_of(checkpoint: str | Path) -> int:
    """The optimizer step a checkpoint was saved at (its trainer_state.json)."""
    state = json.loads((Path(checkpoint) / TRAINER_STATE).read_text(encoding="utf-8"))
    return int(state.get("global_step", 0))


def begin_checkpoint(folder: str | Path) -> None:
    """Before a checkpoint is written: a leftover folder of the same step (an interrupted save, or a later
    step of a run resumed from an older checkpoint) is removed, and the folder is marked as being saved."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / SAVING_MARKER).write_text(f"{os.getpid()}\n", encoding="utf-8")
    _fsync(folder.parent)


def commit_checkpoint(folder: str | Path) -> None:
    """After every file of a checkpoint is written: normal file modes, data flushed to disk, then the
    saving marker removed (the checkpoint counts as complete from this moment)."""
    folder = Path(folder)
    normalize_modes(folder)
    for path in folder.rglob("*"):
        if path.is_file() and path.name != SAVING_MARKER:
            _fsync(path)
    (folder / SAVING_MARKER).unlink(missing_ok=True)
    _fsync(folder)


def normalize_modes(folder: str | Path) -> None:
    """Give files written private (0600: safetensors writes through a temp file) the mode a plain `open()`
    gives (0666 minus the umask), like the other files of the run."""
    umask = os.umask(0)
    os.umask(umask)
    wanted = 0o666 & ~umask
    for path in Path(folder).rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink() and (path.stat().st_mode & 0o777) == 0o600 != wanted:
                os.chmod(path, wanted)


def _fsync(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to disk (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing_dir(target: str | Path, is_main: bool = True, barrier=None):
    """Write a model folder (final/, merged/) beside `target` and rename it into place once complete:
    yields the temporary folder; a reader (or a resume) never sees a half-written `target`. With several
    processes, all write into the same temporary folder and `barrier()` is called before the main one
    renames it."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    if is_main and tmp.exists():
        shutil.rmtree(tmp)
    if barrier is not None:
        barrier()
    yield tmp
    if barrier is not None:
        barrier()
    if not is_main:
        return
    normalize_modes(tmp)
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync(target.parent)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- metrics


def truncate_metrics(path: str | Path, step: int) -> float | None:
    """Cut metrics.jsonl back to the lines of steps <= `step` (the checkpoint a run resumes from), by
    writing the kept lines to a temp file and renaming it over the old one; a torn last line is dropped.
    Returns the last kept `time` (seconds since the run started), None when there is none."""
    from logicrl.fsutil import atomic_write_text

    path = Path(path)
    if not path.is_file():
        return None
    kept, last_time, dropped = [], None, 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if not isinstance(row, dict):
            dropped += 1
            continue
        if isinstance(row.get("step"), (int, float)) and row["step"] > step:
            dropped += 1
            continue
        kept.append(line)
        if isinstance(row.get("time"), (int, float)):
            last_time = float(row["time"])
    if dropped:
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))
    return last_time


# ---------------------------------------------------------------- the lock


class RunLock:
    """An exclusive `flock` on `<run_dir>/.logicrl.lock`, released when `release()` is called or the
    process ends (however it ends: a killed run leaves a file but no lock). The file names the holder."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise UserError(f"output_dir {self.path.parent} is in use by another run ({holder}); wait for it "
                                f"to end or choose another output_dir") from None
            # The holder before us may have removed the file between our open and our lock: retry on the
            # file that is there now, or two runs could each hold a lock on a different file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(sys.argv)[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still holding it (see acquire)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __del__(self):  # a trainer built and dropped without running releases its folder
        with contextlib.suppress(Exception):
            self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "holder unknown"
    text = f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')}"
    return f"{text}: {info['command']}" if info.get("command") else text


# ---------------------------------------------------------------- opening a run


class RunComplete(Exception):
    """`--resume` of a run that already reached max_steps and wrote final/: nothing to do."""

    def __init__(self, message: str, run_dir: Path, step: int):
        super().__init__(message)
        self.run_dir = run_dir
        self.step = step


@dataclass
class RunHandle:
    """An opened run directory: its lock (held until `close()`) and the checkpoint to resume from."""

    run_dir: Path
    resume: str | None
    lock: RunLock | None
    created: bool
    """The folder did not exist before this run."""

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def abandon(self) -> None:
        """The run failed before writing anything: remove what opening it created, release the lock."""
        if self.created and self.run_dir.is_dir():
            left = {p.name for p in self.run_dir.iterdir()} - {RUN_MARKER, LOCK_FILE}
            if not left:
                with contextlib.suppress(OSError):
                    (self.run_dir / RUN_MARKER).unlink(missing_ok=True)
        self.close()
        if self.created:
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()  # only when empty


def run_files(run_dir: str | Path) -> list[str]:
    """The entries of `run_dir` that belong to a run (sorted; empty for a fresh or foreign folder)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if p.name in RUN_FILES or checkpoint_step(p) is not None)


def clear_run(run_dir: str | Path) -> list[str]:
    """Delete a run's outputs from `run_dir` (`--overwrite`); files the run did not write stay."""
    run_dir = Path(run_dir)
    removed = []
    for path in sorted(run_dir.iterdir()):
        name = path.name
        if name in CLEARED_ON_OVERWRITE or checkpoint_step(path) is not None or \
                (name.startswith(".") and name.endswith((".tmp", ".old"))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(name)
    return removed


def resolve_resume(resume: str | None, run_dir: Path, quiet: bool = False) -> str | None:
    """None, "last" (the newest complete checkpoint in the run dir) or a checkpoint path -> a checkpoint
    path or None. Raises UserError when there is nothing to resume from."""
    if not resume:
        return None
    if resume == "last":
        last = newest_complete_checkpoint(run_dir, quiet=quiet)
        if last is None:
            found = run_files(run_dir)
            hint = (f"; start it again with --overwrite (its files: {', '.join(found[:4])})" if found else "")
            raise UserError(f"--resume: no checkpoint to resume from in {run_dir} (no complete checkpoint-* "
                            f"directory){hint}")
        return str(last)
    path = Path(resume)
    if not (path / TRAINER_STATE).is_file():
        raise UserError(f"--resume: {resume} is not a checkpoint directory (no {TRAINER_STATE})")
    if (path / SAVING_MARKER).exists():
        raise UserError(f"--resume: {resume} is incomplete (its save was interrupted); resume from an older one")
    return str(path)


def open_run(config: TrainConfig, overwrite: bool = False) -> RunHandle:
    """Open `config.output_dir` for a run: create it, take its lock, check it against `resume` /
    `overwrite`, mark it. Call after the recipe is validated and before anything heavy loads.

    Raises UserError (folder in use, another run's files without --resume/--overwrite, nothing to resume)
    and RunComplete (`--resume` of a finished run). Whatever it raises, it leaves no folder it created.
    """
    run_dir = Path(config.output_dir)
    if config.resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other: continue the run, or start it again")
    from logicrl.fsutil import blocking_file

    blocker = blocking_file(run_dir)
    if blocker is not None or (run_dir.exists() and not run_dir.is_dir()):
        raise UserError(f"config field output_dir: cannot create {run_dir}: {blocker or run_dir} is a file")
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"config field output_dir: cannot create {run_dir}: {exc.strerror or exc}") from None
    handle = RunHandle(run_dir=run_dir, resume=None, lock=None, created=created)
    try:
        handle.lock = RunLock(run_dir).acquire()
        if config.resume:
            handle.resume = resolve_resume(config.resume, run_dir)
            check_resume_recipe(config, Path(handle.resume))
            step = global_step_of(handle.resume)
            if step >= config.max_steps and (run_dir / FINAL_DIR).is_dir():
                raise RunComplete(f"run {run_dir} is complete: step {step} of max_steps {config.max_steps}, "
                                  f"final model in {run_dir / FINAL_DIR}; nothing to do (raise max_steps to "
                                  f"train further)", run_dir, step)
        else:
            found = run_files(run_dir)
            if found and not overwrite:
                shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
                raise UserError(f"output_dir {run_dir} holds another run ({shown}): continue it with --resume, "
                                f"or start again with --overwrite (deletes its checkpoints, metrics and models)")
            if found:
                removed = clear_run(run_dir)
                notice(f"--overwrite: removed {len(removed)} entries of the previous run from {run_dir}")
        _write_marker(run_dir, config)
    except BaseException:
        handle.abandon()
        raise
    return handle


RESUME_FIXED = ("model", "adapter", "lora.enabled", "lora.r", "lora.alpha", "lora.target_modules", "lora.adapters",
                "lora.train")
"""Recipe fields a checkpoint's weights and optimizer state depend on: `--resume` must keep them."""


def check_resume_recipe(config: TrainConfig, checkpoint: Path) -> None:
    """Raise UserError (one line) when `config` changes what the checkpoint's weights and optimizer state are
    made of (RESUME_FIXED, and whether the algorithm has a critic) against the recipe of the run that wrote it
    (`config.json` beside the checkpoint; nothing is checked without one). Otherwise torch fails deep in
    `Optimizer.load_state_dict` ("a different number of parameter groups")."""
    import dataclasses

    from logicrl.algorithms import get_algorithm

    path = Path(checkpoint).parent / "config.json"
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    now = json.loads(json.dumps(dataclasses.asdict(config), default=str))

    def value(recipe: dict, dotted: str):
        for key in dotted.split("."):
            recipe = recipe.get(key) if isinstance(recipe, dict) else None
        return recipe

    for dotted in RESUME_FIXED:
        if value(before, dotted) != value(now, dotted):
            raise UserError(f"--resume: {checkpoint} was trained with {dotted}={value(before, dotted)!r}, this recipe "
                            f"says {value(now, dotted)!r}: a checkpoint continues with its own; give another "
                            "output_dir to start a new run")
    try:
        critic_before = get_algorithm(before.get("algorithm", "grpo")).critic is not None
    except UserError:  # the old run's algorithm is gone (a module no longer importable): nothing to compare
        return
    if critic_before != (get_algorithm(config.algorithm).critic is not None):
        raise UserError(f"--resume: {checkpoint} was trained with algorithm={before.get('algorithm')!r}, this recipe "
                        f"says {config.algorithm!r}: one has a critic (value head) and the other not, so the "
                        "checkpoint's optimizer state does not fit; give another output_dir to start a new run")


def _write_marker(run_dir: Path, config: TrainConfig) -> None:
    from logicrl import __version__
    from logicrl.fsutil import atomic_write_text

    marker = run_dir / RUN_MARKER
    record = {}
    if marker.is_file():
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(marker.read_text(encoding="utf-8"))
    record.setdefault("created", time.strftime("%Y-%m-%d %H:%M:%S"))
    record.update({"logicrl": __version__, "algorithm": config.algorithm, "model": config.model,
                   "max_steps": config.max_steps})
    if config.resume:
        record["resumed"] = time.strftime("%Y-%m-%d %H:%M:%S")
    atomic_write_text(marker, json.dumps(record, indent=1) + "\n")


def is_run_dir(path: str | Path) -> bool:
    """Whether `path` holds a run's outputs: the marker file, or (a run from before the marker existed)
    metrics.jsonl with config.json, or a checkpoint folder."""
    path = Path(path)
    if (path / RUN_MARKER).is_file():
        return True
    if (path / METRICS_FILE).is_file() and (path / "config.json").is_file():
        return True
    try:
        return any(checkpoint_step(p) is not None and (p / TRAINER_STATE).is_file() for p in path.iterdir())
    except OSError:
        return False


def is_model_dir(path: str | Path) -> bool:
    """Whether `path` holds a model a run wrote (final/, merged/, warm_start/: the recipe beside weights)."""
    return (Path(path) / RECIPE_FILE).is_file()


def read_recipe(model_dir: str | Path) -> dict | None:
    """The recipe that trained the model in `model_dir` (a dict), or None for a model no run of ours wrote:
    `RECIPE_FILE` beside the weights, else the run directory's config.json one level up."""
    model_dir = Path(model_dir)
    for path in (model_dir / RECIPE_FILE, model_dir.parent / "config.json"):
        if path.is_file():
            try:
                recipe = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(recipe, dict) and isinstance(recipe.get("data"), dict) and "algorithm" in recipe:
                return recipe
    return None
