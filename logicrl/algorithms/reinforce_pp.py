"""REINFORCE++ as Logic-RL runs it (verl's `reinforce_plus_plus` estimator).

The sequence reward sits on the last completion token; returns are the discounted sums of token rewards
(gamma = 1: every token of a completion gets its reward); the returns are whitened over all completion
tokens of the whole batch, across processes: no per-prompt group baseline. The KL term against the
reference model is TRL's `beta` loss term (the k3 / "low_var_kl" estimator Logic-RL uses with
`use_kl_loss`). Policy updates use TRL's clipped surrogate with these token-level advantages.

The hook: TRL 1.16 computes group advantages inline in `_generate_and_score_completions`. We keep all of
that method (generation, reward calls, logging, reference log-probs) and replace its `advantages` output,
using the gathered per-function rewards captured from `_calculate_rewards`.
"""

from __future__ import annotations

import torch

from logicrl.algorithms import register_algorithm
from logicrl.algorithms.base import LogicRLTrainer


def discounted_returns(token_rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """returns[t] = sum_{k>=t} gamma^(k-t) r[k] over valid tokens (verl's REINFORCE++ loop)."""
    returns = torch.zeros_like(token_rewards)
    running = torch.zeros_like(token_rewards[:, 0])
    for t in reversed(range(token_rewards.size(1))):
        running = token_rewards[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]
    return returns


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(values - mean) / sqrt(var + eps) over the masked entries; unbiased variance, as verl's masked_whiten."""
    mask = mask.to(values.dtype)
    count = mask.sum()
    mean = (values * mask).sum() / count.clamp(min=1.0)
    var = (((values - mean) ** 2) * mask).sum() / count.clamp(min=1.0)
    if count > 1:
        var = var * count / (count - 1)
    return (values - mean) * torch.rsqrt(var + eps)


def terminal_token_rewards(rewards: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """A (B, width) tensor holding each sequence reward on its last completion token."""
    token_rewards = torch.zeros(rewards.size(0), width, dtype=torch.float32, device=rewards.device)
    rows = torch.arange(rewards.size(0), device=rewards.device)
    last = (lengths - 1).clamp(min=0)
    token_rewards[rows, last] = rewards.float()
    return token_rewards


def reinforce_pp_advantages(rewards: torch.Tensor, lengths: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Token-level REINFORCE++ advantages (B, max_len) for sequence `rewards` (B,) and completion `lengths` (B,).

    NaN rewards (unscorable completions) get zero advantage and stay out of the batch statistics.
    """
    width = max(int(lengths.max().item()), 1)
    mask = (torch.arange(width, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).float()
    scorable = ~torch.isnan(rewards)
    mask = mask * scorable.unsqueeze(1).float()
    token_rewards = terminal_token_rewards(torch.nan_to_num(rewards, nan=0.0), lengths, width)
    returns = discounted_returns(token_rewards, mask, gamma)
    return masked_whiten(returns, mask) * mask


@register_algorithm("reinforce_pp")
class ReinforcePlusPlus(LogicRLTrainer):
    """REINFORCE++: batch-whitened returns, no group baseline, KL loss term (beta, default 0.001)."""

    default_loss_type = "bnpo"  # token-mean over the micro-batch, as verl's token-mean loss aggregation
    default_beta = 0.001
    gamma: float = 1.0

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        rewards, scorable = self._last_total_rewards()
        rewards[~scorable] = torch.nan  # unscored completions get no advantage
        mask = output["completion_mask"]
        if "tool_mask" in output:
            mask = mask * output["tool_mask"]
        local_lengths = mask.sum(dim=1).long()
        lengths = self.accelerator.gather(local_lengths)  # whole batch: every process's completions
        advantages = reinforce_pp_advantages(rewards, lengths.to(rewards.device), self.gamma)
        start = self.accelerator.process_index * mask.size(0)
        local = advantages[start:start + mask.size(0)]
        width = mask.size(1)
        if local.size(1) < width:
            local = torch.nn.functional.pad(local, (0, width - local.size(1)))
        output["advantages"] = local[:, :width].to(mask.device)
        return output
