"""TRL's `rollout_func` on vLLM engines that run as Ray actors (`ray.rollout_engines: N`).

One round (TRL calls `rollout(prompts, trainer)` once per generation batch, on every training process):

1. every process tokenizes its prompts as TRL does and tags each with its adapter route (`routes`);
2. the prompts of all processes are gathered on the main process (world rank 0), which alone talks to the
   engines: when the trainer's `global_step` (the policy version) moved since the last round, it publishes
   the trained adapters once (`logicrl.ray.rollout_engines.adapter_payload`, bytes in Ray's object store);
3. runs of equal prompts with equal routes become one request of n samples (a GRPO group) with its own
   seed; `EngineFleet.generate` spreads the groups over the engines in balanced shares, in parallel;
4. the main process hands each process its completions back, in its prompts' order, each tagged with the
   version of the adapter that generated it (`policy_version`, passed on to the reward functions).

DDP keeps the weights equal on every rank, so rank 0's adapter is the policy; rank 0 publishing once (not
each rank) moves the adapter into each engine once per version. TRL may train on one round for several
updates (`steps_per_generation`, `num_iterations`): every completion of a round carries the version that
was current when the round started, and later updates reuse those completions as TRL intends.
"""

from __future__ import annotations

import random
import time

from logicrl.errors import UserError
from logicrl.ray.rollout_engines import EngineFleet, adapter_payload, trained_adapter_names
from logicrl.trl_compat import log_metric
from logicrl.vllm_utils import lora_rank_limit, prompt_token_ids

_ATTACHED_ENGINES: list | None = None


def attach_engines(handles: list | None) -> None:
    """Use the engines another process owns (the Ray Train driver's) instead of starting new ones."""
    global _ATTACHED_ENGINES
    _ATTACHED_ENGINES = list(handles) if handles else None


def attached_engines() -> list | None:
    return _ATTACHED_ENGINES


def engine_options_for(config, **overrides) -> dict:
    """`vllm.LLM` options of a rollout engine for this recipe (LoRA on, the adapter rank, the seed, TRL's
    logprob mode); the engine adds its device defaults and `$LOGICRL_VLLM_OPTIONS` under these."""
    from logicrl.config import adapter_settings

    # Every routed adapter is resident at once (one LoRARequest per prompt picks it); one adapter otherwise.
    routed = adapter_settings(config)
    rank = max([config.lora.r, *(a["r"] for a in routed.values())])
    options = {
        "enable_lora": True, "max_loras": max(1, len(routed)), "max_lora_rank": lora_rank_limit(rank),
        "seed": config.seed,
        # The sampled tokens' logprobs after temperature/top-p, as TRL's own vLLM path asks for.
        "logprobs_mode": "processed_logprobs",
        "max_model_len": (config.trl or {}).get("vllm_max_model_length"),
    }
    if config.ray.rollout_engine_gpus < 1:  # an engine sharing its device: the recipe's memory fraction
        options["gpu_memory_utilization"] = config.vllm_gpu_memory_utilization
    options.update(overrides)
    return {k: v for k, v in options.items() if v is not None}


def start_engines(config, **engine_options) -> EngineFleet:
    """Start the recipe's engines (UserError naming `ray.rollout_engines` when they cannot start)."""
    from logicrl.ray.settings import validate_rollout_engines, validate_settings

    validate_settings(config.ray)
    validate_rollout_engines(config)
    return EngineFleet.start(config.ray, config.model, engine_options_for(config, **engine_options))


def make_ray_rollout_func(config, tokenizer, **engine_options) -> RayEngineRollout:
    """The rollout function of a run with `ray.rollout_engines > 0`: the driver's engines inside a Ray
    Train worker (`attach_engines`), else engines started here (this process owns and stops them)."""
    handles = attached_engines()
    if handles:
        return RayEngineRollout(EngineFleet(handles, retries=config.ray.rollout_max_restarts), tokenizer,
                                seed=config.seed, owns_fleet=False)
    if _world_rank() != 0:
        raise UserError("config field ray.rollout_engines: in a multi-process run the engines are started by the "
                        "Ray Train driver (ray.num_workers > 0); launch with accelerate/torchrun is not supported")
    return RayEngineRollout(start_engines(config, **engine_options), tokenizer, seed=config.seed, owns_fleet=True)


class RayEngineRollout:
    """A TRL `rollout_func` generating on an `EngineFleet` with the trainer's current adapters.

    `history`: one entry per round (step, version, completions, seconds, bytes published). `fleet` is
    None on ranks other than 0 of a multi-process run.
    """

    def __init__(self, fleet: EngineFleet | None, tokenizer, seed: int = 0, owns_fleet: bool = True):
        self.fleet = fleet
        self.tokenizer = tokenizer
        self.owns_fleet = owns_fleet
        self._rng = random.Random(seed)
        self.history: list[dict] = []
        self.callbacks = [_close_at_train_end(self)]
        """TrainerCallbacks `build_trainer` adds: stop engines this process owns when training ends."""

    # ------------------------------------------------------------------ routing

    def routes(self, prompts: list, trainer) -> list[str | None]:
        """The adapter each prompt is generated with (None = the base model): in a routed run each prompt's route
        (`logicrl.training.adapter_sync.prompt_routes`), else the one trained adapter for every prompt."""
        from logicrl.routing import BASE
        from logicrl.training.adapter_sync import prompt_routes

        if getattr(trainer, "routing", None) is not None:
            return [None if r == BASE else r for r in prompt_routes(trainer, prompts)]
        names = trained_adapter_names(_unwrap(trainer))
        if len(names) != 1:
            raise UserError(f"ray.rollout_engines: the model has several adapters {names} but no lora.routing "
                            "to choose one per prompt")
        return [names[0]] * len(prompts)

    @staticmethod
    def published_adapters(trainer) -> list[str] | None:
        """The adapters the engines serve: every routed adapter (not the KL reference copies), or None for the
        one adapter of a single-adapter run."""
        routing = getattr(trainer, "routing", None)
        return list(routing.adapters) if routing is not None else None

    # ------------------------------------------------------------------ one round

    def __call__(self, prompts: list, trainer) -> dict:
        acc = trainer.accelerator
        _refuse_zero3(trainer)
        ids = prompt_token_ids(self.tokenizer, prompts, getattr(trainer, "chat_template_kwargs", None))
        local = list(zip(ids, self.routes(prompts, trainer), strict=True))
        version = int(trainer.state.global_step)
        everyone = _gather(acc, local)
        reply = None
        if acc.is_main_process:
            reply = self._round(everyone, version, trainer)
        reply = _broadcast(acc, reply)
        mine = reply["per_rank"][acc.process_index]
        for name, value in reply["metrics"].items():
            log_metric(trainer, name, value)
        return {
            "prompt_ids": [row[0] for row in mine],
            "completion_ids": [row[1] for row in mine],
            "logprobs": [row[2] for row in mine],
            "policy_version": [row[3] for row in mine],
        }

    def _round(self, everyone: list[list[tuple]], version: int, trainer) -> dict:
        """Main process: publish if the policy moved, generate every process's prompts, split the results."""
        from logicrl.training.rollout_vllm import sampling_options

        metrics = {}
        if self.fleet.version != version:
            start = time.perf_counter()
            size = self.fleet.publish(adapter_payload(_unwrap(trainer), self.published_adapters(trainer)), version)
            metrics["rollout/adapter_sync_seconds"] = time.perf_counter() - start
            metrics["rollout/adapter_bytes"] = float(size)
        flat = [row for rows in everyone for row in rows]
        sampled = trainer.args.temperature > 0
        groups: list[list] = []  # [prompt ids, route, n]
        for prompt_ids, route in flat:
            if sampled and groups and groups[-1][0] == prompt_ids and groups[-1][1] == route:
                groups[-1][2] += 1
            else:
                groups.append([prompt_ids, route, 1])
        common = sampling_options(trainer)
        requests = [{"prompt_ids": p, "adapter": route, "params": {**common, "n": n, "seed": self._rng.randrange(2**31)}}
                    for p, route, n in groups]
        before, restarts = len(self.fleet.history), self.fleet.restarts
        start = time.perf_counter()
        results = self.fleet.generate(requests)
        seconds = time.perf_counter() - start
        runs = self.fleet.history[before:]
        rows = []
        for (prompt_ids, _, n), result in zip(groups, results, strict=True):
            if len(result["completion_ids"]) != n:
                raise RuntimeError(f"an engine returned {len(result['completion_ids'])} samples for n={n}")
            for completion, logprobs in zip(result["completion_ids"], result["logprobs"], strict=True):
                rows.append((list(prompt_ids), completion, logprobs, int(result["version"])))
        per_rank, start_row = [], 0
        for rank_rows in everyone:
            per_rank.append(rows[start_row:start_row + len(rank_rows)])
            start_row += len(rank_rows)
        tokens = sum(len(row[1]) for row in rows)
        metrics.update({
            "rollout/generate_seconds": seconds, "rollout/policy_version": float(version),
            "rollout/engine_load_seconds": max((r["load_seconds"] for r in runs), default=0.0),
            "rollout/engine_restarts": float(self.fleet.restarts - restarts),
            "rollout/tokens_per_second": tokens / seconds if seconds > 0 else 0.0,
            "rollout/completions": float(len(rows)),  # of every training process
        })
        self.history.append({"step": version, "version": version, "completions": len(rows), "tokens": tokens,
                             "groups": len(groups), "engines": sorted({r["engine"] for r in runs}), **metrics})
        return {"per_rank": per_rank, "metrics": metrics}

    # ------------------------------------------------------------------ checks and clean-up

    def greedy_token_ids(self, prompts: list, max_tokens: int, engine: int = 0, lora: bool = True) -> list:
        """Greedy completion ids per prompt from one engine with the adapter last published (`lora=False`: the
        base model). For checks and evaluation during training."""
        ids = prompt_token_ids(self.tokenizer, prompts)
        route = self.fleet.adapter_names[0] if lora else None
        requests = [{"prompt_ids": p, "adapter": route, "params": {"temperature": 0.0, "max_tokens": max_tokens}}
                    for p in ids]
        return [r["completion_ids"][0] for r in self.fleet.generate_on(engine, requests)]

    def close(self) -> None:
        """Stop the engines if this process started them."""
        if self.fleet is not None and self.owns_fleet:
            self.fleet.shutdown()


def _close_at_train_end(rollout: RayEngineRollout):
    from transformers import TrainerCallback

    class CloseRolloutEngines(TrainerCallback):
        def on_train_end(self, args, state, control, **kwargs):
            rollout.close()

    return CloseRolloutEngines()


def _unwrap(trainer):
    return trainer.accelerator.unwrap_model(trainer.model)


def _world_rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _refuse_zero3(trainer) -> None:
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    if plugin is not None and getattr(plugin, "zero_stage", 0) == 3:
        raise UserError("config field ray.rollout_engines: DeepSpeed ZeRO-3 shards the adapter across ranks, "
                        "which the engines' sync does not gather; use ZeRO-2 or plain DDP")


def _gather(acc, local: list) -> list[list]:
    """Every process's list, in rank order (a list of one list on a single process)."""
    if acc.num_processes == 1:
        return [local]
    from accelerate.utils import gather_object

    return gather_object([local])


def _broadcast(acc, obj):
    if acc.num_processes == 1:
        return obj
    from accelerate.utils import broadcast_object_list

    box = [obj]
    broadcast_object_list(box, from_process=0)
    return box[0]
