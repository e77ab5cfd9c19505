"""The run directory: where a run keeps its recipe, checkpoints and final model, and how a resume finds them.

    <output_dir>/config.json           the resolved recipe
    <output_dir>/metrics.jsonl         one JSON line per logged step (and held-out evaluation)
    <output_dir>/checkpoint-N/         every `save_steps` (`--resume` continues from the newest)
    <output_dir>/warm_start/           the supervised warm start's model (when the recipe has one)
    <output_dir>/final/                the final model or adapter, with logicrl_recipe.json beside it
"""

from __future__ import annotations

from pathlib import Path

from logicrl.config import TrainConfig
from logicrl.errors import UserError

RECIPE_FILE = "logicrl_recipe.json"
"""The resolved recipe, saved beside every model a run writes (final/, merged/, warm_start/)."""


def config_json(config: TrainConfig) -> str:
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(config), indent=2, default=str)


def resolve_resume(resume: str | None, run_dir: Path) -> str | None:
    """None, "last" (newest checkpoint in the run dir) or a checkpoint path -> a checkpoint path or None.
    Raises UserError when there is nothing to resume from."""
    if not resume:
        return None
    if resume == "last":
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(run_dir)) if Path(run_dir).is_dir() else None
        if last is None:
            raise UserError(f"--resume: no checkpoint-* directory in {run_dir}")
        return last
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"--resume: {resume} is not a checkpoint directory (no trainer_state.json)")
    return str(path)



def read_recipe(model_dir: str | Path) -> dict | None:
    """The recipe that trained the model in `model_dir` (a dict), or None for a model no run of ours wrote:
    `RECIPE_FILE` beside the weights, else the run directory's config.json one level up."""
    import json

    model_dir = Path(model_dir)
    for path in (model_dir / RECIPE_FILE, model_dir.parent / "config.json"):
        if path.is_file():
            try:
                recipe = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(recipe, dict) and isinstance(recipe.get("data"), dict) and "algorithm" in recipe:
                return recipe
    return None
