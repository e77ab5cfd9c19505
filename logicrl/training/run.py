"""`train(config)`: one RL run from a recipe, locally or on Ray Train workers (decided here alone).

    trainer, run_dir = build_trainer(config)   # TRL config, run folder (lock), model, data, rewards, callbacks
    trainer.train(resume_from_checkpoint=...)  # TRL's loop: rollout, reward, advantage, loss, update
    finish_training(trainer, run_dir, config)  # final/ model, summary

With `ray.num_workers > 0`, the driver opens the run folder (its lock, checks and marker) and
`logicrl.ray.train_ray.train_on_ray` starts the workers; each one runs `ray_worker` below (the same three
steps, with Ray's report callback added).

SIGTERM during `trainer.train()` (a scheduler's preemption) finishes the current step, saves a checkpoint
and raises `logicrl.errors.Terminated`; if that takes longer than `LOGICRL_STOP_GRACE_S` seconds (default
60), training is interrupted where it is, and the last complete checkpoint stays the one `--resume` takes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from logicrl.config import TrainConfig
from logicrl.errors import Terminated, UserError
from logicrl.training.build import as_config, build_trainer
from logicrl.training.callbacks import METRICS_FILE, read_metrics
from logicrl.training.rundir import (
    FINAL_DIR,
    RECIPE_FILE,
    RunComplete,
    config_json,
    global_step_of,
    notice,
    open_run,
    replacing_dir,
    resolve_resume,
)

STOP_GRACE_ENV = "LOGICRL_STOP_GRACE_S"
"""Seconds a SIGTERM-ed run may take to finish its step and save before it is interrupted (default 60)."""


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: str
    """The run directory (checkpoints, metrics.jsonl, curves.png, final/)."""
    model_dir: str
    """The final model (or LoRA adapter) directory, loadable with `load_model_and_tokenizer`."""
    global_step: int
    """Optimizer steps done in total (including steps of a resumed run)."""
    metrics: dict = field(default_factory=dict)
    """The last logged value of every metric."""
    heldout: list[dict] = field(default_factory=list)
    """Held-out evaluations, one per evaluation step."""
    train_runtime: float = 0.0
    """Seconds of `trainer.train()`."""
    already_complete: bool = False
    """`--resume` found the run complete (max_steps reached, final/ written) and changed nothing."""


def train(config, overwrite: bool = False) -> TrainResult:
    """Run RL as the recipe (a TrainConfig, dict or YAML path) says; with `ray.num_workers > 0` (outside a
    Ray worker) on Ray Train workers.

    A fresh run (no `resume`) into a folder holding another run's files needs `overwrite=True`, which
    deletes that run's outputs first. Raises UserError for a bad recipe or run folder (before anything is
    loaded), `Terminated` when stopped by SIGTERM (after saving a checkpoint when it could). `--resume` of
    a complete run returns its result with `already_complete=True` and changes nothing.
    """
    from logicrl.ray.train_ray import in_ray_worker

    config = as_config(config)
    try:
        if config.ray.num_workers > 0 and not in_ray_worker():
            return _train_on_ray(config, overwrite)
        trainer, run_dir = build_trainer(config, overwrite=overwrite)
    except RunComplete as done:
        notice(str(done))
        result = result_from_run_dir(done.run_dir)
        result.global_step, result.already_complete = done.step, True
        return result
    return run_trainer(trainer, run_dir, config)


def _train_on_ray(config: TrainConfig, overwrite: bool) -> TrainResult:
    """The driver of a Ray Train run holds the run folder (lock, checks, marker) while the workers train."""
    from logicrl.ray.train_ray import train_on_ray
    from logicrl.training.build import cheap_checks

    cheap_checks(config)
    handle = open_run(config, overwrite=overwrite)  # raises RunComplete for a finished run
    try:
        train_on_ray(config, worker=ray_worker)
    finally:
        handle.close()
    return result_from_run_dir(Path(config.output_dir))


def ray_worker(config: TrainConfig, callbacks: list, prepare, checkpoint: str | None, on_start) -> None:
    """One Ray Train worker's run: build with Ray's `callbacks`, `prepare(trainer)` (Ray's
    `prepare_trainer`), resume from Ray's `checkpoint` or else the recipe's `resume`, train, finish.
    `on_start(resume_path)` is called once the checkpoint to resume from is known. The driver holds the
    run folder's lock; the workers share the folder (rank 0 writes metrics, checkpoints and final/)."""
    trainer, run_dir = build_trainer(config, callbacks)
    trainer = prepare(trainer)
    resume = checkpoint or resolve_resume(config.resume, run_dir, quiet=True)
    on_start(resume)
    _train(trainer, resume)
    finish_training(trainer, run_dir, config)


def run_trainer(trainer, run_dir: Path, config: TrainConfig) -> TrainResult:
    """`trainer.train()` from the checkpoint `build_trainer` chose (SIGTERM: save at the end of the step
    and raise `Terminated`), then `finish_training`; the run folder's lock is released at the end."""
    run = getattr(trainer, "logicrl_run", None)
    resume = run.resume if run is not None else resolve_resume(config.resume, run_dir)
    stop = StopOnSignal()
    trainer.add_callback(stop)
    try:
        with stop.installed():
            _train(trainer, resume)
        if stop.requested and trainer.state.global_step < trainer.args.max_steps:
            step = trainer.state.global_step
            saved = Path(run_dir) / f"checkpoint-{step}"
            where = f"checkpoint-{step} saved" if saved.is_dir() else "no checkpoint saved"
            raise Terminated(f"stopped by SIGTERM after step {step} ({where} in {run_dir}); continue with --resume")
        return finish_training(trainer, run_dir, config)
    finally:
        if run is not None:
            run.close()


def _train(trainer, resume: str | None) -> None:
    if resume is not None and trainer.curriculum is not None:
        trainer.curriculum.load(resume)  # the curriculum level is saved beside the checkpoint
    if resume is not None and global_step_of(resume) >= trainer.args.max_steps:
        # Killed after its last checkpoint but before final/ was written: finish from the checkpoint
        # (transformers' loop would train one more step).
        from logicrl.trl_compat import load_checkpoint_weights

        load_checkpoint_weights(trainer, resume)
        trainer.state.global_step = global_step_of(resume)
        return
    trainer.train(resume_from_checkpoint=resume)


class StopOnSignal(TrainerCallback):
    """SIGTERM during training: finish the current step, save a checkpoint, stop (`requested` is set).

    A second SIGTERM, or `LOGICRL_STOP_GRACE_S` seconds without reaching the end of the step and the save,
    raises `Terminated` in the main thread wherever training is (an interrupted save is left marked
    incomplete, and the last complete checkpoint is what `--resume` takes). Only the main thread can
    handle signals: elsewhere (a Ray Train worker's training thread) this does nothing."""

    HARD_EXIT_AFTER_S = 10.0
    """Seconds after the grace period at which the process exits (143) if raising did not stop it (a
    thread stuck in C code never returns to Python)."""

    def __init__(self, grace_s: float | None = None):
        if grace_s is None:
            try:
                grace_s = float(os.environ.get(STOP_GRACE_ENV, "60"))
            except ValueError:
                raise UserError(f"{STOP_GRACE_ENV} must be a number of seconds, got "
                                f"{os.environ[STOP_GRACE_ENV]!r}") from None
        self.grace_s = grace_s
        self.requested = False
        self._timers: list[threading.Timer] = []

    def installed(self):
        import contextlib

        @contextlib.contextmanager
        def scope():
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = signal.signal(signal.SIGTERM, self._handle)
            try:
                yield
            finally:
                signal.signal(signal.SIGTERM, previous)
                for timer in self._timers:
                    timer.cancel()

        return scope()

    def _handle(self, signum, frame):
        if self.requested:  # a second SIGTERM, or the grace period is over: stop here
            raise Terminated("terminated by SIGTERM before the step and its checkpoint were finished; the last "
                             "complete checkpoint is kept (continue with --resume)")
        self.requested = True
        print(f"logicrl: SIGTERM: finishing this step and saving a checkpoint (at most {self.grace_s:.0f} s), "
              f"then stopping", file=sys.stderr, flush=True)
        main_thread = threading.main_thread().ident
        # Sent to the main thread itself, the signal also interrupts a blocking call (sleep, I/O wait).
        self._timers = [threading.Timer(self.grace_s, signal.pthread_kill, args=(main_thread, signal.SIGTERM)),
                        threading.Timer(self.grace_s + self.HARD_EXIT_AFTER_S, _hard_exit)]
        for timer in self._timers:
            timer.daemon = True
            timer.start()

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True


def _hard_exit() -> None:
    print("logicrl: still running after SIGTERM and its grace period: exiting now; the last complete "
          "checkpoint is kept (continue with --resume)", file=sys.stderr, flush=True)
    os._exit(Terminated.exit_code)


def finish_training(trainer, run_dir: Path, config: TrainConfig) -> TrainResult:
    """End-of-run steps (every process calls it): the final model (or adapter) in `<run_dir>/final` with
    the recipe beside it (`logicrl eval` reads its prompt style), the merged model when asked, a summary.
    final/ (and merged/) are written beside and renamed into place, so they are whole or absent."""
    from logicrl.fsutil import atomic_write_text

    run_dir = Path(run_dir)
    final_dir = run_dir / FINAL_DIR
    acc = trainer.accelerator
    model = acc.unwrap_model(trainer.model)
    routing = getattr(trainer, "routing", None)
    with replacing_dir(final_dir, acc.is_main_process, acc.wait_for_everyone) as tmp:
        if routing is None:
            trainer.save_model(str(tmp))  # every process: DeepSpeed gathers the shards
        elif acc.is_main_process:  # final/adapters/<name>/, final/routing.json, final/serve.sh
            from logicrl.training.adapters import export_adapters

            export_adapters(model, tmp, routing, base_model=routed_base_model(config, run_dir),
                            installed_at=final_dir)
        if acc.is_main_process:
            trainer.processing_class.save_pretrained(str(tmp))
            atomic_write_text(tmp / RECIPE_FILE, config_json(config))
    if acc.is_main_process and config.lora.enabled and config.lora.merge_at_end:
        from logicrl.training.lora import save_merged

        with replacing_dir(run_dir / "merged") as tmp:
            save_merged(model, tmp, trainer.processing_class)
            atomic_write_text(tmp / RECIPE_FILE, config_json(config))
    logger = _find_callback(trainer, "MetricsLogger")
    heldout = _find_callback(trainer, "HeldoutEvalCallback")
    runtime = next((e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e), 0.0)
    _finish_wandb_run(trainer)
    return TrainResult(
        run_dir=str(run_dir),
        model_dir=str(final_dir),
        global_step=trainer.state.global_step,
        metrics=dict(logger.last) if logger else {},
        heldout=list(heldout.results) if heldout else [],
        train_runtime=float(runtime),
    )


def routed_base_model(config: TrainConfig, run_dir: Path) -> str:
    """The base the routed adapters sit on: the warm start's model when there was one, else the recipe's model
    (the embedded model as its cached directory)."""
    from logicrl.models import resolve_model_path

    warm = Path(run_dir) / "warm_start"
    if config.warm_start.steps > 0 and (warm / "config.json").is_file():
        return str(warm.resolve())
    return resolve_model_path(config.model)


def result_from_run_dir(run_dir: Path) -> TrainResult:
    """A TrainResult read back from a run directory (after Ray Train workers wrote it)."""
    rows = read_metrics(Path(run_dir) / METRICS_FILE)
    last: dict = {}
    for row in rows:
        last.update(row)
    heldout = [r for r in rows if any(k.startswith("heldout/") for k in r)]
    runtime = next((r["train_runtime"] for r in reversed(rows) if "train_runtime" in r), 0.0)
    return TrainResult(run_dir=str(run_dir), model_dir=str(Path(run_dir) / FINAL_DIR),
                       global_step=int(last.get("step", 0)), metrics=last, heldout=heldout,
                       train_runtime=float(runtime))


def _finish_wandb_run(trainer) -> None:
    """Close the wandb run that transformers' callback opened, so its summary is written when `train`
    returns and a second `train` in the same process (a sweep, the demo) starts a run of its own."""
    if "wandb" not in (trainer.args.report_to or []):
        return
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def _find_callback(trainer, name):
    for cb in trainer.callback_handler.callbacks:
        if type(cb).__name__ == name:
            return cb
    return None
