"""REINFORCE++ whitening and PPO's GAE, checked numerically against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from logicrl.algorithms.ppo import clipped_value_loss, gae_advantages
from logicrl.algorithms.reinforce_pp import reinforce_pp_advantages


def test_reinforce_pp_whitens_returns_over_all_tokens_of_the_batch():
    rewards = torch.tensor([1.0, -1.0, 3.0, 0.0])
    lengths = torch.tensor([2, 3, 1, 2])
    adv = reinforce_pp_advantages(rewards, lengths)
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


def test_reinforce_pp_has_no_group_baseline():
    # Two groups of two with equal rewards inside each group: GRPO's advantages would all be 0.
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.0])
    adv = reinforce_pp_advantages(rewards, torch.tensor([2, 2, 2, 2]))
    assert adv[0, 0] > 0 > adv[2, 0]
    assert adv[0, 0] == pytest.approx(-adv[2, 0])


def test_reinforce_pp_skips_unscorable_rows():
    adv = reinforce_pp_advantages(torch.tensor([1.0, float("nan"), -1.0]), torch.tensor([1, 1, 1]))
    assert adv[1].abs().sum() == 0
    assert adv[0, 0] == pytest.approx(1 / math.sqrt(2.0), rel=1e-5)  # tokens 1, -1: mean 0, unbiased var 2


def test_gae_matches_hand_computation():
    gamma, lam = 0.9, 0.8
    values = torch.tensor([[0.5, 0.2, -0.1], [0.3, 0.4, 9.0]])
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv, ret = gae_advantages(rewards, values, mask, gamma, lam)
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


def test_clipped_value_loss_takes_the_pessimistic_branch():
    old = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[1.0, 1.0]])
    values = torch.tensor([[0.5, 2.0]])
    loss = clipped_value_loss(values, old, returns, torch.ones(1, 2), clip=0.2)
    # token 0: unclipped (0.5-1)^2 = 0.25, clipped (0.2-1)^2 = 0.64 -> 0.64; token 1: (2-1)^2 = 1, (0.2-1)^2 = 0.64 -> 1
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.0) / 2)
