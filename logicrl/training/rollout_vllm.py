"""RL rollouts through vLLM for LoRA training, kept on-policy by adapter sync.

TRL's own vLLM integration (`use_vllm=True`, colocate or server) copies every full weight into the
engine after each update. For LoRA training only the adapter changes, so this rollout function moves
only the adapter: after each optimiser update it saves the adapter (`save_pretrained`, megabytes) to a
fresh directory and generates with a new `LoRARequest(name, new_id, dir)`. The engine is created once
with `enable_lora=True` on the base weights. This also works on vLLM's CPU backend, where a full
weight reload cannot (the CPU backend drops each linear layer's weight after prepacking it).

With routed adapters (`lora.adapters`) one engine serves every adapter: each sync publishes a new version of
every trained adapter (new LoRA name and id), and each prompt is generated with its own route's
`LoRARequest` (`logicrl.training.adapter_sync`: the publishing and per-prompt routing the Ray engines share);
`max_loras` is the number of adapters, so no adapter of a batch is evicted.

Plugged into TRL as `GRPOTrainer(..., rollout_func=make_rollout_func(config, tokenizer))`; TRL calls
`rollout(prompts, trainer)` with one prompt per completion wanted (each prompt repeated
`num_generations` times) and expects `prompt_ids`, `completion_ids` and `logprobs`.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from logicrl.errors import UserError
from logicrl.training.adapter_sync import SINGLE, AdapterPublisher, max_adapter_rank, prompt_routes
from logicrl.trl_compat import log_metric
from logicrl.vllm_utils import lora_rank_limit, make_llm, prompt_token_ids, require_vllm


def make_rollout_func(config, tokenizer, **engine_options):
    """The `rollout_func` for `rollout_backend: vllm_lora` (checks the recipe; the engine starts lazily):
    an `AdapterSyncRollout`, or with `ray.rollout_engines > 0` a `logicrl.ray.rollout_dispatch.RayEngineRollout`."""
    if not config.lora.enabled:
        raise UserError("config field rollout_backend=vllm_lora needs lora.enabled: true "
                        "(adapter sync moves only LoRA weights; use rollout_backend: vllm for full fine-tuning)")
    if config.ray.rollout_engines > 0:  # the engines run as Ray actors, in their own environment
        from logicrl.ray.rollout_dispatch import make_ray_rollout_func

        return make_ray_rollout_func(config, tokenizer, **engine_options)
    require_vllm()
    from logicrl.models import resolve_model_path

    warm_start = getattr(getattr(config, "warm_start", None), "steps", 0) or 0
    engine_options.setdefault("gpu_memory_utilization", getattr(config, "vllm_gpu_memory_utilization", None))
    # TRL's own knob for the engine's context, honoured here too (None: the model's maximum).
    engine_options.setdefault("max_model_len", (getattr(config, "trl", None) or {}).get("vllm_max_model_length"))
    adapters = list(config.lora.adapters) or None
    trained = None
    if adapters:
        from logicrl.config import trained_adapters

        trained = trained_adapters(config)
    return AdapterSyncRollout(
        model_path=resolve_model_path(config.model),
        tokenizer=tokenizer,
        lora_rank=None if adapters else config.lora.r,  # routed: the largest rank on the model, at start-up
        seed=config.seed,
        export_base=warm_start > 0,  # the warm start changed the base weights in memory
        adapters=adapters,
        trained=trained,
        **engine_options,
    )


class AdapterSyncRollout:
    """A TRL `rollout_func` generating with vLLM and the trainer's current LoRA adapter.

    `model_path`: the base weights the engine loads. `export_base`: write the trainer's in-memory base
    weights to disk first and serve those instead (needed when they differ from `model_path`, e.g.
    after a full-weight warm start). `keep_adapters`: adapter directories kept on disk (older ones are
    deleted once the engine has moved on). Other keyword arguments go to `vllm.LLM`.
    """

    def __init__(self, model_path: str, tokenizer, lora_rank: int | None, seed: int = 0, export_base: bool = False,
                 keep_adapters: int = 2, workdir: str | Path | None = None, adapters: list[str] | None = None,
                 trained: list[str] | None = None, **engine_options):
        self.model_path = str(model_path)
        self.tokenizer = tokenizer
        self.export_base = export_base
        self.keep_adapters = max(1, keep_adapters)
        self.adapters = list(adapters) if adapters else [SINGLE]
        """The adapters the engine serves (routed runs: every routed adapter; else peft's "default")."""
        self.engine_options = {
            "enable_lora": True, "max_loras": len(self.adapters), "seed": seed,
            # The sampled tokens' logprobs after temperature/top-p, as TRL's own vLLM path asks for.
            "logprobs_mode": "processed_logprobs",
            **engine_options,
        }
        if lora_rank is not None:
            self.engine_options.setdefault("max_lora_rank", lora_rank_limit(lora_rank))
        if self.engine_options["max_loras"] < len(self.adapters):
            raise UserError(f"max_loras={self.engine_options['max_loras']} is below the {len(self.adapters)} routed "
                            "adapters: vLLM would silently evict adapters still in use")
        self._workdir_owner = None if workdir else tempfile.TemporaryDirectory(prefix="logicrl-vllm-lora-")
        self.workdir = Path(workdir or self._workdir_owner.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.publisher = AdapterPublisher(self.adapters, list(trained) if trained else list(self.adapters),
                                          self.workdir, keep=self.keep_adapters,
                                          names={SINGLE: "policy"} if not adapters else None)
        self._rng = random.Random(seed)
        self.llm = None
        self.served_model_path: str | None = None  # what the engine loaded (model_path or the export)
        self.lora_request = None
        """Single-adapter runs: the request of the adapter synced last (routed runs: `publisher.current`)."""
        self.synced_step: int | None = None
        self.history: list[dict] = []  # one entry per sync: step, lora_int_ids, paths, seconds, bytes

    # ------------------------------------------------------------------ engine and sync

    def _engine(self, trainer):
        if self.llm is None:
            if trainer.accelerator.num_processes > 1:
                # Each process would start its own engine on the first visible GPU: not supported.
                raise UserError("rollout_backend=vllm_lora runs in a single training process; for several GPUs "
                                "use rollout_backend: vllm with vllm_mode: server")
            model_path = self.model_path
            if self.export_base:
                model_path = str(export_base_weights(_unwrap(trainer), self.workdir / "base", self.tokenizer))
            if "max_lora_rank" not in self.engine_options:
                rank = max_adapter_rank(_unwrap(trainer), self.adapters)
                self.engine_options["max_lora_rank"] = lora_rank_limit(rank)
            self.llm = make_llm(model_path, **self.engine_options)
            self.served_model_path = model_path
        return self.llm

    def sync(self, trainer):
        """Publish the trainer's adapters (`AdapterPublisher`: a new version of each trained one) if the weights
        changed since the last sync (an optimiser step happened). Returns {adapter: PublishedAdapter} now served."""
        step = int(trainer.state.global_step)
        if self.synced_step is not None and step == self.synced_step:
            return self.publisher.current
        self._engine(trainer)
        model = _unwrap(trainer)
        if not hasattr(model, "peft_config"):
            raise UserError("rollout_backend=vllm_lora: the trained model is not a peft (LoRA) model")
        start = time.perf_counter()
        written = self.publisher.publish(model, step)
        seconds = time.perf_counter() - start
        self.synced_step = step
        if self.adapters == [SINGLE]:
            self.lora_request = self.publisher.requests([SINGLE])[0]
        self.history.append({"step": step, "lora_int_ids": [p.lora_int_id for p in written],
                             "lora_int_id": written[-1].lora_int_id if written else None,
                             "paths": [p.path for p in written], "seconds": seconds,
                             "bytes": sum(p.bytes for p in written)})
        log_metric(trainer, "rollout/adapter_sync_seconds", seconds)
        log_metric(trainer, "rollout/adapter_sync_bytes", float(sum(p.bytes for p in written)))
        return self.publisher.current

    # ------------------------------------------------------------------ generation

    def __call__(self, prompts: list, trainer) -> dict:
        self.sync(trainer)
        from vllm import SamplingParams, TokensPrompt

        ids = prompt_token_ids(self.tokenizer, prompts, getattr(trainer, "chat_template_kwargs", None))
        requests = self.publisher.requests(prompt_routes(trainer, prompts))  # one LoRARequest per prompt
        # Runs of equal prompts with the same adapter become one request for n samples.
        groups = group_prompts(ids, sampled=trainer.args.temperature > 0, keys=[id(r) for r in requests])
        group_requests = [requests[first] for _, _, first in groups]
        groups = [(prompt_ids, n) for prompt_ids, n, _ in groups]
        common = sampling_options(trainer)
        params = [SamplingParams(n=n, seed=self._rng.randrange(2**31), **common) for _, n in groups]
        start = time.perf_counter()
        outputs = self._engine(trainer).generate(
            [TokensPrompt(prompt_token_ids=p) for p, _ in groups], params, lora_request=group_requests,
            use_tqdm=False,
        )
        log_metric(trainer, "rollout/generate_seconds", time.perf_counter() - start)
        prompt_out, completion_out, logprob_out = [], [], []
        for (prompt_ids, _), output in zip(groups, outputs, strict=True):
            for choice in output.outputs:
                prompt_out.append(list(prompt_ids))
                completion_out.append(list(choice.token_ids))
                logprob_out.append([_sampled_logprob(lp, tok) for lp, tok in zip(choice.logprobs, choice.token_ids)])
        return {"prompt_ids": prompt_out, "completion_ids": completion_out, "logprobs": logprob_out}

    def greedy_token_ids(self, prompts: list, max_tokens: int, lora: bool = True,
                         routes: list[str] | None = None) -> list[list[int]]:
        """Greedy completion token ids per prompt from the engine as it stands: with the adapters synced last
        (`routes`: one route per prompt; default every prompt through the single adapter), or the base model with
        `lora=False`. For checks and evaluation during training."""
        if self.llm is None:
            raise RuntimeError("the vLLM engine has not started yet (no rollout so far)")
        from vllm import SamplingParams, TokensPrompt

        ids = prompt_token_ids(self.tokenizer, prompts)
        params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        requests = self.publisher.requests(routes or [self.adapters[0]] * len(prompts)) if lora else None
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in ids], params,
                                    lora_request=requests, use_tqdm=False)
        return [list(out.outputs[0].token_ids) for out in outputs]

    def close(self) -> None:
        """Drop the engine and delete the saved adapters."""
        self.llm = None
        if self._workdir_owner is not None:
            self._workdir_owner.cleanup()


def group_prompts(ids: list[list[int]], sampled: bool = True, keys: list | None = None) -> list[tuple[list[int], int, int]]:
    """(prompt ids, n, index of the run's first prompt) per run of equal consecutive prompts with equal `keys`
    (e.g. the adapter each prompt uses): TRL repeats each prompt once per completion, and vLLM samples n
    completions of one request (greedy decoding only allows n=1: one request per completion)."""
    keys = keys if keys is not None else [None] * len(ids)
    groups: list[tuple[list[int], int, int]] = []
    for i, (prompt_ids, key) in enumerate(zip(ids, keys, strict=True)):
        if groups and sampled and groups[-1][0] == prompt_ids and keys[groups[-1][2]] == key:
            groups[-1] = (prompt_ids, groups[-1][1] + 1, groups[-1][2])
        else:
            groups.append((prompt_ids, 1, i))
    return groups


def sampling_options(trainer) -> dict:
    """`vllm.SamplingParams` keyword arguments of the trainer's rollout settings (no `n`, no `seed`); the
    sampled tokens' logprobs are asked for (`logprobs=0`)."""
    args = trainer.args
    common = {
        "temperature": args.temperature, "top_p": args.top_p, "max_tokens": trainer.max_completion_length,
        "logprobs": 0,
    }
    if getattr(args, "top_k", None):
        common["top_k"] = args.top_k
    if getattr(args, "min_p", None):
        common["min_p"] = args.min_p
    if getattr(args, "repetition_penalty", None) not in (None, 1.0):
        common["repetition_penalty"] = args.repetition_penalty
    return common


def export_base_weights(model, directory: Path, tokenizer=None) -> Path:
    """Save the base weights under a peft model (LoRA layers left out) as a plain checkpoint."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    state = {
        key.replace(".base_layer", ""): value
        for key, value in base.state_dict().items()
        if "lora_" not in key
    }
    base.save_pretrained(str(directory), state_dict=state)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(directory))
    return directory


def _unwrap(trainer):
    return trainer.accelerator.unwrap_model(trainer.model)


def _sampled_logprob(logprobs: dict, token_id: int) -> float:
    """The logprob vLLM reports for the sampled token (NaN when it has none)."""
    entry = logprobs.get(token_id) if logprobs else None
    return float("nan") if entry is None else float(entry.logprob)
