"""Every place LogicRL touches TRL's (or transformers') internals, and nothing else.

TRL 1.16 has no public hook for advantages, samplers or an extra loss term, so `LogicRLTrainer`, a
`trl.GRPOTrainer` subclass, overrides a few private methods. They are all here, listed in `RELIED_ON`,
and `tests/test_train_core_loop.py` fails loudly when a TRL upgrade renames or re-signs one of them.

What the overrides do, in the order of one RL step:

1. `_get_train_sampler`: the curriculum's sampler replaces TRL's `RepeatSampler` (same group layout).
2. TRL generates the rollouts (`_generate`, or our `rollout_func`) and calls `_calculate_rewards`,
   which we wrap only to keep the gathered per-function rewards.
3. `_generate_and_score_completions`: after TRL's own scoring, `score_advantages` calls the recipe's
   registered advantage estimator (`logicrl.algorithms`) on the whole batch and replaces TRL's
   `advantages` (the one place where advantages are computed, for every algorithm).
4. `_compute_loss`: TRL's clipped policy loss (+ KL term); with a critic (PPO), plus the value loss.
5. The optimizer step is transformers' `Trainer`; `create_optimizer`, `training_step`, `_save_checkpoint`,
   `save_model` and `_load_optimizer_and_scheduler` only add the critic's parameters and state.

Checkpoints (`_save_checkpoint`) are made crash-consistent here: written under a `.logicrl-saving` marker
that is removed once every file is on disk (with the curriculum and critic state), and older checkpoints
are rotated out only after that (`logicrl.training.rundir`). `load_checkpoint_weights` loads a
checkpoint's weights without training (finishing a run killed after its last checkpoint).

With routed adapters (`routing`, a `logicrl.training.adapters.Routing`), each row of a batch carries its route:
`_generate_and_score_completions` records the rows' routes (`batch_routes`, which `rollout_func`s read too) and
adds a per-row `route_index` to its output (TRL shuffles and splits it with the rest); `_generate_single_turn`
generates each route's rows with its adapter; `_get_per_token_logps_and_entropies` runs each route's rows through
its adapter and puts the log-probs back in row order (`logicrl.training.adapters.run_routed`), so one loss and one
backward cover the mixed batch; the KL reference is computed per row (`Routing.reference`) instead of TRL's one
reference; metrics are logged per adapter (`adapters/<name>/...`).

`log_metric` is the one writer of TRL's per-step metrics (`_metrics`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os

import torch
from torch import nn
from trl import GRPOTrainer

RELIED_ON: dict[str, tuple[str, ...]] = {
    "_get_train_sampler": ("self", "dataset"),
    "_calculate_rewards": ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    "_generate_and_score_completions": ("self", "inputs"),
    "_compute_loss": ("self", "model", "inputs"),
    "create_optimizer": ("self", "model"),
    "training_step": ("self", "model", "inputs", "num_items_in_batch"),
    "_save_checkpoint": ("self", "model", "trial"),
    "save_model": ("self", "output_dir", "_internal_call"),
    "_load_optimizer_and_scheduler": ("self", "checkpoint"),
    "_load_from_checkpoint": ("self", "resume_from_checkpoint"),
    # routed adapters (lora.adapters): the policy forward, the HF rollouts
    "_get_per_token_logps_and_entropies": ("self", "model", "input_ids", "attention_mask", "logits_to_keep",
                                           "batch_size", "compute_entropy", "compute_aux_loss"),
    "_generate_single_turn": ("self", "prompt_ids", "images", "multimodal_fields", "num_generations"),
    # TRL calls it from _save_checkpoint to write output_dir/README.md: switched off (see the override)
    "create_model_card": ("self", "model_name", "dataset_name", "tags"),
}
"""GRPOTrainer methods LogicRLTrainer overrides (or, `_load_from_checkpoint`, calls), with the parameters it passes on."""

SCORED_OUTPUT_KEYS = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages")
"""Keys of `_generate_and_score_completions`' output that the advantage hook reads or replaces."""

TRAINER_ATTRIBUTES = ("_metrics", "reward_weights", "num_generations", "num_generations_eval", "num_iterations",
                      "accelerator", "scale_rewards", "multi_objective_aggregation")
"""GRPOTrainer attributes read here (checked on a built trainer by the tests; `current_gradient_accumulation_steps`,
set by transformers' loop, is exercised by the PPO training test)."""

CRITIC_FILE = "value_head.pt"
"""The critic's weights, saved beside each checkpoint and the final model (a plain torch state dict)."""


def check_trl() -> list[str]:
    """What of `RELIED_ON` the installed TRL no longer provides (empty when all is there)."""
    problems = []
    for name, params in RELIED_ON.items():
        method = getattr(GRPOTrainer, name, None)
        if method is None:
            problems.append(f"GRPOTrainer.{name} is gone")
            continue
        found = tuple(inspect.signature(method).parameters)
        if found[: len(params)] != params:
            problems.append(f"GRPOTrainer.{name}{found} no longer takes {params}")
    return problems


def checkpointing_kwargs(config_cls, enabled: bool) -> dict:
    """Activation (gradient) checkpointing on or off for a TRL/transformers config class.

    TRL's GRPOConfig and SFTConfig default it to True, which recomputes every activation in the backward
    pass (the demo's 440 warm-start steps: 390 s instead of 329 s on 2 cores), so logicrl always passes it
    explicitly. transformers 5.24 names it `activation_checkpointing` (the old name still works but warns);
    the vLLM environment's transformers 5.17 knows only `gradient_checkpointing`.
    """
    names = {f.name for f in dataclasses.fields(config_cls)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: bool(enabled)}


def log_metric(trainer, name: str, value: float) -> None:
    """Add `value` to the trainer's pending metrics of the current step (averaged per logging step and
    written to metrics.jsonl, wandb and tensorboard with TRL's own)."""
    mode = "train" if trainer.model.training else "eval"
    trainer._metrics[mode][name].append(float(value))


def backbone(model: nn.Module) -> nn.Module:
    """The decoder stack whose output is the last hidden state, through DDP and peft wrappers."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return getattr(model, model.base_model_prefix)


class LogicRLTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with the recipe's advantage estimator, an optional critic and a curriculum sampler.

    `algorithm`: a `logicrl.algorithms.Algorithm`; `recipe`: the `TrainConfig` its estimator reads;
    `curriculum`: a `logicrl.training.curriculum.Curriculum` or None. Other arguments are GRPOTrainer's.
    """

    def __init__(self, *args, algorithm, recipe, curriculum=None, routing=None, **kwargs):
        # Set before super().__init__: TRL may build the dataloader's sampler during init.
        self.algorithm = algorithm
        self.recipe = recipe
        self.curriculum = curriculum
        self.routing = routing
        self.batch_routes: list[str] | None = None
        """Routed adapters: the route of each prompt of the batch being generated (aligned with the prompts TRL
        hands a `rollout_func`), else None."""
        self._routes_now: list[str] | None = None  # routes of the rows of the forward in progress
        self.critic = None
        self.last_trl_advantages = None  # TRL's own advantages of the last batch (parity tests)
        args_obj = kwargs.get("args")
        beta = getattr(args_obj, "beta", 0.0)
        if routing is not None and beta:
            # TRL would copy the adapter named "default" into a reference adapter "ref" (there is none here):
            # routed runs compute their own per-row reference (`_routed_reference`).
            args_obj.beta = 0.0
        try:
            super().__init__(*args, **kwargs)
        finally:
            if routing is not None and beta:
                args_obj.beta = beta
        if routing is not None:
            self.beta = beta
        if algorithm.critic is not None:
            unwrapped = self.accelerator.unwrap_model(self.model)
            hidden = unwrapped.config.get_text_config().hidden_size
            self.critic = algorithm.critic(hidden, recipe).to(self.accelerator.device, torch.float32)
            self._captured_hidden: list[torch.Tensor] | None = None
            backbone(unwrapped).register_forward_hook(self._capture_hidden)

    # ---- 1. prompts: the curriculum's sampler

    def _get_train_sampler(self, dataset=None):
        if self.curriculum is None:
            return super()._get_train_sampler(dataset)
        from logicrl.training.curriculum import CurriculumSampler

        return CurriculumSampler(
            self.curriculum,
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            seed=self.args.seed,
        )

    # ---- 2. rewards: TRL calls the reward functions; keep what it gathered

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func  # (B_all, F), every process's completions
        return rewards_per_func

    # ---- 3. advantages: the recipe's estimator, for every algorithm

    def _generate_and_score_completions(self, inputs):
        if self.routing is None:
            output = super()._generate_and_score_completions(inputs)
            self.last_trl_advantages = output["advantages"]
            return self.score_advantages(output)
        routes = [row["route"] for row in inputs]
        groups = self.num_generations if self.model.training else self.num_generations_eval
        if len(routes) % groups == 0 and any(len(set(routes[i:i + groups])) > 1 for i in range(0, len(routes), groups)):
            raise RuntimeError("a GRPO group mixes adapters: every completion of one prompt must share its route")
        self.batch_routes = self._routes_now = routes
        beta, self.beta = self.beta, 0.0  # TRL's single reference is skipped; ours is per row, below
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self.beta = beta
            self._routes_now = None
        self.last_trl_advantages = output["advantages"]
        index = {r: i for i, r in enumerate(self.routing.routes)}
        output["route_index"] = torch.tensor([index[r] for r in routes], device=output["advantages"].device)
        if self.beta != 0.0:
            output["ref_per_token_logps"] = self._routed_reference(output, routes)
        return self.score_advantages(output)

    def _routed_reference(self, output: dict, routes: list[str]) -> torch.Tensor:
        """(B, T) reference log-probs, each row under its route's reference (`Routing.reference`: the bare base
        for a fresh adapter, its starting copy for one loaded with `init`)."""
        from logicrl.training.adapters import run_routed

        ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        width = output["completion_ids"].size(1)
        batch_size = self.args.per_device_train_batch_size if self.model.training else self.args.per_device_eval_batch_size
        plain = super()._get_per_token_logps_and_entropies
        with torch.no_grad():
            return run_routed(self.model, self.routing.reference_routes(routes),
                              lambda rows: plain(self.model, ids[rows], mask[rows], width, batch_size)[0],
                              self.routing.trained)

    # ---- 2b. rollouts and log-probs of routed adapters: each row through its own adapter

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if self.routing is None or self.use_vllm or getattr(self, "use_transformers_continuous_batching", False):
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        routes = self._routes_now
        if routes is None or len(routes) != len(prompt_ids):
            raise RuntimeError("routed adapters: generation without the rows' routes")
        if images is not None or multimodal_fields:
            raise NotImplementedError("routed adapters: images in rollouts are not routed yet (text policies only)")
        from logicrl.routing import group_rows
        from logicrl.training.adapters import use_route

        completions: list = [None] * len(prompt_ids)
        model = self.accelerator.unwrap_model(self.model)
        for route, rows in group_rows(routes).items():
            with use_route(model, route, self.routing.trained):
                ids, _ = super()._generate_single_turn([prompt_ids[i] for i in rows], None, {}, num_generations,
                                                       has_tool_images)
            for i, completion in zip(rows, ids, strict=True):
                completions[i] = completion
        return completions, None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **kwargs):
        plain = super()._get_per_token_logps_and_entropies
        if self.routing is None:
            return plain(model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                         compute_aux_loss, **kwargs)
        routes = self._routes_now
        if routes is None or len(routes) != input_ids.size(0):
            raise RuntimeError("routed adapters: a policy forward without the rows' routes")
        if any(v is not None for v in kwargs.values()):
            raise NotImplementedError("routed adapters: multimodal inputs are not routed yet (text policies only)")
        from logicrl.training.adapters import run_routed

        out = run_routed(model, routes, lambda rows: plain(model, input_ids[rows], attention_mask[rows],
                                                           logits_to_keep, batch_size, compute_entropy,
                                                           compute_aux_loss), self.routing.trained)
        self._last_routed_logps = out[0].detach()  # for the per-adapter KL of this loss
        return out

    def score_advantages(self, output: dict) -> dict:
        """Replace `output["advantages"]` (local rows) with the estimator's, computed on every process's
        completions; with a critic, also store values, returns and the value mask for the loss."""
        from logicrl.algorithms import AdvantageBatch, check_estimator_output

        acc = self.accelerator
        per_func = self._last_rewards_per_func
        weights = self.reward_weights.to(per_func.device)
        unscorable = torch.isnan(per_func).all(dim=1)
        rewards = (per_func * weights.unsqueeze(0)).nansum(dim=1)
        rewards[unscorable] = torch.nan
        mask = output["completion_mask"].float()
        if "tool_mask" in output:
            mask = mask * output["tool_mask"].float()
        values = self._critic_values(output) * mask if self.critic is not None else None
        local_rows, width = mask.shape
        if self.routing is not None:
            self._log_per_adapter(rewards[acc.process_index * local_rows:(acc.process_index + 1) * local_rows])
        batch = AdvantageBatch(
            rewards=rewards, rewards_per_func=per_func, reward_weights=weights,
            completion_mask=_gather_rows(acc, mask).to(per_func.device),
            num_generations=self.num_generations if self.model.training else self.num_generations_eval,
            values=None if values is None else _gather_rows(acc, values).to(per_func.device),
        )
        advantages, returns = check_estimator_output(self.algorithm.name, self.algorithm.estimator(batch, self.recipe),
                                                     *batch.completion_mask.shape)  # every process's rows
        rows = slice(acc.process_index * local_rows, (acc.process_index + 1) * local_rows)
        output["advantages"] = _fit_width(advantages[rows], width).to(mask.device)
        if self.critic is not None:
            output["returns"] = _fit_width(returns[rows], width).to(mask.device)
            output["old_values"] = values
            output["value_mask"] = mask * (~unscorable[rows]).to(mask.device).unsqueeze(1).float()
            log_metric(self, f"{self.algorithm.name}/value_mean", float(values.sum() / mask.sum().clamp(min=1.0)))
        return output

    def _log_per_adapter(self, rewards: torch.Tensor) -> None:
        """Rows and mean reward of each adapter in this batch (`adapters/<name>/rows`, `.../reward`)."""
        from logicrl.routing import group_rows

        for route, rows in group_rows(self.batch_routes or []).items():
            log_metric(self, f"adapters/{route}/rows", float(len(rows)))
            values = rewards[torch.tensor(rows, device=rewards.device)]
            values = values[~torch.isnan(values)]
            if values.numel():
                log_metric(self, f"adapters/{route}/reward", float(values.mean()))

    def _log_kl_per_adapter(self, inputs: dict, routes: list[str]) -> None:
        """Mean KL to the reference per adapter (`adapters/<name>/kl`), TRL's k3 estimator on the last forward's
        log-probs."""
        logps = getattr(self, "_last_routed_logps", None)
        ref = inputs.get("ref_per_token_logps")
        if logps is None or ref is None:
            return
        from logicrl.routing import group_rows

        mask = inputs["completion_mask"].float()
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"].float()
        kl = torch.exp(ref - logps) - (ref - logps) - 1
        for route, rows in group_rows(routes).items():
            index = torch.tensor(rows, device=kl.device)
            m = mask[index]
            log_metric(self, f"adapters/{route}/kl", float((kl[index] * m).sum() / m.sum().clamp(min=1.0)))

    # ---- 4. loss: TRL's policy loss, plus the critic's value loss

    def _capture_hidden(self, module, args, output):
        if self._captured_hidden is not None:
            self._captured_hidden.append(output.last_hidden_state if hasattr(output, "last_hidden_state")
                                         else output[0])

    def _critic_values(self, output: dict) -> torch.Tensor:
        """(B, T) critic values of the completion tokens, from one no-grad forward of the backbone."""
        width = output["completion_ids"].size(1)
        input_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        with torch.no_grad():
            hidden = backbone(self.model)(input_ids=input_ids, attention_mask=attention_mask,
                                          use_cache=False).last_hidden_state
            return self.critic.values(hidden, width)

    def _compute_loss(self, model, inputs):
        if self.routing is not None:
            routes = [self.routing.routes[i] for i in inputs["route_index"].tolist()]
            self._routes_now = routes
            try:
                loss = super()._compute_loss(model, inputs)
            finally:
                self._routes_now = None
            self._log_kl_per_adapter(inputs, routes)
            return loss
        if self.critic is None:
            return super()._compute_loss(model, inputs)
        self._captured_hidden = []  # the hidden states of TRL's own policy forward: no second forward
        try:
            policy_loss = super()._compute_loss(model, inputs)
            hidden = torch.cat(self._captured_hidden, dim=0)
        finally:
            self._captured_hidden = None
        values = self.critic.values(hidden, inputs["completion_ids"].size(1))
        value_loss = self.critic.loss(values, inputs["old_values"], inputs["returns"], inputs["value_mask"])
        log_metric(self, f"{self.algorithm.name}/value_loss", value_loss.item())
        normalizer = self.current_gradient_accumulation_steps if self.model.training else 1.0
        return policy_loss + self.recipe.ppo.vf_coef * value_loss / normalizer

    # ---- 5. update: the critic's parameters and state beside the policy's

    def create_optimizer(self, model=None):
        if self.routing is not None:
            # Every trained adapter must require grad when the optimizer collects its parameters (peft's
            # set_adapter / disable_adapter leave only the active one trainable); frozen ones must not.
            from logicrl.training.adapters import settle

            settle(self.accelerator.unwrap_model(self.model), self.routing.trained)
        optimizer = super().create_optimizer(model)
        if self.critic is not None and not getattr(self, "_critic_group_added", False):
            lr = self.recipe.ppo.value_learning_rate or self.args.learning_rate * 10
            optimizer.add_param_group({"params": list(self.critic.parameters()), "lr": lr, "weight_decay": 0.0})
            self._critic_group_added = True
        return optimizer

    def training_step(self, model, inputs, num_items_in_batch):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.critic is not None and self.accelerator.num_processes > 1:
            # The critic lives outside DDP: average its gradients by hand.
            for p in self.critic.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.accelerator.num_processes
        return loss

    def create_model_card(self, model_name=None, dataset_name=None, tags=None):
        """No model card: TRL writes it to output_dir/README.md at every checkpoint, over any README.md of the
        user's in that folder (files a run did not write must stay); a run's models are in final/ anyway."""

    def _save_checkpoint(self, model, trial):
        """transformers' checkpoint, made detectably complete: the folder is marked while it is written
        (every process's files, our critic and curriculum state included) and unmarked last; rotation of
        older checkpoints waits until then, so a kill at any point leaves a complete checkpoint."""
        from transformers.trainer_utils import rotate_checkpoints

        from logicrl.training.rundir import begin_checkpoint, commit_checkpoint

        run_dir = self._get_output_dir(trial=trial)
        folder = os.path.join(run_dir, f"checkpoint-{self.state.global_step}")
        if self.args.should_save:
            begin_checkpoint(folder)
        self.accelerator.wait_for_everyone()  # the folder is fresh before any process writes into it
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # rotated below, once this checkpoint is complete
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if self.args.should_save:
            if self.critic is not None:
                self._save_critic(folder)
            if self.curriculum is not None:
                self.curriculum.save(folder)
        self.accelerator.wait_for_everyone()  # every process's files (RNG states, ZeRO shards) are written
        if self.args.should_save:
            commit_checkpoint(folder)
            rotate_checkpoints(output_dir=run_dir, save_total_limit=limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)

    def save_model(self, output_dir=None, _internal_call=False):
        super().save_model(output_dir, _internal_call)
        if self.critic is not None and self.args.should_save:
            self._save_critic(output_dir or self.args.output_dir)

    def _load_optimizer_and_scheduler(self, checkpoint):
        if self.critic is not None and checkpoint is not None:
            path = os.path.join(checkpoint, CRITIC_FILE)
            if os.path.isfile(path):
                self.critic.load_state_dict(torch.load(path, map_location=self.accelerator.device))
        super()._load_optimizer_and_scheduler(checkpoint)

    def _save_critic(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        torch.save(self.critic.state_dict(), os.path.join(folder, CRITIC_FILE))


def load_checkpoint_weights(trainer, checkpoint: str) -> None:
    """Load a checkpoint's model weights (full model or adapter) and critic into `trainer` without training:
    transformers' own loader (`_load_from_checkpoint`), as `train(resume_from_checkpoint=...)` uses."""
    trainer._load_from_checkpoint(checkpoint)
    if trainer.critic is not None:
        path = os.path.join(checkpoint, CRITIC_FILE)
        if os.path.isfile(path):
            trainer.critic.load_state_dict(torch.load(path, map_location=trainer.accelerator.device))


def _gather_rows(accelerator, tensor: torch.Tensor) -> torch.Tensor:
    """Every process's rows of a (B, T) tensor, padded with zeros to a common T."""
    if accelerator.num_processes == 1:
        return tensor
    return accelerator.gather(accelerator.pad_across_processes(tensor, dim=1, pad_index=0))


def _fit_width(t: torch.Tensor, width: int) -> torch.Tensor:
    """A (B,) tensor as is; a (B, T') tensor cut or zero-padded to (B, width)."""
    if t.dim() == 1:
        return t
    if t.size(1) < width:
        t = nn.functional.pad(t, (0, width - t.size(1)))
    return t[:, :width]


def supports_tool_calling(tokenizer) -> bool:
    """Whether `tokenizer`'s chat template can render a whole tool-calling conversation: TRL's own check
    (`trl.chat_template_utils.supports_tool_calling`), which `GRPOTrainer` runs for `environment_factory`
    and answers with a ValueError deep in its constructor; we ask first, to give a one-line error."""
    from trl.chat_template_utils import supports_tool_calling as trl_check

    return bool(trl_check(tokenizer))
