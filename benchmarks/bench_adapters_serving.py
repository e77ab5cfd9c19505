"""Generation throughput with 1, 2 and 4 routed adapters mixed in a batch against one merged model (HF generate and
vLLM), and the bytes and seconds of adapter sync per step against full-weight sync. Run it in the vLLM environment:

    .venv-vllm/bin/python benchmarks/bench_adapters_serving.py [--prompts 32] [--tokens 64] [--repeats 3]

HF: `generate` with peft's `adapter_names=` (one route per prompt, the k adapters in equal shares) against the
merged model of adapter 0 (`merge_and_unload`), greedy, one batch of all prompts. vLLM: one engine with
`enable_lora`, `max_loras=4`, one `LoRARequest` per prompt, against an engine on the merged weights without LoRA.
Throughput = generated tokens / wall seconds, best of `--repeats` (after one warm-up call). Sync: what
`AdapterPublisher.publish` writes per optimizer step for 2 trained adapters (seconds, bytes), against saving every
weight of the model (`save_pretrained`), which is what a full-weight sync moves. The embedded model is tiny (1.2M
parameters), so the absolute numbers say little about a 3.8B model; the ratios for Phi-4-mini's shape are computed
from its layer sizes and printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
ENGINE = {"kv_cache_memory_bytes": 256 * 2**20, "max_model_len": 512}


def make_adapters(root: Path, count: int):
    import torch
    from peft import LoraConfig, get_peft_model

    from logicrl.models import default_lora_targets, load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("embedded")
    torch.manual_seed(0)
    targets = default_lora_targets(model)
    names = [f"a{i}" for i in range(count)]
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, init_lora_weights=False),
                          adapter_name=names[0])
    for name in names[1:]:
        peft.add_adapter(name, LoraConfig(r=8, lora_alpha=16, target_modules=targets, init_lora_weights=False))
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if "lora_B" in n:
                p.mul_(0.3)
    peft.save_pretrained(str(root / "adapters"), selected_adapters=names)
    paths = {n: root / "adapters" / n for n in names}
    return peft, tok, paths


def timed(fn, repeats: int) -> tuple[float, int]:
    fn()  # warm-up
    best, tokens = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = fn()
        best = min(best, time.perf_counter() - start)
    return best, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    from logicrl.models import resolve_model_path

    root = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
    try:
        peft, tok, paths = make_adapters(root, 4)
        names = list(paths)
        from puzzles import generate_kk, make_prompt

        prompts = [make_prompt(p, style="compact") for p in generate_kk(3, args.prompts, seed=5)]
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True)
        results = {}

        # ---------------- HF
        peft.eval()
        for k in (1, 2, 4):
            routes = [names[i % k] for i in range(len(prompts))]

            def run(routes=routes):
                with torch.no_grad():
                    out = peft.generate(**enc, adapter_names=routes, max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                                        do_sample=False, pad_token_id=tok.pad_token_id)
                return (out.size(1) - enc["input_ids"].size(1)) * out.size(0)

            seconds, tokens = timed(run, args.repeats)
            results[f"hf_{k}"] = tokens / seconds
        import copy

        merged = copy.deepcopy(peft)
        merged.set_adapter("a0")
        merged = merged.merge_and_unload().eval()
        merged_dir = root / "merged"
        merged.save_pretrained(str(merged_dir))
        tok.save_pretrained(str(merged_dir))

        def run_merged():
            with torch.no_grad():
                out = merged.generate(**enc, max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False,
                                      pad_token_id=tok.pad_token_id)
            return (out.size(1) - enc["input_ids"].size(1)) * out.size(0)

        seconds, tokens = timed(run_merged, args.repeats)
        results["hf_merged"] = tokens / seconds

        # ---------------- sync: adapters per step vs full weights
        from logicrl.training.adapter_sync import AdapterPublisher

        publisher = AdapterPublisher(names[:2], names[:2], root / "sync", keep=1)
        publisher.publish(peft, 0)
        sync = []
        for step in range(1, 6):
            start = time.perf_counter()
            written = publisher.publish(peft, step)
            sync.append((time.perf_counter() - start, sum(p.bytes for p in written)))
        full = []
        for i in range(3):
            start = time.perf_counter()
            merged.save_pretrained(str(root / f"full-{i}"))
            seconds = time.perf_counter() - start
            full.append((seconds, sum(f.stat().st_size for f in (root / f"full-{i}").rglob("*") if f.is_file())))
        results["sync_adapters"] = {"seconds": min(s for s, _ in sync), "bytes": sync[0][1]}
        results["sync_full"] = {"seconds": min(s for s, _ in full), "bytes": full[0][1]}

        # ---------------- vLLM
        from vllm import SamplingParams, TokensPrompt
        from vllm.lora.request import LoRARequest

        from logicrl.vllm_utils import make_llm

        params = SamplingParams(temperature=0.0, max_tokens=args.tokens, min_tokens=args.tokens)
        token_prompts = [TokensPrompt(prompt_token_ids=tok(p)["input_ids"]) for p in prompts]
        llm = make_llm(resolve_model_path("embedded"), enable_lora=True, max_loras=4, max_lora_rank=8, **ENGINE)
        requests = [LoRARequest(n, i + 1, str(p)) for i, (n, p) in enumerate(paths.items())]
        for k in (1, 2, 4):
            per_prompt = [requests[i % k] for i in range(len(prompts))]

            def run_vllm(per_prompt=per_prompt):
                outs = llm.generate(token_prompts, params, lora_request=per_prompt, use_tqdm=False)
                return sum(len(o.outputs[0].token_ids) for o in outs)

            seconds, tokens = timed(run_vllm, args.repeats)
            results[f"vllm_{k}"] = tokens / seconds
        del llm
        import gc

        gc.collect()
        llm = make_llm(str(merged_dir), **ENGINE)

        def run_vllm_merged():
            outs = llm.generate(token_prompts, params, use_tqdm=False)
            return sum(len(o.outputs[0].token_ids) for o in outs)

        seconds, tokens = timed(run_vllm_merged, args.repeats)
        results["vllm_merged"] = tokens / seconds
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\ngeneration, {args.prompts} prompts x {args.tokens} tokens, greedy, tokens/s (best of {args.repeats}):")
    print(f"{'backend':<8} {'1 adapter':>10} {'2 mixed':>10} {'4 mixed':>10} {'merged':>10}")
    for b in ("hf", "vllm"):
        print(f"{b:<8} {results[f'{b}_1']:10.0f} {results[f'{b}_2']:10.0f} {results[f'{b}_4']:10.0f} "
              f"{results[f'{b}_merged']:10.0f}")
    a, f = results["sync_adapters"], results["sync_full"]
    print(f"\nsync per step: 2 trained adapters {a['bytes'] / 1e6:.3f} MB in {a['seconds'] * 1000:.1f} ms; "
          f"full weights {f['bytes'] / 1e6:.3f} MB in {f['seconds'] * 1000:.1f} ms (embedded model)")
    # Phi-4-mini (hidden 3072, intermediate 8192, 32 layers, qkv out 5120, 3.8B parameters, bf16), LoRA r=16 on
    # qkv_proj, o_proj, gate_up_proj, down_proj: r * (in + out) parameters per projection.
    per_layer = (3072 + 5120) + (3072 + 3072) + (3072 + 16384) + (8192 + 3072)
    adapter_bytes = 16 * per_layer * 32 * 2
    print(f"Phi-4-mini shape (computed): one r=16 adapter {adapter_bytes / 1e6:.0f} MB vs full weights "
          f"{3.84e9 * 2 / 1e9:.1f} GB bf16 ({3.84e9 * 2 / adapter_bytes:.0f}x less per trained adapter)")
    print(json.dumps(results))


if __name__ == "__main__":  # vLLM starts worker processes
    main()
