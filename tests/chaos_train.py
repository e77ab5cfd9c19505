"""Run `logicrl train` and SIGKILL it at an injected point (the chaos test's victim process).

    python tests/chaos_train.py POINT STEP -- <logicrl train arguments>

POINT is where the process kills itself (SIGKILL, so nothing of ours or Python's runs afterwards) while
training step STEP (1-based) or saving its checkpoint:

    mid_step      after the gradient of step STEP is computed, before the optimizer step
    after_log     right after step STEP's line is appended to metrics.jsonl (its checkpoint not yet begun)
    mid_save      inside checkpoint-STEP's save: the model is written, optimizer and trainer state are not
    before_commit checkpoint-STEP is fully written except that its saving marker is still there
    in_final      while final/ is being written (STEP is ignored)
    slow_step     no kill: step STEP hangs (10 minutes) after creating `<output_dir>/../slow_step`
    none          no kill: train to the end
"""

from __future__ import annotations

import os
import signal
import sys


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, step: int) -> None:
    import transformers

    from logicrl.training import callbacks, rundir
    from logicrl.trl_compat import LogicRLTrainer

    if point == "mid_step":
        original = LogicRLTrainer.training_step

        def training_step(self, *args, **kwargs):
            loss = original(self, *args, **kwargs)
            if self.state.global_step + 1 == step:
                die()
            return loss

        LogicRLTrainer.training_step = training_step
    elif point == "slow_step":
        original_step = LogicRLTrainer.training_step

        def slow_training_step(self, *args, **kwargs):
            if self.state.global_step + 1 == step:
                from pathlib import Path

                (Path(self.args.output_dir).parent / "slow_step").write_text("hanging\n")
                import time

                time.sleep(600)
            return original_step(self, *args, **kwargs)

        LogicRLTrainer.training_step = slow_training_step
    elif point == "after_log":
        original_write = callbacks.MetricsLogger.write

        def write(self, record, is_main=True):
            original_write(self, record, is_main)
            if record.get("step") == step and "loss" in record:
                die()

        callbacks.MetricsLogger.write = write
    elif point == "mid_save":
        original_save = transformers.Trainer._save_optimizer_and_scheduler

        def save_optimizer_and_scheduler(self, output_dir):
            if self.state.global_step == step:
                die()
            return original_save(self, output_dir)

        transformers.Trainer._save_optimizer_and_scheduler = save_optimizer_and_scheduler
    elif point == "before_commit":
        original_commit = rundir.commit_checkpoint

        def commit_checkpoint(folder):
            if rundir.checkpoint_step(folder) == step:
                die()
            return original_commit(folder)

        rundir.commit_checkpoint = commit_checkpoint
    elif point == "in_final":
        original_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if str(src).endswith(".final.tmp"):
                die()
            return original_replace(src, dst, *args, **kwargs)

        os.replace = replace
    elif point != "none":
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    point, step, sep, *train_args = sys.argv[1:]
    assert sep == "--", "usage: chaos_train.py POINT STEP -- ARGS"
    install(point, int(step))
    from logicrl.cli import main

    sys.exit(main(["train", *train_args]))
