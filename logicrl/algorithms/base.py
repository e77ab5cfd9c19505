"""What every LogicRL trainer adds to TRL's GRPOTrainer: the curriculum sampler and per-algorithm defaults."""

from __future__ import annotations

import torch
from trl import GRPOTrainer


class LogicRLTrainer(GRPOTrainer):
    """GRPOTrainer plus: an optional curriculum sampler, and the defaults a recipe falls back to."""

    algorithm_name = "base"
    default_loss_type: str = "dapo"
    """TRL loss aggregation used when the recipe leaves `loss_type` unset."""
    default_beta: float = 0.0
    """KL coefficient used when the recipe leaves `beta` unset."""

    def __init__(self, *args, curriculum=None, **kwargs):
        # Set before super().__init__: TRL may build the dataloader's sampler during init.
        self.curriculum = curriculum
        super().__init__(*args, **kwargs)

    @classmethod
    def extra_init_kwargs(cls, config) -> dict:
        """Algorithm-specific constructor arguments taken from the recipe."""
        return {}

    def _get_train_sampler(self, dataset=None):
        if self.curriculum is None:
            return super()._get_train_sampler(dataset)
        from logicrl.curriculum import CurriculumSampler

        return CurriculumSampler(
            self.curriculum,
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            seed=self.args.seed,
        )

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # Kept for algorithms that build their own advantages from the raw rewards (REINFORCE++, PPO).
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func  # gathered over processes
        return rewards_per_func

    def _last_total_rewards(self):
        """The weighted total reward of every completion of the last batch (all processes), and a mask of
        the completions that some reward function scored (the others have only None/NaN rewards)."""
        per_func = self._last_rewards_per_func
        weights = self.reward_weights.to(per_func.device).unsqueeze(0)
        return (per_func * weights).nansum(dim=1), ~torch.isnan(per_func).all(dim=1)
