"""REINFORCE++ as Logic-RL runs it (Hu 2025; verl's `reinforce_plus_plus` estimator).

The sequence reward sits on the last completion token; returns are the discounted sums of token rewards
(gamma = 1: every token of a completion gets its reward); the returns are whitened over all completion
tokens of the whole batch: no per-prompt group baseline. The KL term against the reference model is
TRL's `beta` loss term (the k3 / "low_var_kl" estimator Logic-RL uses with `use_kl_loss`).
"""

from __future__ import annotations

import torch

from logicrl.algorithms import AdvantageBatch, register_advantage_estimator
from logicrl.algorithms.whiten import masked_whiten


def terminal_token_rewards(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T) zeros with each sequence reward (B,) on the last token where `mask` (B, T) is 1."""
    width = mask.size(1)
    positions = torch.arange(width, device=mask.device).expand_as(mask)
    last = torch.where(mask > 0, positions, torch.full_like(positions, -1)).max(dim=1).values.clamp(min=0)
    token_rewards = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    token_rewards[torch.arange(mask.size(0), device=mask.device), last] = rewards.float()
    return token_rewards * mask


def discounted_returns(token_rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """(B, T): returns[t] = sum_{k>=t} gamma^(k-t) r[k] over valid tokens (verl's REINFORCE++ loop)."""
    returns = torch.zeros_like(token_rewards)
    running = torch.zeros_like(token_rewards[:, 0])
    for t in reversed(range(token_rewards.size(1))):
        running = token_rewards[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]
    return returns


def reinforce_pp_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0):
    """Token-level REINFORCE++ advantages and returns, both (B, T), for sequence `rewards` (B,) and the
    completion `mask` (B, T). NaN rewards (unscorable completions) get zero advantage and stay out of the
    batch statistics."""
    mask = mask.float() * (~torch.isnan(rewards)).unsqueeze(1).float()
    returns = discounted_returns(terminal_token_rewards(torch.nan_to_num(rewards, nan=0.0), mask), mask, gamma)
    return masked_whiten(returns, mask) * mask, returns


@register_advantage_estimator("reinforce_pp", default_loss_type="bnpo", default_beta=0.001)
def reinforce_pp_advantages(batch: AdvantageBatch, config) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE++: batch-whitened discounted returns (gamma 1), no group baseline. Returns (B, T) tensors.

    Defaults as Logic-RL: token-mean loss aggregation (`bnpo`), KL loss coefficient 0.001.
    """
    return reinforce_pp_returns(batch.rewards, batch.completion_mask, gamma=1.0)
