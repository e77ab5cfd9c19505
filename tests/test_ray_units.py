"""Ray orchestration pieces that need no cluster: chunking, seeds, job submission set-up, recipes, configs."""

import json
import shlex
import sys
import typing
from pathlib import Path

import pytest

from logicrl.cli import main
from logicrl.errors import UserError
from logicrl.ray.puzzles_parallel import chunk_seed
from logicrl.ray.reward_pool import _slice_columns, chunk_bounds
from logicrl.ray.settings import RaySettings, validate_settings
from logicrl.ray.submit import build_entrypoint, prepare, resolve_address

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n,parts", [(1, 4), (7, 3), (8, 4), (9, 2), (100, 7), (5, 5)])
def test_chunk_bounds_cover_the_batch_in_order_one_chunk_per_actor(n, parts):
    bounds = chunk_bounds(n, parts)
    assert len(bounds) == min(n, parts)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a < b for a, b in bounds)
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_slice_columns_slices_per_sample_columns_only():
    cols = {"answer": ["a", "b", "c", "d"], "n_people": [3, 4, 5, 6], "trainer_state": {"step": 1}, "short": [1]}
    part = _slice_columns(cols, 1, 3, 4)
    assert part == {"answer": ["b", "c"], "n_people": [4, 5], "trainer_state": {"step": 1}, "short": [1]}


def test_chunk_seeds_are_deterministic_and_distinct():
    seeds = [chunk_seed(7, i) for i in range(50)]
    assert seeds == [chunk_seed(7, i) for i in range(50)]
    assert len(set(seeds)) == 50
    assert chunk_seed(8, 0) != chunk_seed(7, 0)
    assert all(0 <= s < 2**63 for s in seeds)


def test_validate_settings_names_the_bad_field():
    validate_settings(RaySettings(num_workers=2, backend="nccl", rendezvous="env"))
    with pytest.raises(UserError, match="ray.backend"):
        validate_settings(RaySettings(backend="mpi"))
    with pytest.raises(UserError, match="ray.rendezvous"):
        validate_settings(RaySettings(rendezvous="etcd"))
    validate_settings(RaySettings(rollout_engines=2, rollout_engine_cpus=0.5))
    with pytest.raises(UserError, match="ray.rollout_placement"):
        validate_settings(RaySettings(rollout_engines=2, rollout_placement="pack"))
    with pytest.raises(UserError, match="ray.rollout_engine_cpus"):
        validate_settings(RaySettings(rollout_engines=2, rollout_engine_cpus=0, rollout_engine_gpus=0))
    with pytest.raises(UserError, match="ray.rollout_engine_threads"):
        validate_settings(RaySettings(rollout_engine_threads=-1))
    with pytest.raises(UserError, match="ray.cpus_per_worker"):
        validate_settings(RaySettings(cpus_per_worker=-1))


def test_examples_load_as_recipes():
    from logicrl.config import load_config

    cpu = load_config(REPO / "examples" / "ray_cpu.yaml")
    assert cpu.model == "embedded" and cpu.max_steps == 2 and cpu.ray.num_workers == 2 and not cpu.ray.use_gpu
    gpu = load_config(REPO / "examples" / "ray_multinode_gpu.yaml")
    assert gpu.ray.use_gpu and gpu.ray.backend == "nccl" and gpu.trl["deepspeed"].endswith("zero3.json")
    assert (REPO / gpu.trl["deepspeed"]).is_file()


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_defer_sizes_to_the_trainer(stage):
    cfg = json.loads((REPO / "examples" / f"deepspeed_zero{stage}.json").read_text())
    assert cfg["zero_optimization"]["stage"] == stage
    # "auto": the HF/TRL trainer fills batch sizes, accumulation and clipping from the recipe.
    for key in ("train_micro_batch_size_per_gpu", "train_batch_size", "gradient_accumulation_steps"):
        assert cfg[key] == "auto"
    # No DeepSpeed optimizer: the trainer's torch AdamW is used, so no compiled op (FusedAdam) is needed.
    assert "optimizer" not in cfg and cfg["zero_allow_untested_optimizer"] is True


def test_submit_prepare_builds_the_train_entrypoint(tmp_path, monkeypatch):
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.parent.mkdir()
    recipe.write_text(f"output_dir: {tmp_path / 'out'}\nmax_steps: 3\nray: {{runtime_env: {{env_vars: {{A: 1}}}}}}\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entrypoint, runtime_env, config = prepare(recipe, ["max_steps=2"], working_dir=tmp_path)
    assert shlex.split(entrypoint) == [sys.executable, "-m", "logicrl", "train", "--config", "recipes/r.yaml",
                                       "max_steps=2"]
    assert config.max_steps == 2
    assert runtime_env["working_dir"] == str(tmp_path)
    assert runtime_env["env_vars"]["A"] == "1" and runtime_env["env_vars"]["HF_HUB_OFFLINE"] == "1"
    assert ".venv/" in runtime_env["excludes"]
    assert shlex.split(build_entrypoint("r.yaml", [], python="python"))[:3] == ["python", "-m", "logicrl"]
    assert shlex.split(build_entrypoint("r.yaml", ["max_steps=2"], flags=["--resume"]))[-2:] == ["max_steps=2",
                                                                                               "--resume"]


def test_submit_rejects_bad_input_with_one_line(tmp_path, capsys):
    outside = tmp_path / "r.yaml"
    outside.write_text("max_steps: 2\n")
    wd = tmp_path / "wd"
    wd.mkdir()
    with pytest.raises(UserError, match="outside the working directory"):
        prepare(outside, [], working_dir=wd)
    with pytest.raises(UserError, match="unknown config field"):
        prepare(outside, ["no_such_field=1"], working_dir=tmp_path)
    with pytest.raises(UserError, match="ray.backend"):
        prepare(outside, ["ray.backend=mpi"], working_dir=tmp_path)
    assert main(["submit", "--config", str(tmp_path / "missing.yaml"), "--working-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config file not found" in err[0]
    # --key=value overrides are accepted as in `logicrl train`, and checked before anything is submitted
    assert main(["submit", "--config", str(outside), "--working-dir", str(tmp_path), "--no_such=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown config field no_such" in err[0]
    # Flags that contradict each other stop here, before any upload or contact with Ray (the job used to be
    # submitted and fail on the cluster; --timeout without --wait was ignored).
    for flags, says in ((["--resume", "--overwrite"], "exclude each other"), (["--timeout", "5"], "--wait")):
        assert main(["submit", "--config", str(outside), "--working-dir", str(tmp_path),
                     "--address", "http://127.0.0.1:9", *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err


def test_resolve_address(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert resolve_address(None) == "http://127.0.0.1:8265"
    assert resolve_address("http://10.0.0.1:8265") == "http://10.0.0.1:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:9999")
    assert resolve_address(None) == "http://127.0.0.1:9999"
    with pytest.raises(UserError, match="dashboard URL"):
        resolve_address("127.0.0.1:6379")


class _FakeJobClient:
    submitted: typing.ClassVar[list] = []

    def __init__(self, address):
        self.address = address

    def submit_job(self, entrypoint, runtime_env, submission_id=None, metadata=None):
        self.submitted.append((self.address, entrypoint, runtime_env))
        return submission_id or "raysubmit_test"

    def get_job_status(self, job_id):
        return "PENDING"


def test_submit_to_a_local_head_keeps_a_relative_output_dir_where_a_local_run_puts_it(tmp_path, monkeypatch):
    import ray.job_submission

    from logicrl.ray.submit import submit

    monkeypatch.setattr(ray.job_submission, "JobSubmissionClient", _FakeJobClient)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("output_dir: runs/x\n")
    _FakeJobClient.submitted.clear()
    job_id, status = submit("r.yaml", ["max_steps=1"], address="http://127.0.0.1:8265", working_dir=tmp_path)
    assert (job_id, status) == ("raysubmit_test", "PENDING")
    address, entrypoint, _runtime_env = _FakeJobClient.submitted[0]
    args = shlex.split(entrypoint)
    assert address == "http://127.0.0.1:8265" and args[5] == "r.yaml"
    assert args[6:] == ["max_steps=1", f"output_dir={tmp_path / 'runs' / 'x'}"]
    # A remote cluster gets the recipe unchanged (the note on stderr says why that is risky).
    submit("r.yaml", [], address="http://10.1.2.3:8265", working_dir=tmp_path)
    assert shlex.split(_FakeJobClient.submitted[1][1])[6:] == []


def _fake_run(folder: Path, marker: bool = True) -> None:
    (folder / "checkpoint-2").mkdir(parents=True)
    (folder / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    (folder / "checkpoint-2" / "model.safetensors").write_bytes(b"w" * 1000)
    (folder / "metrics.jsonl").write_text('{"step": 1}\n')
    (folder / "config.json").write_text('{"algorithm": "grpo", "data": {}}')
    if marker:
        (folder / "logicrl_run.json").write_text("{}")


def test_submit_ships_code_not_run_outputs_wherever_they_are(tmp_path):
    import zipfile

    from logicrl.ray.submit import build_package

    wd = tmp_path / "project"
    (wd / "pkg").mkdir(parents=True)
    (wd / "pkg" / "code.py").write_text("x = 1\n")
    (wd / "data").mkdir()
    (wd / "data" / "kk.jsonl").write_text('{"quiz": "q"}\n')  # data is shipped
    (wd / "recipe.yaml").write_text(f"output_dir: {tmp_path / 'out'}\n")
    _fake_run(wd / "experiments" / "x")  # --output_dir=experiments/x
    _fake_run(wd / "demo2" / "rl")  # logicrl demo --out demo2: its RL run ...
    (wd / "demo2" / "warm_start").mkdir()  # ... and the warm-start model it wrote
    (wd / "demo2" / "warm_start" / "model.safetensors").write_bytes(b"w" * 1000)
    (wd / "demo2" / "warm_start" / "logicrl_recipe.json").write_text("{}")
    _fake_run(wd / "old_run", marker=False)  # a run from before the marker file existed
    (wd / "demo2" / "summary.json").write_text("{}")
    _, runtime_env, _ = prepare(wd / "recipe.yaml", [], working_dir=wd)
    assert {"/experiments/x/", "/demo2/rl/", "/demo2/warm_start/", "/old_run/"} <= set(runtime_env["excludes"])
    package = build_package(runtime_env, tmp_path / "wd.zip")
    names = set(zipfile.ZipFile(package).namelist())
    assert {"pkg/code.py", "data/kk.jsonl", "recipe.yaml", "demo2/summary.json"} <= names
    assert not [n for n in names if n.startswith(("experiments/", "demo2/rl", "demo2/warm_start", "old_run"))]


def test_submit_measures_the_upload_and_names_the_largest_folders(tmp_path, capsys):
    import os

    from logicrl.ray.submit import build_package

    wd = tmp_path / "project"
    (wd / "big").mkdir(parents=True)
    (wd / "big" / "blob.bin").write_bytes(os.urandom(300_000))  # incompressible
    (wd / "small.py").write_text("x = 1\n")
    (wd / "recipe.yaml").write_text(f"output_dir: {tmp_path / 'out'}\n")
    _, runtime_env, _ = prepare(wd / "recipe.yaml", [], working_dir=wd)
    with pytest.raises(UserError) as info:
        build_package(runtime_env, tmp_path / "wd.zip", max_bytes=200_000)
    message = str(info.value)
    assert "\n" not in message and "0.3 MiB" in message and "at most 0.2 MiB" in message
    assert "largest: big/ 0.3 MiB" in message
    assert build_package(runtime_env, tmp_path / "ok.zip", max_bytes=10**6).stat().st_size > 300_000
