"""GRPO: TRL's GRPOTrainer as is, its loss variants (grpo, dr_grpo, dapo, bnpo, ...) chosen by `loss_type`."""

from __future__ import annotations

from logicrl.algorithms import register_algorithm
from logicrl.algorithms.base import LogicRLTrainer


@register_algorithm("grpo")
class GRPO(LogicRLTrainer):
    """Group-relative advantages: (reward - group mean) / group std (scaling set by `scale_rewards`)."""

    default_loss_type = "dapo"  # TRL 1.16's default
    default_beta = 0.0
