"""Resuming: a killed run and a truncated last line lose no sample and duplicate none."""

from __future__ import annotations

import json

import pytest
from test_eval_doubles import CountingBackend, read_jsonl, write_jsonl

from logicrl.errors import UserError
from logicrl.eval.runner import EvalConfig, run_eval


def config(tmp_path, **changes):
    data = tmp_path / "toy.jsonl"
    if not data.exists():
        write_jsonl(data, [{"id": f"p{i}", "problem": f"Problem {i}", "answer": i} for i in range(10)])
    base = {"model": "m", "benchmark": str(data), "samples": 3, "batch_size": 2, "out": str(tmp_path / "out"),
            "progress": False}
    return EvalConfig(**{**base, **changes})


def keys(records):
    return [(r["problem_id"], r["sample"]) for r in records]


def test_kill_truncated_line_and_rerun(tmp_path):
    samples = tmp_path / "out" / "samples.jsonl"
    killed = CountingBackend(fail_after_calls=2)
    with pytest.raises(KeyboardInterrupt):
        run_eval(config(tmp_path), backend=killed)
    before = read_jsonl(samples)
    assert len(before) == 2 * 2 * 3  # two finished batches of two problems, three samples each
    assert not (tmp_path / "out" / "summary.json").exists()

    # A kill in the middle of a write leaves half a line behind.
    with open(samples, "a", encoding="utf-8") as f:
        f.write(json.dumps({"problem_id": "p9", "sample": 0, "completion": "x"})[:25])

    rerun = CountingBackend()
    summary = run_eval(config(tmp_path), backend=rerun)
    after = read_jsonl(samples)
    assert rerun.requested == 30 - 12  # only what was missing
    assert sorted(keys(after)) == sorted((f"p{i}", s) for i in range(10) for s in range(3))
    assert len(set(keys(after))) == len(after)  # no duplicates
    assert after[:12] == before  # finished samples kept as they were
    assert summary["total_samples"] == 30 and summary["generated_now"] == 18

    # A third run has nothing to do and does not need a backend at all.
    again = run_eval(config(tmp_path), backend=None)
    assert again["generated_now"] == 0 and again["pass@1"] == summary["pass@1"]
    assert read_jsonl(samples) == after


def test_more_samples_extend_the_run(tmp_path):
    run_eval(config(tmp_path, samples=2, limit=4), backend=CountingBackend())
    backend = CountingBackend()
    summary = run_eval(config(tmp_path, samples=3, limit=6), backend=backend)
    assert backend.requested == 4 * 1 + 2 * 3
    records = read_jsonl(tmp_path / "out" / "samples.jsonl")
    assert len(records) == 18 == len(set(keys(records)))
    assert summary["problems"] == 6 and summary["samples_per_problem"] == 3


def test_rerun_with_other_settings_is_refused(tmp_path):
    run_eval(config(tmp_path, limit=2), backend=CountingBackend())
    with pytest.raises(UserError, match="temperature"):
        run_eval(config(tmp_path, limit=2, temperature=1.0), backend=CountingBackend())
    with pytest.raises(UserError, match="model"):
        run_eval(config(tmp_path, limit=2, model="other"), backend=CountingBackend())


def test_rerun_after_the_weights_changed_is_refused(tmp_path):
    """The same command after retraining into the same folder (`logicrl train --overwrite`, then `logicrl eval
    --model runs/x/final` again) used to resume: the old weights' samples were reported as the new model's."""
    import os

    model = tmp_path / "run" / "final"
    model.mkdir(parents=True)
    weights = model / "model.safetensors"
    weights.write_bytes(b"old weights")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"adapter v1")
    run_eval(config(tmp_path, limit=2, model=str(model), adapter=str(adapter)), backend=CountingBackend())
    # The same weights resume (nothing left to generate)...
    again = run_eval(config(tmp_path, limit=2, model=str(model), adapter=str(adapter)), backend=None)
    assert again["generated_now"] == 0
    # ...other weights under the same path, of the model or of the adapter, do not.
    first = weights.stat()
    weights.write_bytes(b"new weights!")
    with pytest.raises(UserError, match="weights"):
        run_eval(config(tmp_path, limit=2, model=str(model), adapter=str(adapter)), backend=CountingBackend())
    weights.write_bytes(b"old weights")
    os.utime(weights, ns=(first.st_atime_ns, first.st_mtime_ns))  # the model as it was: only the adapter differs
    (adapter / "adapter_model.safetensors").write_bytes(b"adapter v2")
    with pytest.raises(UserError, match="weights"):
        run_eval(config(tmp_path, limit=2, model=str(model), adapter=str(adapter)), backend=CountingBackend())


def test_corrupt_middle_line_is_refused(tmp_path):
    run_eval(config(tmp_path, limit=2), backend=CountingBackend())
    samples = tmp_path / "out" / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text(lines[0] + "garbage\n" + "".join(lines[1:]))
    with pytest.raises(UserError, match="not a sample record"):
        run_eval(config(tmp_path, limit=2), backend=CountingBackend())


def test_hostile_completions_are_logged_and_graded(tmp_path):
    class HostileBackend:
        """A test double returning junk: a lone surrogate, control characters, a huge unclosed box."""

        def generate(self, prompts, n, temperature, top_p, max_tokens, seed):
            junk = ["\ud800 \x00\x1b[2J \\boxed{", "\\boxed{" * 5000, "<answer>" * 3000 + "7"]
            return [[junk[i % 3] for i in range(n)] for _ in prompts]

    summary = run_eval(config(tmp_path, limit=2, samples=3), backend=HostileBackend())
    assert summary["total_samples"] == 6 and summary["pass@1"]["mean"] == 0.0
    assert len(read_jsonl(tmp_path / "out" / "samples.jsonl")) == 6


@pytest.mark.slow
def test_real_kill_then_rerun_with_the_embedded_model(tmp_path):
    """SIGKILL a real `logicrl eval` process mid-run, rerun it, and check every sample exactly once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "logicrl", "eval", "--model", "embedded", "--benchmark", "kk:3",
            "--kk-count", "12", "--samples", "2", "--max-tokens", "24", "--batch-size", "1",
            "--out", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if samples.exists() and samples.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {log.read_text()[-1500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_jsonl(samples) if samples.read_bytes().endswith(b"\n") else None
    partial_count = samples.read_bytes().count(b"\n")
    assert 4 <= partial_count < 24

    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = read_jsonl(samples)
    assert sorted(keys(after)) == sorted((f"kk3-{i}", s) for i in range(12) for s in range(2))
    if before is not None:
        assert after[: len(before)] == before
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_samples"] == 24 and summary["generated_now"] == 24 - partial_count


def test_default_out_names_the_run_of_a_final_model(tmp_path, monkeypatch):
    """Every run's model is `<run>/final`: the default --out was eval_out/final/<benchmark> for all of them, so
    evaluating a second run stopped with "holds a run with model=...". The run's name is part of it now."""
    from logicrl.eval.runner import default_out_dir

    monkeypatch.chdir(tmp_path)
    for folder in ("runs/a/final", "runs/b/final", "runs/demo/rl/final", "runs/a/checkpoint-20", "models/qwen"):
        (tmp_path / folder).mkdir(parents=True)
    outs = {m: default_out_dir(EvalConfig(model=m, benchmark="kk:3")).as_posix()
            for m in ("runs/a/final", "runs/b/final", "runs/demo/rl/final", "runs/a/checkpoint-20", "models/qwen",
                      "Qwen/Qwen2.5-7B-Instruct")}
    assert outs == {"runs/a/final": "eval_out/a--final/kk_3", "runs/b/final": "eval_out/b--final/kk_3",
                    "runs/demo/rl/final": "eval_out/demo--rl--final/kk_3",
                    "runs/a/checkpoint-20": "eval_out/a--checkpoint-20/kk_3", "models/qwen": "eval_out/qwen/kk_3",
                    "Qwen/Qwen2.5-7B-Instruct": "eval_out/Qwen--Qwen2.5-7B-Instruct/kk_3"}
