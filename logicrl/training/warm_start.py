"""Supervised warm start on reasoning traces with TRL's SFTTrainer.

A freshly initialised model has nothing for RL to reinforce: it never produces the answer format, so
every reward is the same. A short supervised phase on prompt/completion pairs (loss on the completion
only) teaches the format and a first version of the procedure; RL then improves on it.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from logicrl.errors import UserError

WARM_START_DIR = "warm_start"
"""Where the warm-started model is saved inside the run directory (the base of a LoRA run's adapter)."""
SHORTCUT_ANSWERS = ("solution", "guess")


def trace_records(puzzles, style: str, shortcut_fraction: float = 0.0, seed: int = 0,
                  shortcut_answer: str = "solution") -> list[dict]:
    """Prompt/completion records for TRL's SFTTrainer from the puzzles' reasoning traces, in the prompt
    `style` the RL phase uses (chat, base or compact), plus the columns the rewards read.

    compact only: a random `shortcut_fraction` of the puzzles (drawn with `seed`) get the shortcut
    completion, which answers without trying any case, with the solution (`shortcut_answer="solution"`)
    or a random guess (`"guess"`). Raises ValueError for a fraction outside [0, 1] or another answer kind.
    """
    from puzzles import make_prompt
    from puzzles.compact import compact_completion, guess_answer

    if not 0.0 <= shortcut_fraction <= 1.0:
        raise ValueError(f"shortcut_fraction must lie in [0, 1], got {shortcut_fraction}")
    if shortcut_answer not in SHORTCUT_ANSWERS:
        raise ValueError(f"shortcut_answer must be one of {SHORTCUT_ANSWERS}, got {shortcut_answer!r}")
    if shortcut_fraction and style != "compact":
        raise ValueError("shortcut traces exist in the compact style only")
    rng = random.Random(seed)
    shortcut = set(rng.sample(range(len(puzzles)), round(shortcut_fraction * len(puzzles))))
    guesses = {i: guess_answer(puzzles[i], rng) for i in sorted(shortcut)} if shortcut_answer == "guess" else {}
    records = []
    for i, p in enumerate(puzzles):
        answer = f"</think><answer>{p.solution_text_format}</answer>"
        if style == "compact":
            completion = compact_completion(p, shortcut=i in shortcut, answer=guesses.get(i))
        elif style == "base":  # the prompt already ends with "<think>"
            completion = f" {p.trace.strip()} {answer}"
        else:
            completion = [{"role": "assistant", "content": f"<think> {p.trace.strip()} {answer}"}]
        records.append({"prompt": make_prompt(p, style=style), "completion": completion,
                        "solution_text_format": p.solution_text_format, "n_people": p.n_people})
    return records


def run_warm_start(config, model, tokenizer, puzzles, run_dir: Path):
    """The recipe's warm start (`warm_start:` section) on `puzzles`' traces (or `warm_start.count` fresh
    ones per number of people); saves the model in `<run_dir>/warm_start` and returns it."""
    from logicrl.training.rundir import RECIPE_FILE, config_json

    if puzzles is None:
        raise UserError("config field warm_start.steps: a warm start needs K&K data (data.kind: kk)")
    w, d = config.warm_start, config.data
    if w.count:
        from logicrl.training.data import generate_puzzles
        from puzzles import with_names

        puzzles = [p for n in d.people for p in generate_puzzles("warm_start.count", n, w.count,
                                                                  seed=d.seed * 1000 + 500 + n,
                                                                  depth=d.depth, width=d.width)]
        if d.names:
            puzzles = [with_names(p, d.names) for p in puzzles]
    out = Path(run_dir) / WARM_START_DIR
    result = warm_start(model, tokenizer, trace_records(puzzles, d.prompt_style), output_dir=out,
                        max_steps=w.steps, learning_rate=w.learning_rate, batch_size=w.batch_size,
                        seed=config.seed, save=True, print_logs=False, progress=config.progress_bar, bf16=config.bf16)
    (out / RECIPE_FILE).write_text(config_json(config), encoding="utf-8")
    return result.model


@dataclass
class WarmStartResult:
    """What a warm start produced."""

    model: object
    """The trained model (in memory; also saved under `output_dir` when `save` is set)."""
    losses: list[tuple[int, float]] = field(default_factory=list)
    """(step, training loss) pairs as logged by the trainer."""
    steps: int = 0
    """Optimizer steps taken."""
    seconds: float = 0.0
    """Wall time of training (tokenisation included)."""
    examples: int = 0
    """Training examples seen (steps x batch size)."""


def sft_config(output_dir: str | Path, *, max_steps: int, learning_rate: float, batch_size: int,
               seed: int, max_length: int, lr_scheduler_type: str = "cosine", warmup_ratio: float = 0.03,
               weight_decay: float = 0.0, logging_steps: int = 10, use_cpu: bool | None = None,
               gradient_accumulation_steps: int = 1, bf16: bool | None = None, **extra):
    """A `trl.SFTConfig` for a warm start: completion-only loss, no checkpoints, no trackers. `bf16`:
    bfloat16 mixed precision (None: on a CUDA GPU with bf16 only)."""
    import torch
    from trl import SFTConfig

    from logicrl.trl_compat import checkpointing_kwargs

    if use_cpu is None:
        use_cpu = not torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        learning_rate=learning_rate,
        lr_scheduler_type=lr_scheduler_type,
        warmup_steps=warmup_ratio,  # transformers 5: a float below 1 is a ratio of max_steps
        weight_decay=weight_decay,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        max_length=max_length,
        completion_only_loss=True,
        packing=False,
        seed=seed,
        data_seed=seed,
        logging_steps=logging_steps,
        save_strategy="no",
        report_to="none",
        use_cpu=use_cpu,
        bf16=bool(bf16) if bf16 is not None else (not use_cpu and torch.cuda.is_bf16_supported()),
        dataloader_num_workers=0,
        disable_tqdm=True,
        # SFTConfig defaults to gradient checkpointing (recomputing activations): off unless asked.
        **checkpointing_kwargs(SFTConfig, extra.pop("activation_checkpointing", False)),
        **extra,
    )


def warm_start(model, tokenizer, records, *, output_dir: str | Path, max_steps: int,
               learning_rate: float = 2e-3, batch_size: int = 32, seed: int = 0, max_length: int = 512,
               save: bool = True, callbacks=None, print_logs: bool = True, progress: bool = True,
               progress_label: str = "warm start", **config_extra) -> WarmStartResult:
    """Fine-tune `model` on `records` (dicts with "prompt" and "completion") with TRL's SFTTrainer.

    Extra columns in the records are dropped. `print_logs=False` drops the trainer's printed log dicts
    (the losses are still returned). `progress` shows a bar over the steps with the ETA and the last
    logged loss. With `save`, the model and tokenizer are written to `output_dir` with `save_pretrained`
    (a directory `load_model_and_tokenizer` accepts). Raises ValueError for no records or no steps.
    """
    from datasets import Dataset
    from trl import SFTTrainer

    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}")
    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in records]
    if not rows:
        raise ValueError("no warm-start records")
    # Only as many rows as the steps can use: tokenising unused rows costs time on small machines.
    needed = min(len(rows), max_steps * batch_size)
    dataset = Dataset.from_list(rows[:needed])
    config = sft_config(output_dir, max_steps=max_steps, learning_rate=learning_rate,
                        batch_size=batch_size, seed=seed, max_length=max_length, **config_extra)
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # training pads on the right; generation wants left
    start = time.perf_counter()
    try:
        from logicrl.training.callbacks import ProgressBar

        bar = [ProgressBar(progress_label, fields=(("loss", "loss"),))] if progress else []
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=[*bar, *(callbacks or [])])
        if not print_logs:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        trainer.train()
    finally:
        tokenizer.padding_side = padding_side
    seconds = time.perf_counter() - start
    losses = [(int(e["step"]), float(e["loss"])) for e in trainer.state.log_history
              if "loss" in e and math.isfinite(float(e["loss"]))]
    model = trainer.model
    if save:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
    return WarmStartResult(model=model, losses=losses, steps=trainer.state.global_step, seconds=seconds,
                           examples=trainer.state.global_step * batch_size)


def completion_loss(model, tokenizer, records) -> float:
    """Mean cross-entropy per completion token of `records` (prompt tokens are not scored)."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for r in records:
            p = tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]
            c = tokenizer(r["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            with torch.no_grad():
                out = model(input_ids=torch.tensor([p + c]), labels=torch.tensor([[-100] * len(p) + c]))
            total += float(out.loss) * len(c)
            count += len(c)
    finally:
        model.train(was_training)
    return total / max(count, 1)
