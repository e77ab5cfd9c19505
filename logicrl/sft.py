"""Supervised warm start on reasoning traces with TRL's SFTTrainer.

A freshly initialised model has nothing for RL to reinforce: it never produces the answer format, so
every reward is the same. A short supervised phase on prompt/completion pairs (loss on the completion
only) teaches the format and a first version of the procedure; RL then improves on it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path


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
               weight_decay: float = 0.0, logging_steps: int = 10, use_cpu: bool | None = None, **extra):
    """A `trl.SFTConfig` for a warm start: completion-only loss, no checkpoints, no trackers."""
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
        gradient_accumulation_steps=1,
        max_length=max_length,
        completion_only_loss=True,
        packing=False,
        seed=seed,
        data_seed=seed,
        logging_steps=logging_steps,
        save_strategy="no",
        report_to="none",
        use_cpu=use_cpu,
        bf16=False if use_cpu else torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        # SFTConfig defaults to gradient checkpointing (recomputing activations): off unless asked.
        **checkpointing_kwargs(SFTConfig, extra.pop("activation_checkpointing", False)),
        **extra,
    )


def warm_start(model, tokenizer, records, *, output_dir: str | Path, max_steps: int,
               learning_rate: float = 2e-3, batch_size: int = 32, seed: int = 0, max_length: int = 512,
               save: bool = True, callbacks=None, print_logs: bool = True, **config_extra) -> WarmStartResult:
    """Fine-tune `model` on `records` (dicts with "prompt" and "completion") with TRL's SFTTrainer.

    Extra columns in the records are dropped. `print_logs=False` drops the trainer's printed log dicts
    (the losses are still returned). With `save`, the model and tokenizer are written to
    `output_dir` with `save_pretrained` (a directory `load_model_and_tokenizer` accepts).
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
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=callbacks)
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
