"""vLLM rollouts with adapter sync, on CPU: what one RL step's generation and sync cost.

    scripts/setup_vllm.sh
    OMP_NUM_THREADS=2 .venv-vllm/bin/python benchmarks/bench_vllm_rollouts.py
    .venv-vllm/bin/python benchmarks/bench_vllm_rollouts.py --prompts 8 --samples 4 --tokens 64

Prints: engine start-up time; for a rollout batch (prompts x samples, fixed length), generation time and
tokens per second with vLLM (with a LoRA adapter) and with HF `generate` (the `hf` rollout path, same
adapter); the adapter sync (save_pretrained + a new LoRARequest + the first generation with it) against
the adapter and full-model sizes, i.e. what adapter sync moves instead of the whole model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def folder_mb(path: Path, pattern: str) -> float:
    return sum(f.stat().st_size for f in Path(path).glob(pattern)) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rank", type=int, default=8)
    args = parser.parse_args()

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("LOGICRL_VLLM_OPTIONS", json.dumps({"kv_cache_memory_bytes": 256 * 2**20,
                                                               "max_model_len": 1024}))
    import torch
    from peft import LoraConfig, get_peft_model
    from vllm import SamplingParams, TokensPrompt
    from vllm.lora.request import LoRARequest

    from logicrl.models import default_lora_targets, load_model_and_tokenizer, resolve_model_path
    from logicrl.vllm_utils import make_llm, prompt_token_ids
    from puzzles import generate_kk, make_prompt

    model_path = resolve_model_path(args.model)
    model, tokenizer = load_model_and_tokenizer(model_path)
    peft_model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank,
                                                  target_modules=default_lora_targets(model)))
    prompts = [make_prompt(p, style="chat") for p in generate_kk(3, args.prompts, seed=7)]
    ids = prompt_token_ids(tokenizer, prompts)
    work = Path(tempfile.mkdtemp(prefix="bench-vllm-"))

    start = time.perf_counter()
    llm = make_llm(model_path, enable_lora=True, max_loras=1, max_lora_rank=max(8, args.rank), seed=0)
    startup = time.perf_counter() - start

    # min_tokens = max_tokens: every completion has the same length, so both sides do the same work.
    params = SamplingParams(n=args.samples, temperature=1.0, max_tokens=args.tokens, min_tokens=args.tokens,
                            seed=0, logprobs=0)
    batch = [TokensPrompt(prompt_token_ids=p) for p in ids]
    n_tokens = args.prompts * args.samples * args.tokens

    syncs = []
    for version in range(1, 4):
        with torch.no_grad():  # a new adapter version, as after an optimiser step
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.add_(0.01 * torch.randn_like(param))
        start = time.perf_counter()
        adapter_dir = work / f"adapter-{version}"
        peft_model.save_pretrained(str(adapter_dir))
        saved = time.perf_counter() - start
        request = LoRARequest(f"policy-{version}", version, str(adapter_dir))
        llm.generate(batch[:1], SamplingParams(max_tokens=1), lora_request=request, use_tqdm=False)
        syncs.append((saved, time.perf_counter() - start))
        start = time.perf_counter()
        llm.generate(batch, params, lora_request=request, use_tqdm=False)
        vllm_seconds = time.perf_counter() - start

    peft_model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for prompt in ids:
            input_ids = torch.tensor([prompt] * args.samples)
            peft_model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=True,
                                max_new_tokens=args.tokens, min_new_tokens=args.tokens)
    hf_seconds = time.perf_counter() - start

    adapter_mb = folder_mb(work / "adapter-3", "*.safetensors")
    model_mb = sum(p.numel() * p.element_size() for n, p in peft_model.named_parameters() if "lora_" not in n) / 2**20

    print(f"model {model_path} ({model_mb:.1f} MB float32), LoRA rank {args.rank}, torch threads "
          f"{torch.get_num_threads()}")
    print(f"vLLM engine start-up (enable_lora):          {startup:6.1f} s")
    print(f"rollout batch: {args.prompts} prompts x {args.samples} samples x {args.tokens} tokens = {n_tokens} tokens")
    print(f"  vLLM generate with the adapter:            {vllm_seconds:6.2f} s  ({n_tokens / vllm_seconds:7.0f} tok/s)")
    print(f"  HF generate with the adapter:              {hf_seconds:6.2f} s  ({n_tokens / hf_seconds:7.0f} tok/s)")
    for version, (saved, total) in enumerate(syncs, 1):
        print(f"adapter sync #{version}: save {saved * 1000:6.1f} ms, save + load + first token {total * 1000:6.1f} ms")
    print(f"moved per sync: adapter {adapter_mb:.2f} MB vs full weights {model_mb:.1f} MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # vLLM starts worker processes
    main()
