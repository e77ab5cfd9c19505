"""Training runs that are killed, stopped, finished and restarted (issue 15), on CPU with the embedded model:
SIGKILL at seeded points (mid-step, mid-checkpoint-save, while writing final/) then --resume gives the
uninterrupted run's weights with every step logged once; SIGTERM saves and stops; a finished run stays
finished; file modes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_train_utils import read_metrics, small_recipe

from logicrl.cli import main
from logicrl.training import rundir

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CHAOS = TESTS / "chaos_train.py"
KILLED = -signal.SIGKILL


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]), "OMP_NUM_THREADS": "1", **extra}


def _launch(recipe: Path, run: Path, point: str = "none", step: int = 0, extra=()) -> subprocess.CompletedProcess:
    """One `logicrl train` process, killed by itself at `point`; --resume / --overwrite as a user would."""
    if rundir.newest_complete_checkpoint(run, quiet=True) is not None:
        how = ["--resume"]
    elif rundir.run_files(run):
        how = ["--overwrite"]  # killed before its first checkpoint: nothing to resume
    else:
        how = []
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(CHAOS), point, str(step), "--", "--config", str(recipe), *how, *extra],
                          capture_output=True, text=True, timeout=600, env=_env(), check=False)
    print(f"[{time.monotonic() - t0:.1f} s] {point}@{step} {' '.join(how)} -> {proc.returncode}")
    return proc


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def _assert_clean(run: Path) -> None:
    """No lock held, no temp files or half-written final/ visible."""
    lock = rundir.RunLock(run).acquire()
    lock.release()
    leftovers = [p.name for p in run.iterdir() if p.name.endswith(".tmp") and not p.name.startswith(".final")]
    assert leftovers == []


def test_sigkill_at_seeded_points_then_resume_equals_the_uninterrupted_run(tmp_path):
    import torch

    from logicrl.models import embedded_model_path, load_model_and_tokenizer
    from logicrl.training import train

    common = {"max_steps": 4, "save_steps": 1, "save_total_limit": 2}
    reference = train(small_recipe(tmp_path / "reference", **common))
    run = tmp_path / "chaos"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(run, **common)))

    rng = random.Random(15)  # the seed fixes the kill steps; every kind of point is killed at once
    for point in ("mid_step", "after_log", "mid_save", "before_commit", "in_final"):
        done = rundir.newest_complete_checkpoint(run, quiet=True)
        step = rng.randint(rundir.checkpoint_step(done) + 1 if done else 1, 4)  # a step this launch reaches
        proc = _launch(recipe, run, point, step)
        assert proc.returncode == KILLED, f"{point}@{step} after {done}: rc {proc.returncode}\n{proc.stderr[-3000:]}"
        _assert_clean(run)
        if point in ("mid_save", "before_commit"):
            partial = run / f"checkpoint-{step}"
            assert partial.is_dir() and not rundir.is_complete_checkpoint(partial)
            assert rundir.newest_complete_checkpoint(run, quiet=True) == run / f"checkpoint-{step - 1}"
        if point == "in_final":
            assert not (run / "final").exists() and rundir.is_complete_checkpoint(run / "checkpoint-4")
    proc = _launch(recipe, run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipping incomplete" not in proc.stderr

    rows = read_metrics(run)
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == [1, 2, 3, 4]  # each step logged once, whatever was killed where
    times = [r["time"] for r in rows if "loss" in r]
    assert times == sorted(times) and len(set(times)) == 4  # `time` continues across resumes
    assert rundir.newest_complete_checkpoint(run, quiet=True) == run / "checkpoint-4"
    assert not any(p.name.startswith(".final") for p in run.iterdir())
    final, expected = _weights(run / "final"), _weights(Path(reference.model_dir))
    assert final.keys() == expected.keys()
    assert all(torch.equal(final[k], expected[k]) for k in final), "resumed weights differ from the uninterrupted run"
    initial = dict(load_model_and_tokenizer(str(embedded_model_path()))[0].named_parameters())
    assert any(not torch.equal(final[k], initial[k].detach()) for k in final if k in initial)  # it did train
    load_model_and_tokenizer(str(run / "final"))  # loadable as a model


def _snapshot(run: Path) -> dict:
    return {str(p.relative_to(run)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(run.rglob("*"))}


def test_finished_run_is_left_alone_refused_without_resume_and_continued_with_more_steps(tmp_path, capsys):
    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(run, max_steps=2, save_steps=1)))
    assert main(["train", "--config", str(recipe)]) == 0
    capsys.readouterr()
    # Model files get the run's usual mode (safetensors writes 0600 through a temp file).
    modes = {str(p.relative_to(run)): p.stat().st_mode & 0o777 for p in run.rglob("*") if p.is_file()}
    assert modes["final/model.safetensors"] == modes["config.json"] == modes["checkpoint-2/model.safetensors"]
    assert set(modes.values()) == {0o666 & ~_umask()}
    before = _snapshot(run)

    assert main(["train", "--config", str(recipe), "--resume"]) == 0  # complete: says so, changes nothing
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith(f"logicrl: run {run} is complete: step 2 of max_steps 2")
    assert _snapshot(run) == before

    assert main(["train", "--config", str(recipe)]) == 2  # a fresh run into it is refused
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume" in err and "--overwrite" in err
    assert _snapshot(run) == before

    assert main(["train", "--config", str(recipe), "--resume", "--max_steps=3"]) == 0  # more steps continue
    capsys.readouterr()
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [1, 2, 3]
    assert json.loads((run / "checkpoint-3" / "trainer_state.json").read_text())["global_step"] == 3
    assert _snapshot(run)["final/model.safetensors"] != before["final/model.safetensors"]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _wait_for_step(run: Path, proc: subprocess.Popen, step: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        path = run / "metrics.jsonl"
        if path.is_file() and any(r.get("step", 0) >= step and "loss" in r for r in read_metrics(run)):
            return
        time.sleep(0.2)
    raise AssertionError(f"step {step} not logged in {timeout} s")


def test_sigterm_saves_at_the_end_of_the_step_or_stops_within_the_grace_time(tmp_path):
    run = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(run, max_steps=50, save_steps=100)))
    proc = subprocess.Popen([sys.executable, "-m", "logicrl", "train", "--config", str(recipe)],
                            stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait_for_step(run, proc, 1)
        proc.send_signal(signal.SIGTERM)  # a scheduler's preemption
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("logicrl: stopped by SIGTERM after step") and "--resume" in last
    step = int(last.split("after step ")[1].split()[0])
    assert rundir.newest_complete_checkpoint(run, quiet=True) == run / f"checkpoint-{step}"
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == list(range(1, step + 1))
    assert not (run / "final").exists()
    _assert_clean(run)

    # A step that does not end within LOGICRL_STOP_GRACE_S is interrupted; the checkpoint stays as it was.
    proc = subprocess.Popen([sys.executable, str(CHAOS), "slow_step", str(step + 1), "--", "--config", str(recipe),
                             "--resume"], stderr=subprocess.PIPE, text=True, env=_env(LOGICRL_STOP_GRACE_S="1"))
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "slow_step").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and took < 30, (took, err[-3000:])
    assert "terminated by SIGTERM before the step" in err.strip().splitlines()[-1]
    assert rundir.newest_complete_checkpoint(run, quiet=True) == run / f"checkpoint-{step}"
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == list(range(1, step + 1))
    _assert_clean(run)
