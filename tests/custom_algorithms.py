"""Advantage estimators defined outside logicrl, for the tests that select algorithms by path and by name."""

import torch

from logicrl.algorithms import register_advantage_estimator


def sign_advantages(batch, config):
    """+1 / -1 by whether a completion beats its group's mean (a plain function, selected by path)."""
    grouped = torch.nan_to_num(batch.rewards).view(-1, batch.num_generations)
    adv = torch.sign(grouped - grouped.mean(dim=1, keepdim=True)).view(-1)
    return adv, adv


@register_advantage_estimator("centred", default_loss_type="bnpo", default_beta=0.0)
def centred_advantages(batch, config):
    """Reward minus the batch mean (a registered estimator, selected by name once imported)."""
    rewards = torch.nan_to_num(batch.rewards)
    adv = rewards - rewards.mean()
    return adv, adv


def wrong_shape_advantages(batch, config):
    """A broken estimator: one value per group instead of one per completion."""
    adv = torch.nan_to_num(batch.rewards).view(-1, batch.num_generations).mean(dim=1)
    return adv, adv


def nan_advantages(batch, config):
    """A broken estimator: NaN advantages (a division by a zero std, say)."""
    adv = torch.full_like(batch.rewards, float("nan"))
    return adv, adv


def bare_advantages(batch, config):
    """A broken estimator: advantages without the returns."""
    return torch.zeros_like(batch.rewards)
