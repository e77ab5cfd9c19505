"""Ray orchestration on a real local Ray head (127.0.0.1 only): job submission, Ray Train workers (DDP over
gloo, DeepSpeed ZeRO-2/3), fault tolerance of training workers and reward actors, parallel puzzles.

One head serves the module; it is stopped (its process group killed) even when a test fails.
"""

import importlib.util
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from logicrl.ray.cluster import LocalHead, connect, loopback_only
from logicrl.ray.settings import RaySettings

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def head():
    saved = dict(os.environ)
    # The head and every Ray process it starts inherit this environment (Ray workers too).
    os.environ.update({"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false",
                       "RAY_DEDUP_LOGS": "0"})
    cluster = LocalHead(num_cpus=2)
    try:
        cluster.start()
        os.environ.update(cluster.client_env())
        loopback_only()
        connect(RaySettings(address=cluster.address))
        yield cluster
    finally:
        try:
            import ray

            ray.shutdown()
        finally:
            cluster.stop()
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(autouse=True)
def time_limit():
    """Fail a test that hangs (e.g. Ray waiting for resources) after 5 minutes instead of blocking CI."""

    def expired(signum, frame):
        raise TimeoutError("test exceeded 300 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(300)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def recipe(out: Path, **overrides) -> dict:
    """Two quick GRPO steps of the embedded model."""
    base = {
        "model": "embedded", "output_dir": str(out), "max_steps": 2, "save_steps": 1,
        "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 12,
        "learning_rate": 5e-3, "progress_bar": False, "plot": False,
        "data": {"people": [3], "count": 8, "prompt_style": "compact"},
        "rewards": [{"name": "kk", "preset": "logic_rl"}],
    }
    for key, value in overrides.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def metrics_steps(run_dir: Path) -> list[int]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [rec["step"] for rec in lines if "loss" in rec]


def attempts(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "ray_attempts.jsonl").read_text().splitlines()]


def test_head_listens_on_loopback_only(head):
    import psutil

    group = [p for p in psutil.process_iter() if _pgid(p.pid) == head.process.pid]
    assert len(group) >= 3  # gcs, raylet, dashboard, ...
    listening = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in {p.pid for p in group}:
            listening.append(conn.laddr.ip)
    assert listening, "no listening socket found for the head's processes"
    assert set(listening) <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def other_python_on_path(tmp_path: Path) -> str:
    """A PATH whose `python` and `logicrl` are another installation's (no ray, no logicrl), as on a cluster
    whose nodes have their own Python first on PATH."""
    fake = tmp_path / "other-python-bin"
    fake.mkdir()
    for name in ("python", "python3", "logicrl"):
        script = fake / name
        script.write_text(f"#!/bin/sh\necho \"{name}: No module named 'ray'\" >&2\nexit 1\n")
        script.chmod(0o755)
    return f"{fake}:/usr/bin:/bin"


def test_submit_job_trains_and_writes_checkpoint_and_metrics(head, tmp_path, capsys):
    import yaml

    from logicrl.cli import main

    job_dir, out = tmp_path / "job", tmp_path / "out"
    job_dir.mkdir()
    # `logicrl submit` runs the job with this interpreter by its absolute path: another Python first on
    # the cluster's PATH does not matter.
    hostile = {"runtime_env": {"env_vars": {"PATH": other_python_on_path(tmp_path)}}}
    (job_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe(out, save_steps=2, ray=hostile)))
    rc = main(["submit", "--config", str(job_dir / "recipe.yaml"), "--working-dir", str(job_dir),
               "--address", head.dashboard_url, "--wait", "--timeout", "240", "max_steps=2"])
    printed = capsys.readouterr().out
    assert rc == 0, printed[-3000:]
    assert printed.strip().splitlines()[-1].endswith("SUCCEEDED")
    assert "final model:" in printed  # the job's own output, streamed back by --wait
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()
    assert (out / "final" / "config.json").is_file()
    assert metrics_steps(out) == [1, 2]


def test_plain_ray_job_submit_runs_logicrl_train(head, tmp_path):
    """docs/ray.md's form, `ray job submit --working-dir DIR -- /abs/.venv/bin/python -m logicrl train --config
    recipe.yaml` (Ray's own CLI), on a cluster whose PATH has another Python: the venv's interpreter by its
    absolute path works where a bare `python -m logicrl` (the form docs/ray.md used to show) does not."""
    import subprocess
    import sys

    import yaml

    job_dir, out = tmp_path / "job", tmp_path / "out"
    job_dir.mkdir()
    (job_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe(out, max_steps=1)))
    ray_cli = str(Path(sys.executable).with_name("ray"))
    hostile = json.dumps({"env_vars": {"PATH": other_python_on_path(tmp_path)}})

    def ray_job_submit(*entrypoint):
        return subprocess.run([ray_cli, "job", "submit", "--address", head.dashboard_url, "--working-dir",
                               str(job_dir), "--runtime-env-json", hostile, "--", *entrypoint],
                              capture_output=True, text=True, timeout=240, check=False)

    bare = ray_job_submit("python", "-m", "logicrl", "train", "--config", "recipe.yaml")
    assert bare.returncode != 0 and "No module named 'ray'" in bare.stdout + bare.stderr
    proc = ray_job_submit(sys.executable, "-m", "logicrl", "train", "--config", "recipe.yaml")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "succeeded" in proc.stdout.lower()
    assert metrics_steps(out) == [1] and (out / "final" / "config.json").is_file()


def test_ray_train_two_workers_gloo(head, tmp_path, capfd):
    from logicrl.training import train
    from logicrl.training.rundir import LOCK_FILE, RunLock

    out = tmp_path / "run"
    result = train(recipe(out, ray={"num_workers": 2, "address": head.address}))
    assert result.global_step == 2
    RunLock(out).acquire().release()  # the driver held the lock (the workers share the folder) and let it go
    assert not (out / LOCK_FILE).exists()
    # The workers' output reaches the driver once per line, without the bytecode dump that Ray Train's
    # print patch made of dill's `dis` capture when `datasets` fingerprints the prompts.
    logs = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and logs.count("[logicrl.ray] worker rank=") < 2:
        time.sleep(0.5)
        captured = capfd.readouterr()
        logs += captured.out + captured.err
    assert logs.count("[logicrl.ray] worker rank=0/2 start") == 1, logs[-3000:]
    assert logs.count("[logicrl.ray] worker rank=1/2 start") == 1, logs[-3000:]
    assert "LOAD_GLOBAL" not in logs and "RETURN_VALUE" not in logs
    assert metrics_steps(out) == [1, 2]  # rank 0 writes metrics, once per step
    starts = attempts(out)
    assert sorted(a["rank"] for a in starts) == [0, 1] and {a["world_size"] for a in starts} == {2}
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert list((out / "ray").rglob("checkpoint_*/checkpoint/trainer_state.json"))  # reported to Ray Train
    assert (out / "final" / "model.safetensors").is_file()


def test_failed_training_worker_resumes_from_last_checkpoint(head, tmp_path, monkeypatch):
    from logicrl.ray.train_ray import FAULT_ENV
    from logicrl.training import train

    out, marker = tmp_path / "run", tmp_path / "fault-happened"
    monkeypatch.setenv(FAULT_ENV, f"rank=1,step=1,marker={marker}")
    result = train(recipe(out, ray={"num_workers": 2, "address": head.address, "max_failures": 1}))
    assert marker.read_text().startswith("rank 1 failed at step 2")
    assert result.global_step == 2
    starts = attempts(out)
    assert len(starts) == 4  # two workers, started twice
    first, second = starts[:2], starts[2:]
    assert all(a["resumed_from"] is None for a in first)
    assert all(a["resumed_step"] == 1 for a in second)  # the restarted group continued from step 1
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_zero_one_step_on_cpu(head, tmp_path, stage):
    import shutil

    pytest.importorskip("deepspeed")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("DeepSpeed on CPU JIT-compiles its shared-memory collectives op: needs a C++ compiler")
    from logicrl.training import train

    out = tmp_path / f"zero{stage}"
    ds = REPO / "examples" / f"deepspeed_zero{stage}.json"
    result = train(recipe(out, max_steps=1, trl={"deepspeed": str(ds)},
                          ray={"num_workers": 2, "address": head.address}))
    assert result.global_step == 1
    ckpt = out / "checkpoint-1"
    assert (ckpt / "global_step1").is_dir()  # a DeepSpeed (ZeRO-sharded) checkpoint
    assert json.loads((ckpt / "trainer_state.json").read_text())["global_step"] == 1
    assert (out / "final" / "model.safetensors").stat().st_size > 1_000_000  # full weights gathered


def test_killed_reward_actor_is_restarted_and_its_chunk_retried(head, tmp_path):
    import ray

    from logicrl.ray.reward_pool import wrap_rewards

    calls = tmp_path / "calls"
    calls.mkdir()

    def length_reward(prompts, completions, answer, **kwargs):
        # Records each call (chunk size and pid); the first call on the chunk holding "c0" stalls so the
        # test can kill that actor mid-batch.
        (calls / f"{os.getpid()}-{time.time_ns()}").write_text(str(len(completions)))
        if "c0" in completions and not (calls / "stalled").exists():
            (calls / "stalled").write_text(str(os.getpid()))
            time.sleep(120)
        return [float(len(c)) + (1.0 if a == "yes" else 0.0) for c, a in zip(completions, answer)]

    settings = RaySettings(reward_actors=2, reward_actor_cpus=0.5, reward_max_restarts=2)
    (remote,) = wrap_rewards([length_reward], settings)
    assert remote.__name__ == "length_reward"
    completions = [f"c{i}" + "x" * i for i in range(10)]
    answers = ["yes" if i % 3 == 0 else "no" for i in range(10)]
    expected = [float(len(c)) + (1.0 if a == "yes" else 0.0) for c, a in zip(completions, answers)]

    box = {}
    worker = threading.Thread(target=lambda: box.update(
        scores=remote(prompts=["p"] * 10, completions=completions, answer=answers)))
    worker.start()
    deadline = time.monotonic() + 60
    while not (calls / "stalled").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    victim = int((calls / "stalled").read_text())
    os.kill(victim, signal.SIGKILL)  # the actor's process dies mid-chunk
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert box["scores"] == expected  # every sample scored once, in order
    pids = ray.get([a.pid.remote() for a in remote.pool.actors])
    assert victim not in pids  # the actor was restarted in a new process
    sizes = sorted(int(p.read_text()) for p in calls.iterdir() if p.name != "stalled")
    assert sizes == [5, 5, 5]  # one chunk per actor, plus one retry of the killed chunk
    assert remote(prompts=["p"] * 3, completions=completions[:3], answer=answers[:3]) == expected[:3]
    remote.pool.shutdown()


def test_training_scores_rewards_on_actor_pool(head, tmp_path):
    from ray.util.state import list_actors

    from logicrl.training import train

    def reward_actor_ids():
        return {a.actor_id for a in list_actors(filters=[("class_name", "=", "_RewardActor")], limit=1000)}

    before = reward_actor_ids()
    out = tmp_path / "run"
    result = train(recipe(out, max_steps=1, ray={"reward_actors": 2, "reward_actor_cpus": 0.25,
                                                 "address": head.address}))
    assert result.global_step == 1 and metrics_steps(out) == [1]
    assert len(reward_actor_ids() - before) == 2  # the trainer's pool scored the rewards


def test_parallel_puzzles_are_deterministic_and_match_the_chunked_generator(head):
    from logicrl.ray.puzzles_parallel import chunk_seed, generate_kk_parallel
    from puzzles import generate_kk

    first = generate_kk_parallel(3, 45, seed=5, chunk_size=16, num_cpus_per_task=0.5)
    again = generate_kk_parallel(3, 45, seed=5, chunk_size=16, num_cpus_per_task=0.5)
    assert first == again
    assert [p.index for p in first] == list(range(45))
    assert len({p.statements for p in first}) == 45
    reference = []
    for chunk in range(3):
        for p in generate_kk(3, 16, seed=chunk_seed(5, chunk)):
            if p.statements not in {q.statements for q in reference} and len(reference) < 45:
                reference.append(p)
    assert [p.quiz for p in first] == [p.quiz for p in reference]
    assert all(len(p.solution) == 3 for p in first)


def test_rollout_engine_that_cannot_start_is_a_one_line_error(head, tmp_path, capsys):
    """`ray.rollout_engines` in an environment without vLLM (this one: the engines' actors run this Python):
    `logicrl train` stops at start-up with one line naming the field and exit code 2, and no engine is left."""
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here: the engines would start")
    import yaml
    from ray.util.state import list_actors

    from logicrl.cli import main

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_with_engines(tmp_path / "run", head.address)))
    assert main(["train", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line.lower()]  # (the model's load bar is also there)
    assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1], err[-2000:]
    assert errors[0].startswith("logicrl: error: config field ray.rollout_engines: engine 0 cannot start: vLLM is "
                                "not installed"), errors
    alive = list_actors(filters=[("class_name", "=", "RolloutEngine"), ("state", "=", "ALIVE")], limit=100)
    assert alive == []


def test_rollout_engines_that_cannot_be_placed_are_a_one_line_error(head, tmp_path):
    from logicrl.config import load_config
    from logicrl.errors import UserError
    from logicrl.ray.rollout_dispatch import start_engines

    config = load_config(recipe_with_engines(tmp_path / "run", head.address, rollout_engine_cpus=64))
    with pytest.raises(UserError, match="ray.rollout_engines: 1 engines of .* cannot be placed") as info:
        start_engines(config)
    assert "\n" not in str(info.value)


def recipe_with_engines(out: Path, address: str, **ray_overrides) -> dict:
    return recipe(out, max_steps=1, rollout_backend="vllm_lora", lora={"enabled": True, "r": 8},
                  ray={"address": address, "rollout_engines": 1, "rollout_engine_cpus": 0.5,
                       "rollout_start_timeout": 120, **ray_overrides})
