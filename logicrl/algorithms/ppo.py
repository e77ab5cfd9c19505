"""PPO (Schulman et al. 2017) with a learned value head and GAE (Schulman et al. 2016).

TRL 1.16 has no PPOTrainer; GRPOTrainer already does what PPO needs around the update (generation,
rewards, reference log-probs, the clipped surrogate with token-level advantages). PPO adds:

* `ValueHead`: a linear layer on the policy backbone's last hidden state (shared backbone, as TRL's old
  `AutoModelForCausalLMWithValueHead`), kept outside the HF model so checkpoints stay plain
  `from_pretrained` directories (its weights go to `value_head.pt` beside them);
* `gae_advantages`, the estimator: the sequence reward on the last token, GAE(gamma, lambda) over the
  critic's values, whitened over the batch;
* `ValueHead.loss`: the clipped value loss, added to TRL's policy loss with weight `ppo.vf_coef`.

The trainer (`logicrl.trl_compat.LogicRLTrainer`) computes the values at rollout time, calls the
estimator, and adds the value loss using hidden states captured from TRL's own policy forward.
"""

from __future__ import annotations

import torch
from torch import nn

from logicrl.algorithms import AdvantageBatch, register_advantage_estimator
from logicrl.algorithms.reinforce_pp import terminal_token_rewards
from logicrl.algorithms.whiten import masked_whiten


def gae(token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over completion tokens. Returns (advantages, returns), both (B, T).

    delta_t = r_t + gamma * V_{t+1} - V_t (V past the last token is 0), A_t = delta_t + gamma * lam * A_{t+1},
    returns = A + V (verl's `compute_gae_advantage_return`).
    """
    mask = mask.to(values.dtype)
    values = values * mask
    token_rewards = token_rewards * mask
    width = values.size(1)
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    for t in reversed(range(width)):
        next_value = values[:, t + 1] if t + 1 < width else torch.zeros_like(last)
        delta = token_rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, advantages + values


def clipped_value_loss(values, old_values, returns, mask, clip: float) -> torch.Tensor:
    """0.5 * max((V - R)^2, (clip(V, V_old +- clip) - R)^2), token mean over `mask`. All (B, T); returns a scalar."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    loss = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    mask = mask.to(loss.dtype)
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)


class ValueHead(nn.Module):
    """V(s_t) = w . h_t + b on the backbone's last hidden state; starts at zero (the first advantages are
    the raw returns)."""

    def __init__(self, hidden_size: int, clip: float = 0.2):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        self.clip = clip
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def values(self, hidden: torch.Tensor, width: int) -> torch.Tensor:
        """(B, width) values of the completion tokens from hidden states (B, L, H) of prompt + completion.
        Position p's hidden state predicts token p + 1, so the state before completion token t sits one
        position to its left."""
        return self.linear(hidden[:, -width - 1:-1].float()).squeeze(-1)

    def loss(self, values, old_values, returns, mask) -> torch.Tensor:
        return clipped_value_loss(values, old_values, returns, mask, self.clip)


def make_value_head(hidden_size: int, config) -> ValueHead:
    """The PPO critic for a backbone of `hidden_size`, value clipping from `ppo.cliprange_value`."""
    return ValueHead(hidden_size, clip=config.ppo.cliprange_value)


@register_advantage_estimator("ppo", default_loss_type="bnpo", default_beta=0.001, critic=make_value_head)
def gae_advantages(batch: AdvantageBatch, config) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(`ppo.gamma`, `ppo.lam`) over `batch.values`, the reward on each completion's last token;
    advantages whitened over the batch's tokens when `ppo.whiten_advantages`. Returns (B, T) tensors."""
    mask = batch.completion_mask.float() * (~torch.isnan(batch.rewards)).unsqueeze(1).float()
    token_rewards = terminal_token_rewards(torch.nan_to_num(batch.rewards, nan=0.0), mask)
    advantages, returns = gae(token_rewards, batch.values * mask, mask, config.ppo.gamma, config.ppo.lam)
    if config.ppo.whiten_advantages:
        advantages = masked_whiten(advantages, mask)
    return advantages * mask, returns
