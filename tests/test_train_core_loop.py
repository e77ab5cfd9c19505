"""The seams of one RL step: the advantage hook for every algorithm (parity with TRL's own GRPO
advantages), custom algorithms from a recipe, the data-to-reward columns, reward options, and the
TRL internals logicrl relies on."""

from __future__ import annotations

import pytest
import torch
from test_train_utils import read_metrics, small_recipe

from logicrl.errors import UserError


def _batch(trainer, prompts=2):
    g = trainer.num_generations
    return [trainer.train_dataset[i] for i in range(prompts) for _ in range(g)]


def test_trl_still_has_what_logicrl_relies_on(tmp_path):
    """Fails loudly when a TRL upgrade renames or re-signs a private method we override, or drops an
    attribute or output key we read."""
    from logicrl.training import build_trainer
    from logicrl.trl_compat import SCORED_OUTPUT_KEYS, TRAINER_ATTRIBUTES, check_trl

    assert check_trl() == []
    trainer, _ = build_trainer(small_recipe(tmp_path / "run"))
    for name in TRAINER_ATTRIBUTES:
        assert hasattr(trainer, name), name
    trainer.model.train()
    out = trainer._generate_and_score_completions(_batch(trainer))
    assert set(SCORED_OUTPUT_KEYS) <= set(out)


@pytest.mark.slow
def test_grpo_estimator_reproduces_trls_advantages(tmp_path):
    """Our group-relative estimator gives exactly TRL 1.16's advantages, for each scale_rewards setting,
    both multi-objective aggregations, and two rewards with different weights."""
    from logicrl.training import build_trainer

    trainer, _ = build_trainer(small_recipe(tmp_path / "run", num_generations=4, per_device_train_batch_size=8))
    assert list(trainer.reward_weights) == [1.0, 4.0]
    trainer.model.train()
    compared = 0
    for aggregation in ("sum_then_normalize", "normalize_then_sum"):
        for scale in ("group", "batch", "none"):
            trainer.scale_rewards = trainer.recipe.scale_rewards = scale
            trainer.multi_objective_aggregation = aggregation
            trainer.recipe.trl = {"multi_objective_aggregation": aggregation}
            out = trainer._generate_and_score_completions(_batch(trainer))
            ours, trls = out["advantages"], trainer.last_trl_advantages
            assert ours.shape == trls.shape == (8,)
            assert torch.allclose(ours, trls, atol=1e-5), (aggregation, scale, ours, trls)
            compared += int(trls.abs().sum() > 0)
    assert compared >= 4  # most settings saw non-trivial advantages


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["reinforce_pp", "ppo"])
def test_token_level_estimators_are_what_the_loss_receives(tmp_path, algorithm):
    """The hook hands the estimator the weighted rewards and completion mask of the batch; the loss gets
    its (B, T) advantages (and, for PPO, the critic's values and returns)."""
    from logicrl.algorithms import AdvantageBatch
    from logicrl.training import build_trainer

    trainer, _ = build_trainer(small_recipe(tmp_path / "run", algorithm=algorithm))
    trainer.model.train()
    out = trainer._generate_and_score_completions(_batch(trainer))
    per_func = trainer._last_rewards_per_func
    rewards = (per_func * trainer.reward_weights.unsqueeze(0)).nansum(dim=1)
    mask = out["completion_mask"].float()
    batch = AdvantageBatch(rewards, per_func, trainer.reward_weights, mask, trainer.num_generations,
                           out.get("old_values"))
    expected, returns = trainer.algorithm.estimator(batch, trainer.recipe)
    assert out["advantages"].shape == mask.shape
    assert torch.allclose(out["advantages"], expected, atol=1e-6)
    masked = out["advantages"][mask.bool()]
    if algorithm == "reinforce_pp":
        assert masked.mean().abs() < 1e-4  # whitened over the batch's tokens
    else:
        assert torch.allclose(out["returns"], returns) and out["old_values"].shape == mask.shape


@pytest.mark.slow
def test_custom_estimator_given_by_path_trains(tmp_path):
    """`algorithm: "package.module:function"` selects a plain function: its advantages reach the loss."""
    from logicrl.training import build_trainer, run_trainer

    recipe = small_recipe(tmp_path / "run", algorithm="custom_algorithms:sign_advantages")
    trainer, run_dir = build_trainer(recipe)
    trainer.model.train()
    out = trainer._generate_and_score_completions(_batch(trainer))
    assert set(out["advantages"].tolist()) <= {-1.0, 0.0, 1.0}
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    from logicrl.config import load_config

    result = run_trainer(trainer, run_dir, load_config(recipe))
    assert result.global_step == 2
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())


@pytest.mark.parametrize("estimator, says", [
    ("wrong_shape_advantages", "shape"),
    ("nan_advantages", "not finite"),
    ("bare_advantages", "(advantages, returns)"),
])
def test_a_broken_estimator_is_named_not_trained_on(tmp_path, estimator, says):
    """A custom estimator's bad output used to end in an IndexError deep in TRL (wrong shape), or, with NaN
    advantages, to train on: every weight of the final model became NaN and the run reported success."""
    from logicrl.training import train

    with pytest.raises(UserError, match=f"custom_algorithms:{estimator}") as info:
        train(small_recipe(tmp_path / "run", algorithm=f"custom_algorithms:{estimator}", max_steps=1))
    assert says in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run" / "final").exists()


def test_algorithm_is_validated_against_the_registry_not_a_fixed_list(tmp_path):
    import custom_algorithms  # noqa: F401 (registers "centred")

    from logicrl.config import load_config

    assert load_config(small_recipe(tmp_path, algorithm="centred")).algorithm == "centred"
    assert load_config(small_recipe(tmp_path, algorithm="custom_algorithms:sign_advantages"))
    with pytest.raises(UserError, match="config field algorithm: unknown algorithm 'sarsa'"):
        load_config(small_recipe(tmp_path, algorithm="sarsa"))


def test_trl_settings_are_checked_before_the_model_loads(tmp_path, monkeypatch):
    import logicrl.models
    from logicrl.training import build_trainer

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before TRL's settings were checked")

    monkeypatch.setattr(logicrl.models, "load_model_and_tokenizer", no_model)
    with pytest.raises(UserError, match="TRL rejected the settings: generation_batch_size"):
        build_trainer(small_recipe(tmp_path / "run", trl={"generation_batch_size": 6}))
    assert not (tmp_path / "run").exists()


def test_puzzles_with_other_role_words_train_with_parseable_answers(tmp_path):
    """The dataset carries each puzzle's role words to the reward. Without them, a set made with role
    words outside the known pairs (`logicrl puzzles generate --roles foo/bar`) had its answers graded
    "unparseable" whenever the solution used one role only (the pair cannot be read off it)."""
    from logicrl.config import load_config
    from logicrl.models import load_tokenizer
    from logicrl.training.data import build_dataset
    from logicrl.training.rewards import build_rewards
    from puzzles import generate_kk, save_kk
    from puzzles.compact import compact_completion
    from puzzles.render import solution_text_format

    path = tmp_path / "foobar.jsonl"
    made = generate_kk(3, 40, seed=4, roles=("foo", "bar"))
    save_kk(made, path)
    config = load_config(small_recipe(tmp_path / "run", data={"path": str(path)},
                                      rewards=[{"name": "kk", "preset": "partial"}]))
    dataset, puzzles = build_dataset(config, load_tokenizer("embedded"))
    assert dataset["roles"][0] == ["foo", "bar"]
    (wrapped,), _ = build_rewards(config)
    reward = wrapped.__wrapped__  # the RewardFn under the component-logging wrapper
    rows = dataset.to_dict()
    # Every answer wrong for every person: parseable, so the partial preset's -1.5 (unparseable: -2).
    wrong = [compact_completion(p, shortcut=True, answer=solution_text_format(p.names, [not s for s in p.solution],
                                                                               p.roles)) for p in puzzles]
    columns = {k: v for k, v in rows.items() if k != "prompt"}
    parts = reward.breakdown(rows["prompt"], wrong, **columns)
    assert {r["answer"] for r in parts} == {-1.5}
    one_role = [p for p in puzzles if len(set(p.solution)) == 1]
    assert one_role, "the check needs puzzles whose solution uses one role only"
    without_roles = reward.breakdown(rows["prompt"], wrong, **{k: v for k, v in columns.items() if k != "roles"})
    assert sum(r["answer"] == -2.0 for r in without_roles) == len(one_role)  # what training saw before


@pytest.mark.slow
def test_log_components_false_is_honoured_in_training(tmp_path):
    from logicrl.training import train

    train(small_recipe(tmp_path / "run", max_steps=1,
                       rewards=[{"name": "kk", "preset": "logic_rl", "log_components": False}]))
    (row,) = [r for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert "rewards/kk/mean" in row and "accuracy" in row
    assert not [k for k in row if k.startswith("kk/")], row
