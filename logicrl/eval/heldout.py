"""Held-out evaluation on Knights-and-Knaves puzzles: batched HF generation, then the project's rewards.

`evaluate_kk` answers every puzzle once (greedy by default, or sampled with a seed), grades it with
`rewards.get("kk", preset=...)` and reports accuracy, format rate and mean reward, overall and by
number of people, plus the per-puzzle results so that two checkpoints can be compared on the same
puzzles (`paired_difference`): a paired comparison removes the puzzle-to-puzzle variance, which is
what makes a gain of a few points visible on a few thousand puzzles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


def kk_prompt(puzzle, style: str = "compact", tokenizer=None) -> str:
    """A puzzle's prompt text in a training prompt style (`puzzles.make_prompt`); "chat" is rendered
    through the tokenizer's chat template. Raises ValueError for chat without a chat template."""
    from puzzles import make_prompt

    if style == "chat" and (tokenizer is None or getattr(tokenizer, "chat_template", None) is None):
        raise ValueError("chat prompts need a tokenizer with a chat template")
    return make_prompt(puzzle, style=style, tokenizer=tokenizer if style == "chat" else None)


def generate_texts(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int = 64,
                   temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, progress: str | None = None,
                   bf16: bool = False) -> list[str]:
    """One completion per prompt with `model.generate` (greedy when temperature is 0), in input order.

    Prompts are batched by length (less padding); each batch reseeds the sampler from `seed` and the
    batch's first index, so a result does not depend on what else is being evaluated. `progress`: the
    label of a progress bar over the prompts (None: no bar). `bf16`: compute in bfloat16 (autocast; see
    `logicrl.models.bf16_available`).
    """
    import torch
    from tqdm.auto import tqdm

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str | None] = [None] * len(prompts)
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sample = temperature > 0
    gen_kwargs = {"max_new_tokens": max_new_tokens, "do_sample": sample, "pad_token_id": tokenizer.pad_token_id}
    if sample:
        gen_kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    bar = tqdm(total=len(prompts), desc=progress, unit="answer", disable=progress is None, leave=False)
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 1_000_003 + start)
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    ids = model.generate(**enc, **gen_kwargs)
            texts = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for i, text in zip(idx, texts):
                out[i] = text
            bar.update(len(idx))
    finally:
        bar.close()
        tokenizer.padding_side = padding_side
        model.train(was_training)
    return out  # type: ignore[return-value]


def grade_kk(prompts, completions, puzzles, preset: str = "partial") -> list[dict]:
    """Per-completion breakdown from the project's K&K reward (reward, format, correct, ...)."""
    import rewards

    fn = rewards.get("kk", preset=preset)
    return fn.breakdown(
        prompts,
        completions,
        solution_text_format=[p.solution_text_format for p in puzzles],
        roles=[tuple(getattr(p, "roles", ("knight", "knave"))) for p in puzzles],
    )


def _summary(rows: list[dict]) -> dict:
    n = len(rows)
    if n == 0:
        return {"n": 0, "accuracy": float("nan"), "accuracy_se": float("nan"), "format_rate": float("nan"),
                "mean_reward": float("nan")}
    acc = sum(r["correct"] for r in rows) / n
    return {
        "n": n,
        "accuracy": acc,
        "accuracy_se": math.sqrt(acc * (1 - acc) / n),
        "format_rate": sum(r["format_ok"] for r in rows) / n,
        "mean_reward": sum(r["reward"] for r in rows) / n,
    }


def evaluate_kk(model, tokenizer, puzzles, *, prompt_fn: Callable | None = None, prompt_style: str = "compact",
                max_new_tokens: int = 256, batch_size: int = 64, temperature: float = 0.0, top_p: float = 1.0,
                seed: int = 0, reward_preset: str = "partial", generate_fn: Callable | None = None,
                keep_completions: bool = False, progress: str | None = None, bf16: bool = False) -> dict:
    """Answer and grade held-out puzzles.

    prompt_fn: puzzle -> prompt text (default: `kk_prompt(puzzle, prompt_style, tokenizer)`).
    generate_fn: prompts -> completions, replacing the model (tests, other backends); `model` and
        `tokenizer` may then be None.
    Returns {"overall": summary, "by_people": {n: summary}, "correct": [0/1 per puzzle],
    "rewards": [...], "format_ok": [...], "seconds": float, settings...}, where a summary holds n,
    accuracy, accuracy_se, format_rate and mean_reward. With `keep_completions`, also "completions".
    """
    puzzles = list(puzzles)
    prompt_fn = prompt_fn or (lambda p: kk_prompt(p, prompt_style, tokenizer))
    prompts = [prompt_fn(p) for p in puzzles]
    start = time.perf_counter()
    if generate_fn is not None:
        completions = list(generate_fn(prompts))
        if len(completions) != len(prompts):
            raise ValueError(f"generate_fn returned {len(completions)} completions for {len(prompts)} prompts")
    else:
        completions = generate_texts(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                     batch_size=batch_size, temperature=temperature, top_p=top_p, seed=seed,
                                     progress=progress, bf16=bf16)
    seconds = time.perf_counter() - start
    graded = grade_kk(prompts, completions, puzzles, preset=reward_preset)
    rows = [
        {
            "n_people": int(p.n_people),
            "correct": int(bool(g.get("correct"))),
            "format_ok": int((g.get("format") or 0) > 0),
            "reward": float(g.get("reward") or 0.0),
        }
        for p, g in zip(puzzles, graded)
    ]
    by_people = {n: _summary([r for r in rows if r["n_people"] == n]) for n in sorted({r["n_people"] for r in rows})}
    result = {
        "overall": _summary(rows),
        "by_people": by_people,
        "correct": [r["correct"] for r in rows],
        "rewards": [r["reward"] for r in rows],
        "format_ok": [r["format_ok"] for r in rows],
        "n_people": [r["n_people"] for r in rows],
        "temperature": temperature,
        "seed": seed,
        "seconds": seconds,
    }
    if keep_completions:
        result["completions"] = completions
    return result


def paired_difference(before: Sequence[float], after: Sequence[float]) -> dict:
    """Mean of after - before over the same items, its standard error, and counts of items gained/lost."""
    if len(before) != len(after):
        raise ValueError(f"paired comparison needs equal lengths, got {len(before)} and {len(after)}")
    n = len(before)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "se": float("nan"), "gained": 0, "lost": 0}
    diffs = [float(a) - float(b) for b, a in zip(before, after)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else float("nan")
    return {
        "n": n,
        "mean": mean,
        "se": math.sqrt(var / n) if n > 1 else float("nan"),
        "gained": sum(d > 0 for d in diffs),
        "lost": sum(d < 0 for d in diffs),
    }
