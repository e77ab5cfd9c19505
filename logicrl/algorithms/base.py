"""What every LogicRL trainer adds to TRL's GRPOTrainer: the curriculum sampler and per-algorithm defaults."""

from __future__ import annotations

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
