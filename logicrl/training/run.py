"""`train(config)`: one RL run from a recipe, locally or on Ray Train workers (decided here alone).

    trainer, run_dir = build_trainer(config)   # TRL config, model, data, rewards, callbacks: no training yet
    trainer.train(resume_from_checkpoint=...)  # TRL's loop: rollout, reward, advantage, loss, update
    finish_training(trainer, run_dir, config)  # final/ model, summary

With `ray.num_workers > 0`, `logicrl.ray.train_ray.train_on_ray` starts the workers and each one runs
`ray_worker` below (the same three steps, with Ray's report callback added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from logicrl.config import TrainConfig
from logicrl.training.build import as_config, build_trainer
from logicrl.training.callbacks import METRICS_FILE, read_metrics
from logicrl.training.rundir import RECIPE_FILE, config_json, resolve_resume


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


def train(config) -> TrainResult:
    """Run RL as the recipe (a TrainConfig, dict or YAML path) says; with `ray.num_workers > 0` (outside a
    Ray worker) on Ray Train workers. Raises UserError for a bad recipe (before anything is loaded)."""
    from logicrl.ray.train_ray import in_ray_worker

    config = as_config(config)
    if config.ray.num_workers > 0 and not in_ray_worker():
        from logicrl.ray.train_ray import train_on_ray

        train_on_ray(config, worker=ray_worker)
        return result_from_run_dir(Path(config.output_dir))
    trainer, run_dir = build_trainer(config)
    return run_trainer(trainer, run_dir, config)


def ray_worker(config: TrainConfig, callbacks: list, prepare, checkpoint: str | None, on_start) -> None:
    """One Ray Train worker's run: build with Ray's `callbacks`, `prepare(trainer)` (Ray's
    `prepare_trainer`), resume from Ray's `checkpoint` or else the recipe's `resume`, train, finish.
    `on_start(resume_path)` is called once the checkpoint to resume from is known."""
    trainer, run_dir = build_trainer(config, callbacks)
    trainer = prepare(trainer)
    resume = checkpoint or resolve_resume(config.resume, run_dir)
    on_start(resume)
    _train(trainer, resume)
    finish_training(trainer, run_dir, config)


def run_trainer(trainer, run_dir: Path, config: TrainConfig) -> TrainResult:
    """`trainer.train()` with the recipe's resume setting, then `finish_training`."""
    _train(trainer, resolve_resume(config.resume, run_dir))
    return finish_training(trainer, run_dir, config)


def _train(trainer, resume: str | None) -> None:
    if resume is not None and trainer.curriculum is not None:
        trainer.curriculum.load(resume)  # the curriculum level is saved beside the checkpoint
    trainer.train(resume_from_checkpoint=resume)


def finish_training(trainer, run_dir: Path, config: TrainConfig) -> TrainResult:
    """End-of-run steps (every process calls it): the final model (or adapter) in `<run_dir>/final` with
    the recipe beside it (`logicrl eval` reads its prompt style), the merged model when asked, a summary."""
    from logicrl.fsutil import atomic_write_text

    run_dir = Path(run_dir)
    final_dir = run_dir / "final"
    model = trainer.accelerator.unwrap_model(trainer.model)
    routing = getattr(trainer, "routing", None)
    if routing is None:
        trainer.save_model(str(final_dir))
    elif trainer.accelerator.is_main_process:  # final/adapters/<name>/, final/routing.json, final/serve.sh
        from logicrl.training.adapters import export_adapters

        export_adapters(model, final_dir, routing, base_model=routed_base_model(config, run_dir))
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(str(final_dir))
        atomic_write_text(final_dir / RECIPE_FILE, config_json(config))
        if config.lora.enabled and config.lora.merge_at_end:
            from logicrl.training.lora import save_merged

            save_merged(model, run_dir / "merged", trainer.processing_class)
            atomic_write_text(run_dir / "merged" / RECIPE_FILE, config_json(config))
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
    rows = read_metrics(run_dir / METRICS_FILE)
    last: dict = {}
    for row in rows:
        last.update(row)
    heldout = [r for r in rows if any(k.startswith("heldout/") for k in r)]
    runtime = next((r["train_runtime"] for r in reversed(rows) if "train_runtime" in r), 0.0)
    return TrainResult(run_dir=str(run_dir), model_dir=str(run_dir / "final"), global_step=int(last.get("step", 0)),
                       metrics=last, heldout=heldout, train_runtime=float(runtime))


def _finish_wandb_run(trainer) -> None:
    """Close the wandb run that transformers' callback opened, so its summary is written when `train`
    returns and a second `train` in the same process (a sweep, the demo) starts a run of its own."""
    if "wandb" not in (trainer.args.report_to or []):
        return
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def _find_callback(trainer, name):
    for cb in trainer.callback_handler.callbacks:
        if type(cb).__name__ == name:
            return cb
    return None
