"""What the Ray rollout engines cost per RL step on CPU: bytes moved, adapter sync time, rollout tokens/s.

Run in .venv-vllm (vLLM's CPU build and Ray):

    .venv-vllm/bin/python benchmarks/bench_ray_rollouts.py [--json out.json]

Starts a private Ray head on 127.0.0.1 (2 logical CPUs per physical core here), then for each layout
(1 engine with 2 threads; 2 engines with 1 thread each) starts the engines on the embedded model, and per
version publishes a LoRA adapter (rank 16 on every projection, random weights, new values each version) and
generates one GRPO round (8 prompts x 4 samples x 64 tokens) with it:

- bytes: the adapter payload each engine receives per version, against the full weights TRL's vLLM sync
  would move for the same model (its float32 state dict), and the same two figures for Phi-4-Mini's shapes
  (LoRA r=16 on qkv/o/gate_up/down, computed from the shapes, bfloat16);
- sync seconds: publishing (safetensors + ray.put) and, on the engines, fetching and writing the adapter,
  plus the extra time of the first round with a new adapter over a second round with the same one;
- rollout tokens/s of a round, median of the versions after the first (which includes vLLM's warm-up).
Timings on a shared 2-core machine are noisy: compare the layouts within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS, SAMPLES, TOKENS, VERSIONS, RANK = 8, 4, 64, 4, 16


def phi4_mini_bytes(rank: int = RANK) -> dict:
    """Adapter and full-weight bytes of Phi-4-Mini (bfloat16), from its shapes."""
    hidden, mlp, layers, heads, kv, vocab = 3072, 8192, 32, 24, 8, 200_064
    head = hidden // heads
    linear = {"qkv_proj": (hidden, (heads + 2 * kv) * head), "o_proj": (hidden, hidden),
              "gate_up_proj": (hidden, 2 * mlp), "down_proj": (mlp, hidden)}
    lora = layers * sum(rank * (i + o) for i, o in linear.values())
    full = layers * (sum(i * o for i, o in linear.values()) + 2 * hidden) + vocab * hidden + hidden
    return {"adapter_bytes": 2 * lora, "full_bytes": 2 * full, "adapter_parameters": lora, "parameters": full}


def random_adapter(model, seed: int):
    """A peft model of `model` with a random (non-zero) rank-16 adapter on every projection."""
    import torch
    from peft import LoraConfig, get_peft_model

    from logicrl.models import default_lora_targets

    torch.manual_seed(seed)
    config = LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules=default_lora_targets(model),
                        init_lora_weights=False)
    return get_peft_model(model, config)


def bench_layout(engines: int, threads: int, model_path: str, base) -> dict:
    import torch

    from logicrl.models import load_tokenizer
    from logicrl.ray.rollout_engines import EngineFleet, adapter_payload
    from logicrl.ray.settings import RaySettings

    settings = RaySettings(rollout_engines=engines, rollout_engine_cpus=2 / engines, rollout_engine_threads=threads)
    start = time.perf_counter()
    fleet = EngineFleet.start(settings, model_path, {"enable_lora": True, "max_loras": 1, "max_lora_rank": RANK,
                                                     "seed": 0, "logprobs_mode": "processed_logprobs"})
    startup = time.perf_counter() - start
    tokenizer = load_tokenizer(model_path)
    prompts = [tokenizer(f"Puzzle {i}: who is a knight and who is a knave?")["input_ids"] for i in range(PROMPTS)]
    peft_model = random_adapter(base, seed=0)
    rows = []
    try:
        for version in range(VERSIONS):
            with torch.no_grad():  # new adapter values each version, as after an optimizer step
                for name, param in peft_model.named_parameters():
                    if "lora_" in name:
                        param.add_(torch.randn_like(param) * 0.01)
            start = time.perf_counter()
            size = fleet.publish(adapter_payload(peft_model), version)
            publish = time.perf_counter() - start
            requests = [{"prompt_ids": p, "adapter": "default",
                         "params": {"n": SAMPLES, "seed": i, "temperature": 1.0, "max_tokens": TOKENS,
                                    "ignore_eos": True, "logprobs": 0}} for i, p in enumerate(prompts)]
            timings = []
            for _ in range(2):  # first round: with the adapter load; second: the same adapter, loaded
                before = len(fleet.history)
                start = time.perf_counter()
                results = fleet.generate(requests)
                timings.append(time.perf_counter() - start)
                runs = fleet.history[before:]
                if len(timings) == 1:
                    load = max(r["load_seconds"] for r in runs)
            tokens = sum(len(c) for r in results for c in r["completion_ids"])
            rows.append({"version": version, "adapter_bytes": size, "publish_seconds": publish,
                         "engine_load_seconds": load, "first_round_seconds": timings[0],
                         "round_seconds": timings[1], "tokens": tokens, "tokens_per_second": tokens / timings[1],
                         "engines_used": sorted({r["engine"] for r in runs})})
            print(f"  {engines} engine(s) x {threads} thread(s), version {version}: publish {publish * 1e3:.1f} ms, "
                  f"engine load {load * 1e3:.1f} ms, round {timings[0]:.2f} s (new adapter) / {timings[1]:.2f} s "
                  f"(same), {tokens / timings[1]:.0f} tok/s", flush=True)
    finally:
        fleet.shutdown()
    later = rows[1:]
    return {
        "engines": engines, "threads_per_engine": threads, "startup_seconds": startup,
        "adapter_bytes": rows[0]["adapter_bytes"],
        "publish_ms_median": 1e3 * statistics.median(r["publish_seconds"] for r in later),
        "engine_load_ms_median": 1e3 * statistics.median(r["engine_load_seconds"] for r in later),
        "new_adapter_extra_ms_median": 1e3 * statistics.median(r["first_round_seconds"] - r["round_seconds"]
                                                              for r in later),
        "tokens_per_second_median": statistics.median(r["tokens_per_second"] for r in later),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--layouts", default="1x2,2x1", help="engines x threads, comma-separated (default 1x2,2x1)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LOGICRL_VLLM_OPTIONS", json.dumps({"kv_cache_memory_bytes": 256 * 2**20,
                                                              "max_model_len": 512}))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    from logicrl.models import load_model_and_tokenizer, resolve_model_path
    from logicrl.ray.cluster import LocalHead, connect, loopback_only
    from logicrl.ray.settings import RaySettings

    model_path = resolve_model_path("embedded")
    base, _ = load_model_and_tokenizer(model_path)
    full_bytes = sum(t.numel() * t.element_size() for t in base.state_dict().values())
    report = {"model": "embedded", "parameters": sum(p.numel() for p in base.parameters()),
              "full_weight_bytes": full_bytes, "phi4_mini": phi4_mini_bytes(), "layouts": [],
              "round": {"prompts": PROMPTS, "samples": SAMPLES, "tokens": TOKENS}}
    with LocalHead(num_cpus=4) as head:
        os.environ.update(head.client_env())
        loopback_only()
        connect(RaySettings(address=head.address))
        for layout in args.layouts.split(","):
            engines, threads = (int(x) for x in layout.split("x"))
            import copy

            report["layouts"].append(bench_layout(engines, threads, model_path, copy.deepcopy(base)))
        import ray

        ray.shutdown()
    phi = report["phi4_mini"]
    adapter = report["layouts"][0]["adapter_bytes"]
    print(f"\nembedded model: adapter {adapter / 1e6:.2f} MB per engine per version vs full weights "
          f"{full_bytes / 1e6:.2f} MB ({full_bytes / adapter:.0f}x)")
    print(f"Phi-4-Mini (bf16, LoRA r={RANK} on all projections): adapter {phi['adapter_bytes'] / 1e6:.0f} MB vs "
          f"full weights {phi['full_bytes'] / 1e9:.2f} GB ({phi['full_bytes'] / phi['adapter_bytes']:.0f}x)")
    for r in report["layouts"]:
        print(f"{r['engines']} engine(s) x {r['threads_per_engine']} thread(s): start {r['startup_seconds']:.0f} s, "
              f"publish {r['publish_ms_median']:.1f} ms, engine load {r['engine_load_ms_median']:.1f} ms, "
              f"first round with a new adapter {r['new_adapter_extra_ms_median']:+.0f} ms, "
              f"{r['tokens_per_second_median']:.0f} tok/s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":  # vLLM starts worker processes: keep the work behind this guard
    main()
