"""The Python side of scripts/gpu_check.sh (run it through that script; it sets the environment up).

    python scripts/gpu_check.py build DIR [--tiny]     # tokenizer + random-weight Phi-4-Mini-shaped model
    python scripts/gpu_check.py run NAME -- ARGS...    # `logicrl ARGS...` in this process, then its peak memory
    python scripts/gpu_check.py report WORKDIR         # the figures of every stage

Shapes of microsoft/Phi-4-mini-instruct (its config.json): Phi3ForCausalLM, hidden 3072, MLP 8192, 32
layers, 24 query heads and 8 key/value heads (grouped-query attention, head size 128), rotary embedding on
75% of each head, RMSNorm eps 1e-5, tied input/output embeddings, vocabulary 200,064: 3.836e9 parameters.
LongRoPE scaling (for contexts past 4,096 tokens) is left out: it changes no shape and these runs are short.
The tokenizer is the embedded model's byte-level BPE (trained here on puzzle text) padded with filler tokens
to the full vocabulary, so every id the random model samples decodes to text.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

PHI4_MINI = {
    "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 24,
    "num_key_value_heads": 8, "vocab_size": 200_064, "partial_rotary_factor": 0.75, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 4096, "original_max_position_embeddings": 4096, "tie_word_embeddings": True,
}
"""microsoft/Phi-4-mini-instruct's shapes (max_position_embeddings: its original, pre-LongRoPE context)."""

TINY = {**PHI4_MINI, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 5_000}
"""The same architecture, tiny (head size 64, grouped-query attention 2:1, a padded vocabulary), for CPU."""

RESULT_TAG = "GPU_CHECK_RESULT "


def log(message: str) -> None:
    print(f">> {message}", flush=True)  # gpu_check.sh shows these lines of a stage's log


def padded_tokenizer(vocab_size: int):
    """The embedded model's tokenizer with filler tokens ("tok0", "tok1", ...) up to `vocab_size` ids: the
    trained BPE vocabulary, then the fillers, then the think/answer tags as added tokens (ids without holes)."""
    from tokenizers import Tokenizer
    from transformers import AddedToken, PreTrainedTokenizerFast

    from logicrl.embedded import (
        ENDOFTEXT_TOKEN,
        ROLE_TOKENS,
        THINK_TOKENS,
        EmbeddedSpec,
        train_tokenizer,
        training_corpus,
    )

    base = train_tokenizer(training_corpus(EmbeddedSpec()), EmbeddedSpec().vocab_size)
    data = json.loads(base.backend_tokenizer.to_str())
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] not in THINK_TOKENS]
    vocab = data["model"]["vocab"]
    i = 0
    while len(vocab) < vocab_size - len(THINK_TOKENS):
        name = f"tok{i}"
        i += 1
        if name not in vocab:
            vocab[name] = len(vocab)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(data)), pad_token=base.pad_token, eos_token=base.eos_token,
        unk_token=None, additional_special_tokens=[ENDOFTEXT_TOKEN, *ROLE_TOKENS],
        clean_up_tokenization_spaces=False, model_max_length=4096,
    )
    fast.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    fast.chat_template = base.chat_template
    fast.padding_side = "left"
    ids = [fast.convert_tokens_to_ids(t) for t in THINK_TOKENS]
    if len(fast) != vocab_size or sorted(ids) != list(range(vocab_size - len(THINK_TOKENS), vocab_size)):
        raise SystemExit(f"padded tokenizer: {len(fast)} ids (expected {vocab_size}), tags at {ids}")
    return fast


def build(out: str, tiny: bool = False) -> None:
    """Write the tokenizer and a random-init model (bf16 on the GPU, float32 on CPU) to `out`."""
    import torch
    from transformers import GenerationConfig, Phi3Config, Phi3ForCausalLM

    shape = TINY if tiny else PHI4_MINI
    start = time.perf_counter()
    tokenizer = padded_tokenizer(shape["vocab_size"])
    log(f"tokenizer: {len(tokenizer)} ids in {time.perf_counter() - start:.1f} s")
    eos = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end|>", "<|endoftext|>")]
    config = Phi3Config(**shape, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos[0], bos_token_id=eos[1],
                        resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0)
    on_gpu = torch.cuda.is_available() and not tiny
    dtype = torch.bfloat16 if on_gpu else torch.float32
    start = time.perf_counter()
    torch.manual_seed(0)
    with torch.device("cuda" if on_gpu else "cpu"):  # built where it runs, in its dtype: no host copy
        model = Phi3ForCausalLM._from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e9:.3f}e9 parameters, {dtype}, on {'cuda' if on_gpu else 'cpu'}, "
        f"built in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    model.save_pretrained(out, max_shard_size="4GB")
    tokenizer.save_pretrained(out)
    size = sum(f.stat().st_size for f in Path(out).iterdir())
    log(f"saved {size / 2**30:.2f} GiB to {out} in {time.perf_counter() - start:.1f} s")
    print(RESULT_TAG + json.dumps({"parameters": params, "bytes": size}), flush=True)


def run(name: str, args: list[str]) -> int:
    """`logicrl ARGS` in this process (the same entry point as the console script), then the peak memory."""
    import resource

    import torch

    from logicrl.cli import main

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    rc = main(args)
    result = {"stage": name, "rc": rc, "seconds": time.perf_counter() - start,
              "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if torch.cuda.is_available():
        result["peak_gpu_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        result["peak_gpu_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
        result["gpu"] = torch.cuda.get_device_name()
    print(RESULT_TAG + json.dumps(result), flush=True)
    return rc


def text_hash(prompts, completions, **kwargs) -> list[float]:
    """A check-only reward with spread on a random model's samples: a deterministic pseudo-random score in
    [0, 1) of each completion's text (CRC-32), different for different texts, so the GRPO advantages, the
    loss and the gradients are not all zero whenever the completions differ. (The share of letters "e" was
    tried first: on the random 200K-vocabulary model it was exactly 0 for nearly every sample.)"""
    import zlib

    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [zlib.crc32(t.encode("utf-8", "replace")) % 1000 / 1000 for t in texts]


def _results(log_path: Path) -> dict:
    if not log_path.is_file():
        return {}
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith(RESULT_TAG)]
    return json.loads(lines[-1][len(RESULT_TAG):]) if lines else {}


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(workdir: str) -> int:
    """One block per stage: time, peak memory, step times and rollout tokens/s, eval tokens/s. Returns 1 when
    a finished run logged a non-finite loss or gradient norm, or never a non-zero gradient."""
    import math

    work = Path(workdir)
    problems = []
    print("\n== gpu_check figures")
    for stage in ("lora", "full", "routed"):
        result = _results(work / f"{stage}.log")
        rows = [r for r in _metrics(work / stage) if "step_time" in r]
        if not result:
            print(f"  {stage}: no result")
            continue
        memory = (f"peak GPU {result['peak_gpu_allocated_gib']:.1f} GiB allocated / "
                  f"{result['peak_gpu_reserved_gib']:.1f} GiB reserved" if "peak_gpu_allocated_gib" in result
                  else f"peak RSS {result['peak_rss_gib']:.2f} GiB (CPU)")
        print(f"  {stage}: rc {result['rc']}, {result['seconds']:.1f} s in `logicrl train`, {memory}")
        recipe_path = work / stage / "config.json"
        batch = json.loads(recipe_path.read_text()).get("per_device_train_batch_size", 0) if recipe_path.is_file() else 0
        for r in rows:  # TRL's step_time: generation, scoring, forward, backward and the optimizer step
            length = r.get("completions/mean_length", 0.0)
            print(f"    step {r['step']}: {r['step_time']:.2f} s for {batch} completions of {length:.0f} tokens "
                  f"({batch * length / r['step_time']:.0f} generated tok/s over the whole step), "
                  f"loss {r.get('loss', float('nan')):.4g}, grad norm {r.get('grad_norm', float('nan')):.4g}")
        values = [r.get(k, float("nan")) for r in rows for k in ("loss", "grad_norm")]
        if result["rc"] == 0 and not all(math.isfinite(v) for v in values):
            problems.append(f"{stage}: non-finite loss or gradient norm")
        if result["rc"] == 0 and not any(r.get("grad_norm", 0.0) > 0 for r in rows):
            problems.append(f"{stage}: the gradient was zero at every step")
    result = _results(work / "eval.log")
    summary_path = work / "eval" / "summary.json"
    if result and summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        gen = summary.get("generation") or {}
        memory = (f", peak GPU {result['peak_gpu_allocated_gib']:.1f} GiB" if "peak_gpu_allocated_gib" in result else "")
        print(f"  eval: rc {result['rc']}, {result['seconds']:.1f} s, {summary.get('problems')} puzzles, "
              f"{gen.get('tokens', 0)} tokens generated at {gen.get('tokens_per_second') or 0:.1f} tok/s{memory}")
    else:
        print("  eval: no result")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "build":
        build(rest[0], tiny="--tiny" in rest)
    elif command == "run":
        name, sep, *args = rest
        sys.exit(run(name, args))
    elif command == "report":
        sys.exit(report(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
