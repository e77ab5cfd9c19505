"""PPO with a learned value head and GAE, built on TRL's GRPOTrainer.

TRL 1.16 has no PPOTrainer. GRPOTrainer already does what PPO needs around the update: generation (HF or
vLLM), reward calls, reference log-probs, the clipped surrogate with token-level advantages, logging and
checkpoints. This subclass adds:

* a value head: a linear layer on the policy backbone's last hidden state (shared backbone, as TRL's old
  `AutoModelForCausalLMWithValueHead`), kept outside the HF model so checkpoints of the policy stay plain
  `from_pretrained` directories; its weights go to `value_head.pt` beside them, its parameters to their own
  optimizer group;
* at rollout time: values of every completion token, the sequence reward on the last token, GAE advantages
  (optionally whitened) and returns;
* in the loss: the hidden states of TRL's own policy forward are captured by a forward hook on the backbone
  (no second forward), and the clipped value loss is added to TRL's policy loss.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from logicrl.algorithms import register_algorithm
from logicrl.algorithms.base import LogicRLTrainer
from logicrl.algorithms.reinforce_pp import masked_whiten

VALUE_HEAD_FILE = "value_head.pt"


def gae_advantages(token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                   gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over completion tokens. Returns (advantages, returns), both (B, T).

    delta_t = r_t + gamma * V_{t+1} - V_t (V past the last token is 0), A_t = delta_t + gamma * lam * A_{t+1}.
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
    returns = advantages + values
    return advantages, returns


def clipped_value_loss(values, old_values, returns, mask, clip: float) -> torch.Tensor:
    """0.5 * max((V - R)^2, (clip(V, V_old +- clip) - R)^2), token mean over `mask`."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    loss = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    mask = mask.to(loss.dtype)
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)


def _backbone(model: nn.Module) -> nn.Module:
    """The decoder stack whose output is the last hidden state (through DDP and peft wrappers)."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return getattr(model, model.base_model_prefix)


@register_algorithm("ppo")
class PPO(LogicRLTrainer):
    """PPO: learned value head, GAE(gamma, lambda), clipped policy and value losses, KL loss term (beta)."""

    default_loss_type = "bnpo"
    default_beta = 0.001

    def __init__(self, *args, ppo=None, **kwargs):
        from logicrl.config import PPOSettings

        self.ppo = ppo or PPOSettings()
        super().__init__(*args, **kwargs)
        unwrapped = self.accelerator.unwrap_model(self.model)
        hidden = unwrapped.config.get_text_config().hidden_size
        self.value_head = nn.Linear(hidden, 1).to(self.accelerator.device, torch.float32)
        nn.init.zeros_(self.value_head.weight)  # start from V = 0: the first advantages are the raw returns
        nn.init.zeros_(self.value_head.bias)
        self._captured_hidden: list[torch.Tensor] | None = None
        _backbone(unwrapped).register_forward_hook(self._capture_hook)

    @classmethod
    def extra_init_kwargs(cls, config) -> dict:
        return {"ppo": config.ppo}

    # ---- value head plumbing

    def _capture_hook(self, module, args, output):
        if self._captured_hidden is not None:
            hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
            self._captured_hidden.append(hidden)

    def _values_from_hidden(self, hidden: torch.Tensor, width: int) -> torch.Tensor:
        # Position p's hidden state predicts token p + 1: the value of the state before completion token t
        # sits one position to the left of it.
        return self.value_head(hidden[:, -width - 1:-1].float()).squeeze(-1)

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        if not getattr(self, "_value_group_added", False):
            lr = self.ppo.value_learning_rate or self.args.learning_rate * 10
            optimizer.add_param_group({"params": list(self.value_head.parameters()), "lr": lr, "weight_decay": 0.0})
            self._value_group_added = True
        return optimizer

    def training_step(self, model, inputs, num_items_in_batch):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.accelerator.num_processes > 1:  # the head lives outside DDP: average its gradients ourselves
            for p in self.value_head.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.accelerator.num_processes
        return loss

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            torch.save(self.value_head.state_dict(), os.path.join(folder, VALUE_HEAD_FILE))

    def save_model(self, output_dir=None, _internal_call=False):
        super().save_model(output_dir, _internal_call)
        if self.args.should_save:
            target = output_dir or self.args.output_dir
            os.makedirs(target, exist_ok=True)
            torch.save(self.value_head.state_dict(), os.path.join(target, VALUE_HEAD_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        if checkpoint is not None and os.path.isfile(os.path.join(checkpoint, VALUE_HEAD_FILE)):
            state = torch.load(os.path.join(checkpoint, VALUE_HEAD_FILE), map_location=self.accelerator.device)
            self.value_head.load_state_dict(state)
        super()._load_optimizer_and_scheduler(checkpoint)

    # ---- rollout: values, GAE, returns

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        rewards, scorable = self._last_total_rewards()
        local = slice(self.accelerator.process_index * output["completion_ids"].size(0),
                      (self.accelerator.process_index + 1) * output["completion_ids"].size(0))
        rewards, scorable = rewards[local], scorable[local]

        prompt_ids, completion_ids = output["prompt_ids"], output["completion_ids"]
        mask = output["completion_mask"].float() * scorable.unsqueeze(1).float()
        width = completion_ids.size(1)
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        with torch.no_grad():
            backbone = _backbone(self.model)
            hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
            values = self._values_from_hidden(hidden, width) * mask

        lengths = output["completion_mask"].sum(dim=1).long()
        token_rewards = torch.zeros_like(values)
        rows = torch.arange(values.size(0), device=values.device)
        token_rewards[rows, (lengths - 1).clamp(min=0)] = rewards.to(values.device).float()
        advantages, returns = gae_advantages(token_rewards, values, mask, self.ppo.gamma, self.ppo.lam)
        if self.ppo.whiten_advantages:
            # Whiten over the whole batch, across processes.
            advantages = _whiten_across_processes(self.accelerator, advantages, mask)
        output["advantages"] = advantages * mask
        output["returns"] = returns
        output["old_values"] = values
        output["value_mask"] = mask
        self._metrics["train"]["ppo/value_mean"].append(
            float((values * mask).sum() / mask.sum().clamp(min=1.0)))
        return output

    # ---- loss: TRL's policy loss + clipped value loss

    def _compute_loss(self, model, inputs):
        self._captured_hidden = []
        try:
            policy_loss = super()._compute_loss(model, inputs)
            hidden = torch.cat(self._captured_hidden, dim=0)
        finally:
            self._captured_hidden = None
        width = inputs["completion_ids"].size(1)
        values = self._values_from_hidden(hidden, width)
        value_loss = clipped_value_loss(values, inputs["old_values"], inputs["returns"], inputs["value_mask"],
                                        self.ppo.cliprange_value)
        mode = "train" if self.model.training else "eval"
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        self._metrics[mode]["ppo/value_loss"].append(value_loss.item())
        return policy_loss + self.ppo.vf_coef * value_loss / normalizer


def _whiten_across_processes(accelerator, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if accelerator.num_processes == 1:
        return masked_whiten(advantages, mask)
    stats = torch.stack([(advantages * mask).sum(), (advantages ** 2 * mask).sum(), mask.sum()])
    total, total_sq, count = accelerator.reduce(stats, reduction="sum")
    mean = total / count.clamp(min=1.0)
    var = (total_sq / count.clamp(min=1.0) - mean ** 2) * count / (count - 1).clamp(min=1.0)
    return (advantages - mean) * torch.rsqrt(var + 1e-8)
