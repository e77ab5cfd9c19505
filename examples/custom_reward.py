"""Register a custom reward with a decorator and train with it next to the built-in K&K reward.

    .venv/bin/python examples/custom_reward.py --score-only   # score three sample completions, no model
    .venv/bin/python examples/custom_reward.py                # a short GRPO run on the embedded model

The config's `rewards` list names rewards by registered name (as below), by "package.module:function"
path, or by an entry point in the group `logicrl.rewards`. The decorator registers in this process only:
with Ray workers or reward actors, use the path form (e.g. "my_pkg.rewards:concise") so they can import it.
"""

from __future__ import annotations

import argparse

import rewards
from rewards.format import check_format


@rewards.register("concise", per_sample=True)
def concise(completion: str, budget_words: int = 150, **row) -> float:
    """0 when the reasoning fits in `budget_words` words, down to -1 at twice the budget (or no reasoning)."""
    result = check_format(completion, think_prefilled=False, min_reasoning_words=0)
    if not result.ok:
        return -1.0
    words = len(result.think.split())
    penalty = min(1.0, max(0, words - budget_words) / budget_words)
    return 0.0 - penalty


REWARDS = [
    {"name": "kk", "preset": "logic_rl"},
    {"name": "concise", "weight": 0.5, "budget_words": 120},
]


def score_only() -> None:
    """Score a few completions with the same config the trainer receives."""
    total = rewards.combine(REWARDS)
    truth = "(1) Zoey is a knight\n(2) Oliver is a knave"
    reasoning = "Zoey says Oliver is a knave. If Zoey tells the truth, Oliver lies, and his claim fails. "
    completions = [
        f"<think>{reasoning}</think><answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>",
        f"<think>{reasoning * 12}</think><answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>",
        "<answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>",
    ]
    prompts = [[{"role": "user", "content": "Who is a knight?"}]] * len(completions)
    rows = total.breakdown(prompts, completions, solution_text_format=[truth] * len(completions))
    for completion, row in zip(completions, rows):
        parts = ", ".join(f"{k}={v:g}" for k, v in row.items() if not k.endswith("length"))
        print(f"{len(completion):5d} chars: {parts}")


def train(steps: int) -> None:
    import logicrl

    config = {
        "model": "embedded",
        "output_dir": "runs/custom_reward",
        "max_steps": steps,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 96,
        "learning_rate": 1e-4,
        "data": {"kind": "kk", "people": [2], "count": 64, "prompt_style": "chat"},
        "rewards": REWARDS,
        "save_steps": steps,
        "plot": False,
    }
    result = logicrl.train(config, overwrite=True)  # a smoke run: a rerun starts it again
    print(f"trained {result.global_step} steps; model in {result.model_dir}")
    print({k: v for k, v in result.metrics.items() if "reward" in k})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--score-only", action="store_true", help="score sample completions, do not train")
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps (default 2: a smoke run)")
    args = parser.parse_args()
    score_only()
    if not args.score_only:
        train(args.steps)


if __name__ == "__main__":
    main()
