"""Does training two routed adapters together interfere? Joint routed training against each adapter trained alone,
and against one shared adapter, on two tasks, held-out reward per task, paired by seed.

    python benchmarks/bench_adapters_interference.py [--seeds 0 1 2] [--steps 12]

Tasks (made here): "kk" = Knights-and-Knaves puzzles (compact prompts, 3 people), "arith" = "What is a + b?"
problems (base prompts); held-out prompts are disjoint from the training ones. The embedded model (1.2M parameters,
random weights) cannot solve either task, so the rewards are ones it can learn in a dozen RL steps on 2 cores and
that pull in different directions: kk rows are rewarded for the share of the letter "e" in the answer, arith rows
for the share of "o" (the real `kk` / `math` rewards give this model no signal at all). Each reward applies to its
own task only (`tasks:`).

Configurations, each for the same number of optimizer steps, same seed (data, initialisation, sampling):
- alone: adapter "logic" trained on kk rows only (4 prompts x 4 samples per step), "math" on arith rows only;
- joint: both adapters in one run, routed per row, mixed batches of 8 prompts (about 4 per task);
- shared: one adapter (no routing) on the same mixed batches: what routing avoids.

Held-out score: each task's held-out prompts (16 x 4 samples, temperature 1, 24 tokens) through the adapter its
task routes to; mean reward. Printed: per seed and task, the fresh adapter (= the base), alone, joint, shared, and
the paired differences (joint - alone, shared - alone) with their standard error over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "offline")
sys.path.insert(0, str(Path(__file__).parent))


def share_e(prompts, completions, **kwargs):
    """Share of the letter "e" among the completion's characters (kk task)."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [t.count("e") / max(1, len(t)) for t in texts]


def share_o(prompts, completions, **kwargs):
    """Share of the letter "o" among the completion's characters (arith task)."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [t.count("o") / max(1, len(t)) for t in texts]


SCORERS = {"kk": share_e, "arith": share_o}


def arithmetic_file(path: Path, count: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        rows.append({"problem": f"What is {a} + {b}?", "answer": str(a + b)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def recipe(out: Path, seed: int, steps: int, tasks: list[str], mode: str, arith_path: str) -> dict:
    mix = []
    if "kk" in tasks:
        mix.append({"task": "kk", "kind": "kk", "people": [3], "count": 64})
    if "arith" in tasks:
        mix.append({"task": "arith", "kind": "math", "path": arith_path, "prompt_style": "base"})
    adapters = {"kk": "logic", "arith": "math"}
    lora = {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0}
    if mode != "shared":
        lora["adapters"] = {adapters[t]: {} for t in tasks}
        lora["routing"] = {"by": "task", "map": {t: adapters[t] for t in tasks}}
    rewards = [{"name": f"bench_adapters_interference:{SCORERS[t].__name__}", "tasks": [t]} for t in tasks]
    return {
        "model": "embedded", "output_dir": str(out), "seed": seed, "max_steps": steps,
        "per_device_train_batch_size": 16 * len(tasks), "num_generations": 4, "max_completion_length": 24,
        "learning_rate": 0.02, "temperature": 1.0, "beta": 0.0, "save_steps": 10_000, "progress_bar": False,
        "plot": False, "report_to": ["none"], "lora": lora,
        "data": {"prompt_style": "compact", "seed": seed, "mix": mix}, "rewards": rewards,
    }


def heldout_prompts(seed: int, tmp: Path) -> dict[str, list]:
    """16 held-out prompts per task, none of them in training (other generator seeds)."""
    from logicrl.config import load_config
    from logicrl.training.data import mix_rows

    arith = arithmetic_file(tmp / f"heldout-arith-{seed}.jsonl", 16, seed + 10_000)
    config = load_config({"data": {"prompt_style": "compact", "seed": seed + 10_000, "mix": [
        {"task": "kk", "kind": "kk", "people": [3], "count": 16},
        {"task": "arith", "kind": "math", "path": arith, "prompt_style": "base"}]}})
    rows, _ = mix_rows(config)
    return {t: [r["prompt"] for r in rows if r["task"] == t] for t in ("kk", "arith")}


def score(model, tokenizer, prompts: list, task: str, route: str | None, seed: int) -> float:
    """Mean held-out reward of `prompts` (4 samples each, temperature 1, 24 tokens) through `route`."""
    import contextlib

    import torch

    from logicrl.training.adapters import use_route

    model.eval()
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(seed)
    context = use_route(model, route) if route else contextlib.nullcontext()
    with torch.no_grad(), context:
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=24,
                             num_return_sequences=4, pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].size(1):], skip_special_tokens=True)
    values = SCORERS[task](None, texts)
    return sum(values) / len(values)


def train_and_score(recipe_dict: dict, heldout: dict, routes: dict, seed: int) -> tuple[dict, float]:
    from logicrl.config import load_config
    from logicrl.training import build_trainer, run_trainer

    start = time.perf_counter()
    trainer, run_dir = build_trainer(recipe_dict)
    run_trainer(trainer, run_dir, load_config(recipe_dict))
    seconds = time.perf_counter() - start
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {t: score(model, trainer.processing_class, heldout[t], t, routes.get(t), seed) for t in routes}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    import logging

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("logicrl").setLevel(logging.ERROR)
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for seed in args.seeds:
            arith = arithmetic_file(tmp / f"arith-{seed}.jsonl", 64, seed)
            heldout = heldout_prompts(seed, tmp)
            row = {"seed": seed}
            # fresh adapters start as the base model: the starting point
            from logicrl.models import load_model_and_tokenizer

            base, tok = load_model_and_tokenizer("embedded")
            row["start"] = {t: score(base, tok, heldout[t], t, None, seed) for t in ("kk", "arith")}
            alone_kk, s1 = train_and_score(recipe(tmp / f"a-kk-{seed}", seed, args.steps, ["kk"], "routed", arith),
                                           heldout, {"kk": "logic"}, seed)
            alone_ar, s2 = train_and_score(recipe(tmp / f"a-ar-{seed}", seed, args.steps, ["arith"], "routed", arith),
                                           heldout, {"arith": "math"}, seed)
            row["alone"] = {**alone_kk, **alone_ar}
            row["joint"], s3 = train_and_score(recipe(tmp / f"j-{seed}", seed, args.steps, ["kk", "arith"], "routed",
                                                      arith), heldout, {"kk": "logic", "arith": "math"}, seed)
            row["shared"], s4 = train_and_score(recipe(tmp / f"s-{seed}", seed, args.steps, ["kk", "arith"],
                                                       "shared", arith), heldout, {"kk": None, "arith": None}, seed)
            row["seconds"] = {"alone": s1 + s2, "joint": s3, "shared": s4}
            results.append(row)
            print(f"seed {seed}: " + "  ".join(
                f"{t}: start {row['start'][t]:.3f} alone {row['alone'][t]:.3f} joint {row['joint'][t]:.3f} "
                f"shared {row['shared'][t]:.3f}" for t in ("kk", "arith"))
                + f"  (seconds alone {s1 + s2:.0f}, joint {s3:.0f}, shared {s4:.0f})", flush=True)

    def paired(a: str, b: str, task: str) -> str:
        diffs = [r[a][task] - r[b][task] for r in results]
        mean = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        return f"{mean:+.3f} ± {se:.3f}"

    print(f"\nheld-out reward after {args.steps} steps, mean over seeds {args.seeds} (paired differences ± s.e.)")
    print(f"{'task':<6} {'start':>7} {'alone':>7} {'joint':>7} {'shared':>7}   {'joint - alone':>16} "
          f"{'shared - alone':>16}")
    for t in ("kk", "arith"):
        means = {k: statistics.fmean(r[k][t] for r in results) for k in ("start", "alone", "joint", "shared")}
        print(f"{t:<6} {means['start']:7.3f} {means['alone']:7.3f} {means['joint']:7.3f} {means['shared']:7.3f}   "
              f"{paired('joint', 'alone', t):>16} {paired('shared', 'alone', t):>16}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
