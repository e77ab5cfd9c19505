"""GRPO's group-relative advantages (Shao et al. 2024, DeepSeekMath), as TRL 1.16's GRPOTrainer computes them.

TRL's loss variants (grpo, dr_grpo, dapo, bnpo, ...) are chosen separately by `loss_type`; Dr. GRPO is
`loss_type: dr_grpo` with `scale_rewards: none`.
"""

from __future__ import annotations

import torch

from logicrl.algorithms import AdvantageBatch, register_advantage_estimator

STD_EPS = 1e-4
"""Added to the standard deviation before dividing (TRL's constant)."""


def _nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Standard deviation ignoring NaN, with Bessel's correction; NaN where fewer than two values (as TRL's
    `nanstd`)."""
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    variance = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = torch.sum(~torch.isnan(x), dim=dim, keepdim=True)
    correction = torch.where(count > 1, count / (count - 1), torch.full_like(variance, float("nan")))
    std = torch.sqrt(variance * correction)
    return std.squeeze(dim) if dim is not None else std.reshape(())


@register_advantage_estimator("grpo", default_loss_type="dapo", default_beta=0.0)
def grpo_advantages(batch: AdvantageBatch, config) -> tuple[torch.Tensor, torch.Tensor]:
    """Per completion: (reward - group mean) / (group std + 1e-4). Returns (advantages, returns), both (B,).

    `config.scale_rewards`: "group" divides by the group's std, "batch" by the whole batch's std, "none"
    only subtracts the group mean (Dr. GRPO). With `trl.multi_objective_aggregation: normalize_then_sum`
    each reward function is normalised within its group first, then the weighted sum is whitened over
    the batch. Unscorable completions (NaN reward) are left out of the statistics and get 0.
    """
    g = batch.num_generations
    aggregation = (getattr(config, "trl", None) or {}).get("multi_objective_aggregation", "sum_then_normalize")
    if aggregation == "normalize_then_sum":
        per_func = batch.rewards_per_func
        unscorable = torch.isnan(per_func).all(dim=1)
        grouped = per_func.view(-1, g, per_func.size(1))
        mean = torch.nanmean(grouped, dim=1, keepdim=True)
        std = _nanstd(grouped, dim=1).unsqueeze(1) if g > 1 else torch.zeros_like(mean)
        normalised = ((grouped - mean) / (std + STD_EPS)).view(-1, per_func.size(1))
        total = (normalised * batch.reward_weights.unsqueeze(0)).nansum(dim=1)
        total[unscorable] = torch.nan
        std_all = _nanstd(total) if total.numel() > 1 else torch.zeros(())
        advantages = (total - torch.nanmean(total)) / (std_all + STD_EPS)
    else:
        rewards = batch.rewards
        grouped = rewards.view(-1, g)
        advantages = rewards - torch.nanmean(grouped, dim=1).repeat_interleave(g)
        if config.scale_rewards == "group":
            advantages = advantages / (_nanstd(grouped, dim=1).repeat_interleave(g) + STD_EPS)
        elif config.scale_rewards == "batch":
            std = _nanstd(rewards) if rewards.numel() > 1 else torch.zeros(())
            advantages = advantages / (std + STD_EPS)
    advantages = torch.nan_to_num(advantages, nan=0.0)
    return advantages, advantages
