"""The advantage estimators (logicrl.algorithms), checked numerically against hand computations."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from logicrl.algorithms import AdvantageBatch, get_algorithm
from logicrl.algorithms.grpo import grpo_advantages
from logicrl.algorithms.ppo import clipped_value_loss, gae, gae_advantages
from logicrl.algorithms.reinforce_pp import reinforce_pp_advantages, reinforce_pp_returns
from logicrl.algorithms.whiten import masked_whiten

NAN = float("nan")


def _batch(rewards, lengths=None, groups=2, values=None, per_func=None, weights=None):
    rewards = torch.tensor(rewards, dtype=torch.float32)
    lengths = lengths or [1] * len(rewards)
    width = max(lengths)
    mask = torch.tensor([[1.0] * n + [0.0] * (width - n) for n in lengths])
    if per_func is None:
        per_func = rewards.unsqueeze(1)
        weights = torch.ones(1)
    return AdvantageBatch(rewards=rewards, rewards_per_func=torch.tensor(per_func, dtype=torch.float32)
                          if not isinstance(per_func, torch.Tensor) else per_func,
                          reward_weights=torch.tensor(weights, dtype=torch.float32)
                          if not isinstance(weights, torch.Tensor) else weights,
                          completion_mask=mask, num_generations=groups,
                          values=None if values is None else torch.tensor(values, dtype=torch.float32))


def _config(scale_rewards="group", **ppo):
    return SimpleNamespace(scale_rewards=scale_rewards, trl={},
                           ppo=SimpleNamespace(**{"gamma": 1.0, "lam": 0.95, "whiten_advantages": False, **ppo}))


def test_grpo_group_relative_by_hand():
    # Two groups of three: (1, 2, 3) and (0, 0, 6).
    batch = _batch([1, 2, 3, 0, 0, 6], groups=3)
    adv, ret = grpo_advantages(batch, _config("group"))
    assert torch.equal(adv, ret) and adv.shape == (6,)
    # group 1: mean 2, unbiased std 1; group 2: mean 2, std sqrt(((2)^2*2 + 4^2) / 2) = sqrt(12)
    expected = [-1 / 1.0001, 0.0, 1 / 1.0001, -2 / (math.sqrt(12) + 1e-4), -2 / (math.sqrt(12) + 1e-4),
                4 / (math.sqrt(12) + 1e-4)]
    assert adv.tolist() == pytest.approx(expected, rel=1e-6)


def test_grpo_scale_none_only_subtracts_the_group_mean_and_batch_uses_the_batch_std():
    batch = _batch([1, 2, 3, 0, 0, 6], groups=3)
    none, _ = grpo_advantages(batch, _config("none"))
    assert none.tolist() == pytest.approx([-1, 0, 1, -2, -2, 4])
    batch_std = torch.tensor([1.0, 2, 3, 0, 0, 6]).std().item()  # unbiased over the batch
    scaled, _ = grpo_advantages(batch, _config("batch"))
    assert scaled.tolist() == pytest.approx([x / (batch_std + 1e-4) for x in (-1, 0, 1, -2, -2, 4)], rel=1e-6)


def test_grpo_leaves_unscorable_completions_out_with_zero_advantage():
    batch = _batch([1, NAN, 3, 5], groups=2)
    adv, _ = grpo_advantages(batch, _config("none"))
    assert adv.tolist() == pytest.approx([0.0, 0.0, -1.0, 1.0])  # group 1's mean is 1 (NaN left out)


def test_grpo_normalize_then_sum_normalises_each_function_within_its_group():
    per_func = [[1.0, 10.0], [3.0, 10.0], [0.0, 0.0], [0.0, 20.0]]
    weights = [1.0, 0.5]
    batch = _batch([0, 0, 0, 0], groups=2, per_func=per_func, weights=weights)
    config = _config("group")
    config.trl = {"multi_objective_aggregation": "normalize_then_sum"}
    adv, _ = grpo_advantages(batch, config)
    s2 = math.sqrt(2)  # unbiased std of a pair (a, b) is |a - b| / sqrt(2)
    f1 = [-1 / (s2 + 1e-4), 1 / (s2 + 1e-4), 0.0, 0.0]
    f2 = [0.0, 0.0, -10 / (10 * s2 + 1e-4), 10 / (10 * s2 + 1e-4)]  # group 1 of f2 has std 0: 0 / 1e-4
    total = [a + 0.5 * b for a, b in zip(f1, f2)]
    mean = sum(total) / 4
    std = math.sqrt(sum((t - mean) ** 2 for t in total) / 3)
    assert adv.tolist() == pytest.approx([(t - mean) / (std + 1e-4) for t in total], rel=1e-5)


def test_reinforce_pp_whitens_returns_over_all_tokens_of_the_batch():
    adv, returns = reinforce_pp_advantages(_batch([1.0, -1.0, 3.0, 0.0], lengths=[2, 3, 1, 2]), _config())
    # By hand: every token carries its sequence's return (gamma = 1): 1,1 | -1,-1,-1 | 3 | 0,0.
    tokens = [1, 1, -1, -1, -1, 3, 0, 0]
    mean = sum(tokens) / 8  # 0.25
    var = sum((t - mean) ** 2 for t in tokens) / 7  # unbiased, as verl's masked_whiten: 13.5 / 7
    assert mean == 0.25 and var == pytest.approx(13.5 / 7)
    expected = [(r - 0.25) / math.sqrt(13.5 / 7 + 1e-8) for r in (1.0, -1.0, 3.0, 0.0)]
    assert adv.shape == (4, 3)
    for row, (value, n) in enumerate(zip(expected, (2, 3, 1, 2))):
        assert adv[row, :n].tolist() == pytest.approx([value] * n, rel=1e-5)
        assert adv[row, n:].abs().sum() == 0  # padding gets nothing
        assert returns[row, :n].tolist() == pytest.approx([(1.0, -1.0, 3.0, 0.0)[row]] * n)


def test_reinforce_pp_has_no_group_baseline():
    # Two groups of two with equal rewards inside each group: GRPO's advantages would all be 0.
    adv, _ = reinforce_pp_advantages(_batch([1.0, 1.0, 0.0, 0.0], lengths=[2, 2, 2, 2]), _config())
    assert adv[0, 0] > 0 > adv[2, 0]
    assert adv[0, 0] == pytest.approx(-adv[2, 0])


def test_reinforce_pp_skips_unscorable_rows():
    adv, _ = reinforce_pp_returns(torch.tensor([1.0, NAN, -1.0]), torch.ones(3, 1))
    assert adv[1].abs().sum() == 0
    assert adv[0, 0] == pytest.approx(1 / math.sqrt(2.0), rel=1e-5)  # tokens 1, -1: mean 0, unbiased var 2


def test_gae_matches_hand_computation():
    gamma, lam = 0.9, 0.8
    values = torch.tensor([[0.5, 0.2, -0.1], [0.3, 0.4, 9.0]])
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv, ret = gae(rewards, values, mask, gamma, lam)
    # Row 0: deltas 1 - (-0.1) = 1.1; 0.9 * -0.1 - 0.2 = -0.29; 0.9 * 0.2 - 0.5 = -0.32.
    a2 = 1.1
    a1 = -0.29 + gamma * lam * a2
    a0 = -0.32 + gamma * lam * a1
    assert adv[0].tolist() == pytest.approx([a0, a1, a2], abs=1e-6)
    assert ret[0].tolist() == pytest.approx([a0 + 0.5, a1 + 0.2, a2 - 0.1], abs=1e-6)
    # Row 1 ends after two tokens: the padded value (9.0) must not leak in.
    b1 = 2.0 - 0.4
    b0 = gamma * 0.4 - 0.3 + gamma * lam * b1
    assert adv[1].tolist() == pytest.approx([b0, b1, 0.0], abs=1e-6)


def test_gae_estimator_puts_the_reward_on_the_last_token_and_whitens_when_asked():
    batch = _batch([2.0, -1.0], lengths=[2, 1], values=[[0.5, 0.25], [1.0, 7.0]])
    adv, ret = gae_advantages(batch, _config(gamma=1.0, lam=1.0))
    # lam = gamma = 1: A_t = (sum of rewards from t) - V_t; row 1's padded value is masked out.
    assert adv.flatten().tolist() == pytest.approx([1.5, 1.75, -2.0, 0.0])
    assert ret.flatten().tolist() == pytest.approx([2.0, 2.0, -1.0, 0.0])
    white, _ = gae_advantages(batch, _config(gamma=1.0, lam=1.0, whiten_advantages=True))
    expected = masked_whiten(torch.tensor([[1.5, 1.75], [-2.0, 0.0]]), batch.completion_mask) * batch.completion_mask
    assert torch.allclose(white, expected)


def test_masked_whiten_uses_the_unbiased_variance():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    out = masked_whiten(x, torch.tensor([[1.0, 1.0, 0.0]]))
    assert out[0, :2].tolist() == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2)], rel=1e-6)


def test_clipped_value_loss_takes_the_pessimistic_branch():
    old = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[1.0, 1.0]])
    values = torch.tensor([[0.5, 2.0]])
    loss = clipped_value_loss(values, old, returns, torch.ones(1, 2), clip=0.2)
    # token 0: unclipped (0.5-1)^2 = 0.25, clipped (0.2-1)^2 = 0.64 -> 0.64; token 1: (2-1)^2 = 1, (0.2-1)^2 = 0.64 -> 1
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.0) / 2)


def test_registry_defaults_and_lookup_by_path_and_name():
    from logicrl.errors import UserError

    assert get_algorithm("grpo").default_loss_type == "dapo" and get_algorithm("grpo").default_beta == 0.0
    assert get_algorithm("reinforce_pp").default_beta == pytest.approx(0.001)
    assert get_algorithm("ppo").critic is not None and get_algorithm("grpo").critic is None
    by_path = get_algorithm("custom_algorithms:sign_advantages")
    assert by_path.estimator.__name__ == "sign_advantages" and by_path.default_loss_type == "dapo"
    assert get_algorithm("custom_algorithms:centred_advantages").name == "centred"  # registered: its defaults
    with pytest.raises(UserError, match="config field algorithm: unknown algorithm 'nope'"):
        get_algorithm("nope")
    with pytest.raises(UserError, match="cannot load"):
        get_algorithm("custom_algorithms:missing")
