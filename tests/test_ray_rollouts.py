"""vLLM rollout engines as Ray actors, for real on CPU (`ray.rollout_engines: 2`, `rollout_backend: vllm_lora`).

The engines need vLLM, so everything Ray-side runs in `.venv-vllm` (built by scripts/setup_vllm.sh, which
also installs Ray 2.60 there): each test starts `.venv-vllm/bin/python tests/test_ray_rollouts.py CMD`,
which starts its own Ray head on 127.0.0.1 (`LocalHead`, 2 logical CPUs: the engines reserve 0.5 CPU and
one thread each), runs the scenario, writes a JSON report and stops the head. The head's process group is
written to a file first, so the test kills it even when the subprocess itself hangs or dies.
Without .venv-vllm the tests skip, unless LOGICRL_REQUIRE_VLLM=1 (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.vllm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_vllm import ENGINE_OPTIONS, vllm_python

MAX_TOKENS = 12
ENGINES = 2


@pytest.fixture(scope="module")
def engine_env(tmp_path_factory) -> dict:
    """Environment of the .venv-vllm scenarios: offline, a private model cache, small engines (as test_vllm)."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
        LOGICRL_CACHE=str(tmp_path_factory.mktemp("logicrl-cache")), LOGICRL_VLLM_OPTIONS=json.dumps(ENGINE_OPTIONS),
        VLLM_LOGGING_LEVEL="WARNING", TRL_EXPERIMENTAL_SILENCE="1", PYTHONUNBUFFERED="1", RAY_DEDUP_LOGS="0",
    )
    env.setdefault("OMP_NUM_THREADS", "2")
    env.pop("VIRTUAL_ENV", None)
    return env


def run_scenario(command: str, tmp_path: Path, env: dict, timeout: float = 600) -> dict:
    """Run one scenario in .venv-vllm; return its report. Kills the scenario's Ray head in any case."""
    python = vllm_python()
    report, pgid_file = tmp_path / "report.json", tmp_path / "head.pgid"
    start = time.perf_counter()
    try:
        proc = subprocess.run([str(python), __file__, command, str(tmp_path), str(report)], check=False, cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        if pgid_file.exists():  # the scenario stops its head itself; this is for a hung or killed scenario
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pgid_file.read_text()), signal.SIGKILL)
    print(f"[{time.perf_counter() - start:.0f} s] {command}\n{proc.stdout[-4000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return json.loads(report.read_text())


def test_local_lora_grpo_on_two_engines_versions_greedy_parity_and_a_killed_engine(engine_env, tmp_path):
    """A local LoRA GRPO run (4 updates, one generation round per 2 updates: `steps_per_generation: 2`) on two
    engine actors. Every completion carries the version of the trainer at its round; each engine's greedy
    output equals HF generate with the trainer's adapter; the sampled tokens' vLLM logprobs equal the trainer's.
    Engine 1 is SIGKILLed in the middle of round 2: Ray restarts it, its share is generated again with the
    same adapter version, and the round returns every sample once, in TRL's order."""
    result = run_scenario("local", tmp_path, engine_env)
    rounds = result["rounds"]
    assert [r["step"] for r in rounds] == [0, 2]  # a round is reused for two updates
    for r in rounds:
        assert r["versions"] == [r["step"]], r  # each completion: the trainer's version when its round started
        assert r["completions"] == 8 and r["prompts_in_order"], r
        assert sorted(r["engines_used"]) == [0, 1], r  # two groups, one per engine
        for e in range(ENGINES):
            assert r["greedy"][e] == r["hf"], (e, r)  # each engine serves the trainer's adapter exactly
        assert r["logprob_diff_live"] < 1e-3, r
    assert rounds[1]["logprob_diff_base"] > 1e-2  # after updates the rollouts no longer match the base model
    assert rounds[0]["greedy"][0] == rounds[0]["base"]  # a fresh LoRA is the base model...
    assert rounds[1]["greedy"][0] != rounds[0]["greedy"][0]  # ...and the trained one is not
    # The killed engine: a new process, the same version, its share run once more, nothing lost or repeated.
    kill = result["kill"]
    assert kill["killed_pid"] == kill["pids_at_start"][1]
    engine1 = [run for run in rounds[1]["runs"] if run["engine"] == 1]
    assert len(engine1) == 1 and engine1[0]["restarted"] and engine1[0]["pid"] != kill["killed_pid"]
    assert engine1[0]["version"] == 2 and rounds[1]["engine_restarts"] == 1
    assert result["pids_at_end"][0] == kill["pids_at_start"][0]  # the other engine kept running
    assert result["logged_steps"] == [1, 2, 3, 4]
    assert result["adapter_bytes"] < result["full_weight_bytes"] / 5
    assert not result["killed_pid_alive"] and result["processes_at_end"] == []  # nothing of the dead engine left


def test_submitted_job_with_ray_train_workers_drives_the_engines(engine_env, tmp_path):
    """`logicrl submit` of a recipe with two Ray Train workers and two engines: the job's driver starts the
    engines, rank 0 gathers both workers' prompts, publishes the adapter and dispatches; every step logs
    the version its rollouts were generated with (the step before it)."""
    result = run_scenario("submit", tmp_path, engine_env)
    assert result["rc"] == 0 and result["status"] == "SUCCEEDED", result["tail"]
    rows = result["metrics"]
    assert [r["step"] for r in rows] == [1, 2]
    assert [r["rollout/policy_version"] for r in rows] == [0.0, 1.0]
    assert all(r["rollout/adapter_bytes"] > 0 for r in rows)
    assert all(r["rollout/completions"] == 8 for r in rows)  # rank 0 generated both workers' 4 completions
    assert result["final_adapter"]
    assert sorted(result["attempt_ranks"]) == [0, 1]


# ------------------------------------------------------------------------------------------- subprocess side
# Everything below runs in .venv-vllm, started by the tests above.


@contextlib.contextmanager
def local_head(workdir: Path, num_cpus: int = 2):
    from logicrl.ray.cluster import LocalHead, connect, loopback_only
    from logicrl.ray.settings import RaySettings

    head = LocalHead(num_cpus=num_cpus)
    try:
        head.start()
        (workdir / "head.pgid").write_text(str(head.process.pid))
        os.environ.update(head.client_env())
        loopback_only()
        connect(RaySettings(address=head.address))
        yield head
    finally:
        try:
            import ray

            ray.shutdown()
        finally:
            head.stop()


def engine_recipe(out: Path, address: str, **overrides) -> dict:
    recipe = {
        "model": "embedded", "output_dir": str(out), "rollout_backend": "vllm_lora", "seed": 0,
        "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0},
        "learning_rate": 0.05, "per_device_train_batch_size": 4, "num_generations": 4,
        "max_completion_length": 16, "temperature": 1.0, "data": {"people": [2], "count": 8},
        "save_steps": 1000, "progress_bar": False, "plot": False, "report_to": ["none"],
        "heldout": {"every_n_steps": 0},
        "ray": {"address": address, "rollout_engines": ENGINES, "rollout_engine_cpus": 0.5,
                "rollout_engine_threads": 1},
    }
    recipe.update(overrides)
    return recipe


class RoundChecker:
    """Wraps the trainer's RayEngineRollout: per round, the versions, the order, each engine's greedy output
    against HF generate on the live model, and the sampled logprobs against the live and the base model."""

    def __init__(self, rollout, prompts):
        self.rollout, self.prompts = rollout, prompts
        self.rounds = []

    def __call__(self, prompts, trainer):
        from test_vllm import hf_greedy, hf_logprobs

        from logicrl.vllm_utils import prompt_token_ids

        step = int(trainer.state.global_step)
        fleet = self.rollout.fleet
        before = len(fleet.history)
        output = self.rollout(prompts, trainer)
        runs = fleet.history[before:]
        model = trainer.accelerator.unwrap_model(trainer.model)
        live = hf_logprobs(model, output["prompt_ids"], output["completion_ids"], trainer.args.temperature)
        with model.disable_adapter():
            base = hf_logprobs(model, output["prompt_ids"], output["completion_ids"], trainer.args.temperature)
        sampled = [x for row in output["logprobs"] for x in row]
        self.rounds.append({
            "step": step, "versions": sorted(set(output["policy_version"])),
            "completions": len(output["completion_ids"]),
            "prompts_in_order": output["prompt_ids"] == prompt_token_ids(self.rollout.tokenizer, prompts),
            "runs": runs, "engines_used": [r["engine"] for r in runs],
            "engine_restarts": self.rollout.history[-1]["rollout/engine_restarts"],
            "greedy": [self.rollout.greedy_token_ids(self.prompts, MAX_TOKENS, engine=e) for e in range(ENGINES)],
            "base": self.rollout.greedy_token_ids(self.prompts, MAX_TOKENS, engine=0, lora=False),
            "hf": hf_greedy(trainer, self.rollout.tokenizer, self.prompts, MAX_TOKENS),
            "logprob_diff_live": max(abs(a - b) for a, b in zip(sampled, live, strict=True)),
            "logprob_diff_base": max(abs(a - b) for a, b in zip(sampled, base, strict=True)),
        })
        return output


def vllm_processes(head) -> list[str]:
    """vLLM's own processes (engine cores, workers: titled "VLLM::...") under the head's process group; the
    engines run vLLM in the actor's process, so a killed engine leaves none behind."""
    import psutil

    names = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == head.process.pid and "VLLM" in " ".join(proc.info["cmdline"] or [proc.info["name"]]):
                names.append(proc.info["name"])
    return sorted(names)


def kill_when_stalled(marker: Path, box: dict) -> threading.Thread:
    """SIGKILL the engine process whose pid the fault hook writes to `marker` (once)."""

    def watch():
        deadline = time.monotonic() + 500
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if marker.exists():
            time.sleep(0.5)
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGKILL)
            box["killed_pid"] = pid

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


_STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:6.1f} s] {message}", flush=True)


def scenario_local(workdir: str, report_path: str) -> None:
    import psutil

    from logicrl.config import load_config
    from logicrl.models import count_parameters
    from logicrl.ray.rollout_engines import ENGINE_FAULT_ENV
    from logicrl.training import build_trainer, run_trainer

    workdir = Path(workdir)
    marker = workdir / "engine-stalled"
    # Engine 1 stalls once in the round of version 2 (the second round); the watcher kills it there.
    os.environ[ENGINE_FAULT_ENV] = f"engine=1,version=2,marker={marker}"
    with local_head(workdir) as head:
        log("head started")
        config = engine_recipe(workdir / "run", head.address, max_steps=4,
                               rewards=[{"name": "test_vllm:letter_e_share"}], trl={"steps_per_generation": 2})
        trainer, run_dir = build_trainer(config)
        log("trainer built, engines started")
        rollout = trainer.rollout_func
        pids_at_start = rollout.fleet.pids()
        processes_at_start = vllm_processes(head)
        checker = RoundChecker(rollout, [trainer.train_dataset[i]["prompt"] for i in range(2)])
        trainer.rollout_func = checker
        box = {}
        watcher = kill_when_stalled(marker, box)
        # Keep the engines past the end of training for the last look at them (stopped below).
        rollout.callbacks[0].on_train_end = lambda *a, **k: None
        run_trainer(trainer, run_dir, load_config(config))
        log("trained")
        watcher.join(timeout=1)
        pids_at_end = rollout.fleet.pids()
        time.sleep(3)  # a dead engine's own child processes (vLLM's engine core, its workers) exit by themselves
        processes_at_end = vllm_processes(head)
        model = trainer.accelerator.unwrap_model(trainer.model)
        logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        report = {
            "rounds": checker.rounds, "kill": {"pids_at_start": pids_at_start, **box}, "pids_at_end": pids_at_end,
            "logged_steps": sorted({row["step"] for row in logged if "loss" in row}),
            "adapter_bytes": rollout.fleet.published_bytes,
            "full_weight_bytes": sum(p.numel() * p.element_size() for p in model.get_base_model().parameters()),
            "parameters": count_parameters(model),
            "processes_at_start": processes_at_start, "processes_at_end": processes_at_end,
            "killed_pid_alive": bool(box.get("killed_pid")) and psutil.pid_exists(box["killed_pid"]),
        }
        rollout.fleet.shutdown()
    Path(report_path).write_text(json.dumps(report))


def scenario_submit(workdir: str, report_path: str) -> None:
    import io

    import yaml

    from logicrl.cli import main

    workdir = Path(workdir)
    job_dir, out = workdir / "job", workdir / "out"
    job_dir.mkdir()
    with local_head(workdir) as head:
        log("head started")
        recipe = engine_recipe(out, "auto", max_steps=2, rewards=[{"name": "kk", "preset": "logic_rl"}])
        recipe["ray"].update(num_workers=2, cpus_per_worker=0.5)
        (job_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        buffer = io.StringIO()
        sys.stdout, saved = buffer, sys.stdout
        try:
            rc = main(["submit", "--config", str(job_dir / "recipe.yaml"), "--working-dir", str(job_dir),
                       "--address", head.dashboard_url, "--wait", "--timeout", "480"])
        finally:
            sys.stdout = saved
        printed = buffer.getvalue()
        print(printed[-3000:])
        log("job ended")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line] \
        if (out / "metrics.jsonl").is_file() else []
    attempts = [json.loads(line) for line in (out / "ray_attempts.jsonl").read_text().splitlines() if line] \
        if (out / "ray_attempts.jsonl").is_file() else []
    report = {
        "rc": rc, "status": printed.strip().splitlines()[-1].rsplit(" ", 1)[-1] if printed.strip() else "",
        "tail": printed[-3000:], "metrics": [r for r in rows if "loss" in r],
        "final_adapter": (out / "final" / "adapter_config.json").is_file(),
        "attempt_ranks": [a["rank"] for a in attempts],
    }
    Path(report_path).write_text(json.dumps(report))


if __name__ == "__main__":  # vLLM and Ray start worker processes: keep the work behind this guard
    command, *rest = sys.argv[1:]
    {"local": scenario_local, "submit": scenario_submit}[command](*rest)
