"""Seconds per RL step: `logicrl train` against a bare TRL GRPOTrainer, same model, data, rewards and
settings, in one process, alternating runs. Target: our overhead at most 10%.

    python benchmarks/bench_train_overhead.py [--steps 8] [--repeats 3] [--algorithm grpo]

What is timed: every optimizer step of `trainer.train()` (generation, rewards, advantages, loss, optimizer
step, and all callbacks: metrics.jsonl, progress bar, reward-component logging), from the start of one step
to the start of the next, as wall time and as this process's CPU time. On a shared machine other jobs
inflate wall times; with one torch thread (the default) the CPU time is the work done, the steadier figure.
Model loading and data building are reported separately (once per run, not per step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def recipe(out_dir, steps, algorithm):
    return {
        "model": "embedded",
        "output_dir": out_dir,
        "algorithm": algorithm,
        "max_steps": steps,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 64,
        "learning_rate": 1e-4,
        "save_steps": 10_000,
        "seed": 0,
        "data": {"people": [3], "count": 64, "prompt_style": "compact"},
        "rewards": [{"name": "kk", "preset": "logic_rl"}],
        "progress_bar": True,
        "plot": False,
    }


def step_timer():
    """A callback recording each optimizer step's wall time and this process's CPU time (step begin to the
    next step begin). With one torch thread the CPU time is the work done, whatever else the machine runs."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.marks = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.marks.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, args, state, control, **kwargs):
            self.marks.append((time.perf_counter(), time.process_time()))

        def durations(self):
            return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(self.marks, self.marks[1:])]

    return StepTimer()


def run_logicrl(steps, algorithm):
    from logicrl.training import build_trainer

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        timer = step_timer()
        trainer, _ = build_trainer(recipe(out, steps, algorithm), callbacks=[timer])
        setup = time.perf_counter() - start
        trainer.train()
        return timer.durations(), setup


def run_bare_trl(steps, algorithm):
    """The same run written directly against TRL: GRPOTrainer, GRPOConfig, the same dataset and reward."""
    from trl import GRPOConfig, GRPOTrainer

    import rewards
    from logicrl.config import load_config
    from logicrl.models import load_model_and_tokenizer
    from logicrl.training.data import build_dataset

    with tempfile.TemporaryDirectory() as out:
        config = load_config(recipe(out, steps, algorithm))
        start = time.perf_counter()
        model, tokenizer = load_model_and_tokenizer("embedded")
        dataset, _ = build_dataset(config, tokenizer)
        args = GRPOConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=8, num_generations=4,
                          max_completion_length=64, learning_rate=1e-4, save_strategy="no", seed=0, data_seed=0,
                          use_cpu=True, bf16=False, report_to=[], logging_steps=1, loss_type="dapo", beta=0.0,
                          lr_scheduler_type="constant", dataloader_num_workers=0,
                          activation_checkpointing=False)  # as logicrl train does by default
        timer = step_timer()
        trainer = GRPOTrainer(model=model, reward_funcs=[rewards.get("kk", preset="logic_rl")], args=args,
                              train_dataset=dataset, processing_class=tokenizer, callbacks=[timer])
        setup = time.perf_counter() - start
        trainer.train()
        return timer.durations(), setup


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    run_bare_trl(1, "grpo")  # warm caches (embedded model build, imports) outside the timing
    ours, bare, ours_setup, bare_setup = [], [], [], []
    for i in range(args.repeats):
        for name, fn, per_step, setups in (("trl", run_bare_trl, bare, bare_setup),
                                           ("logicrl", run_logicrl, ours, ours_setup)):
            durations, setup = fn(args.steps, "grpo")
            per_step.extend(durations)
            setups.append(setup)
            wall = [w for w, _ in durations]
            cpu = [c for _, c in durations]
            print(f"repeat {i + 1}: {name:8s} median {statistics.median(wall):.3f} s/step wall, "
                  f"{statistics.median(cpu):.3f} CPU-s/step (setup {setup:.2f} s)", flush=True)

    def quartile(values):
        return statistics.quantiles(values, n=4)[0]

    print()
    print(f"embedded model, GRPO, {args.steps} steps x {args.repeats} repeats, 8 completions/step, 64 tokens, "
          f"{args.threads} torch thread(s)")
    for kind, index in (("wall s/step", 0), ("CPU s/step", 1)):
        b = [d[index] for d in bare]
        o = [d[index] for d in ours]
        print(f"{kind:22s} {'min':>8s} {'q25':>8s} {'median':>8s}")
        for name, values in (("bare TRL GRPOTrainer", b), ("logicrl train", o)):
            print(f"{name:22s} {min(values):8.3f} {quartile(values):8.3f} {statistics.median(values):8.3f}")
        for label, stat in (("min", min), ("q25", quartile), ("median", statistics.median)):
            print(f"overhead, {kind} ({label:6s}): {(stat(o) / stat(b) - 1) * 100:+.1f}% (target <= 10%)")
    print(f"setup (median): bare {statistics.median(bare_setup):.2f} s, logicrl {statistics.median(ours_setup):.2f} s")


if __name__ == "__main__":
    main()
