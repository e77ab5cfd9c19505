"""A few RL steps of every algorithm on the embedded model (CPU): finite loss, parameters change,
rewards and their components logged in metrics.jsonl."""

from __future__ import annotations

import math

import pytest
import torch
from test_train_utils import read_metrics, small_recipe

pytestmark = pytest.mark.slow


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _train(recipe):
    from logicrl.training import build_trainer, run_trainer

    trainer, run_dir = build_trainer(recipe)
    before = _snapshot(trainer.model)
    result = run_trainer(trainer, run_dir, trainer_config(recipe))
    after = _snapshot(trainer.model)
    return trainer, result, before, after


def trainer_config(recipe):
    from logicrl.config import load_config

    return load_config(recipe)


@pytest.mark.parametrize(
    "algorithm, loss_type",
    [("grpo", "dapo"), ("grpo", "dr_grpo"), ("reinforce_pp", None), ("ppo", None)],
)
def test_algorithm_trains(tmp_path, algorithm, loss_type):
    recipe = small_recipe(tmp_path / "run", algorithm=algorithm, loss_type=loss_type)
    trainer, result, before, after = _train(recipe)
    assert result.global_step == 2
    assert trainer.args.loss_type == (loss_type or trainer.algorithm.default_loss_type)
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert changed, "no parameter changed"
    rows = read_metrics(tmp_path / "run")
    steps = [r for r in rows if "loss" in r and "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for row in steps:
        assert math.isfinite(row["loss"]) and math.isfinite(row["reward"])
        assert "rewards/kk/mean" in row and "rewards/space_reward/mean" in row
        assert "kk/format" in row and "kk/answer" in row  # components from the reward's breakdown
        assert "accuracy" in row and "accuracy/n3" in row
    assert (tmp_path / "run" / "final" / "config.json").is_file()
    if algorithm == "reinforce_pp":
        assert trainer.beta == pytest.approx(0.001) and any("kl" in r for r in steps)
    if algorithm == "ppo":
        assert any("ppo/value_loss" in r for r in steps)
        assert (tmp_path / "run" / "final" / "value_head.pt").is_file()
        assert trainer.critic.linear.weight.abs().sum() > 0  # the value head learned (it starts at zero)


@pytest.mark.parametrize("algorithm", ["grpo", "reinforce_pp", "ppo"])
def test_algorithm_raises_a_learnable_reward(tmp_path, algorithm):
    """On a reward the model can easily move (the share of spaces in its output), a dozen steps raise the
    mean reward by at least 25% for every algorithm: the updates point the right way."""
    from logicrl.training import train

    train(small_recipe(tmp_path / "run", algorithm=algorithm, max_steps=12, learning_rate=1e-2,
                       per_device_train_batch_size=16, num_generations=8,
                       rewards=[{"name": "test_train_utils:space_reward"}]))
    rewards = [r["reward"] for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert len(rewards) == 12
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > 1.25 * first, rewards
