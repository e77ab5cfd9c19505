"""Memory and step time of routed training (1, 2, 4 adapters, rows split evenly, one backward) against one plain
peft adapter, on a randomly initialised Phi-3-architecture model (no download).

    python benchmarks/bench_adapters_cost.py [--size small|phi4mini] [--batch 8] [--seq 256] [--steps 6]

One training step = forward of the batch (routed: once per adapter on its rows, `run_routed`), a token-mean loss,
one backward, one AdamW step over every trained adapter. Each configuration runs in a fresh subprocess; its peak
memory is torch.cuda.max_memory_allocated on a GPU, else the process's peak resident set (VmHWM). Step time: the
median of `--steps` timed steps after two warm-up steps. `--size small` (hidden 512, 8 layers) suits 2 CPU cores;
`phi4mini` is Phi-4-mini's shape (hidden 3072, 32 layers, bf16; a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = {
    "small": {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8, "num_attention_heads": 8,
              "num_key_value_heads": 8, "vocab_size": 8192},
    "phi4mini": {"hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 24,
                 "num_key_value_heads": 8, "vocab_size": 200064},
}


def one(size: str, mode: str, adapters: int, batch: int, seq: int, steps: int, rank: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Phi3Config, Phi3ForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from logicrl.training.adapters import run_routed, settle

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(0)
    config = Phi3Config(**SIZES[size], max_position_embeddings=4096, pad_token_id=0)
    torch.set_default_dtype(dtype)
    with torch.device(device):  # built where it runs: a 3.8B model initialised on the CPU takes minutes
        model = Phi3ForCausalLM(config)
    torch.set_default_dtype(torch.float32)
    targets = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    names = [f"a{i}" for i in range(adapters)]
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets),
                          adapter_name=names[0])
    for name in names[1:]:
        peft.add_adapter(name, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets))
    settle(peft, names)
    peft.train()
    params = [p for p in peft.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(1, config.vocab_size, (batch, seq), device=device)
    routes = [names[i * adapters // batch] for i in range(batch)]

    def step():
        optimizer.zero_grad(set_to_none=True)
        if mode == "plain":
            logits = peft(input_ids=ids).logits
        else:
            logits = run_routed(peft, routes, lambda rows: peft(input_ids=ids[rows]).logits, names)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        optimizer.step()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 2):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmHWM")) / 2**20
    trained = sum(p.numel() for p in params)
    return {"mode": mode, "adapters": adapters, "step_s": statistics.median(times), "peak_gib": peak,
            "trainable_params": trained, "device": device, "tokens_per_s": batch * seq / statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        mode, adapters = args.one.split(":")
        print(json.dumps(one(args.size, mode, int(adapters), args.batch, args.seq, args.steps, args.rank)))
        return
    rows = []
    for mode, adapters in (("plain", 1), ("routed", 1), ("routed", 2), ("routed", 4)):
        out = subprocess.run([sys.executable, __file__, "--one", f"{mode}:{adapters}", "--size", args.size,
                              "--batch", str(args.batch), "--seq", str(args.seq), "--steps", str(args.steps),
                              "--rank", str(args.rank)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['mode']:>6} x{r['adapters']}: {r['step_s'] * 1000:8.1f} ms/step  {r['tokens_per_s']:9.0f} tok/s  "
              f"peak {r['peak_gib']:6.2f} GiB  trainable {r['trainable_params'] / 1e6:.2f} M ({r['device']})",
              flush=True)
    base = rows[0]
    print(f"\n{args.size}, batch {args.batch} x {args.seq} tokens, LoRA r={args.rank} on qkv/o/gate_up/down:")
    for r in rows:
        print(f"  {r['mode']} with {r['adapters']} adapter(s): step time x{r['step_s'] / base['step_s']:.2f}, "
              f"peak memory {r['peak_gib'] - base['peak_gib']:+.2f} GiB vs one plain adapter")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
