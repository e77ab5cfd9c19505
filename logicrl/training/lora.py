"""LoRA through peft: the adapter config from a recipe, and adapter save / load / merge."""

from __future__ import annotations

import os
from pathlib import Path

from logicrl.errors import UserError


def lora_config(settings, model):
    """A `peft.LoraConfig` for `model` from the recipe's `lora:` section (targets default to the family's)."""
    from peft import LoraConfig

    targets = settings.target_modules
    if not targets:
        from logicrl.models import default_lora_targets

        targets = default_lora_targets(model)
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def apply_lora(model, settings, adapter: str | os.PathLike | None = None):
    """Wrap `model` with trainable LoRA adapters: fresh ones, or `adapter` loaded to continue training."""
    from peft import PeftModel, get_peft_model

    if adapter is not None:
        if not (Path(adapter) / "adapter_config.json").is_file():
            raise UserError(f"config field adapter: {adapter} is not a peft adapter directory")
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    return get_peft_model(model, lora_config(settings, model))


def save_adapter(model, directory: str | os.PathLike, tokenizer=None) -> Path:
    """Write only the adapter weights and config (adapter_model.safetensors, adapter_config.json)."""
    directory = Path(directory)
    if not hasattr(model, "peft_config"):
        raise ValueError("save_adapter needs a peft model")
    model.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory


def load_adapter(base_model, directory: str | os.PathLike, trainable: bool = False):
    """Put the adapter saved in `directory` on `base_model`."""
    from peft import PeftModel

    if not (Path(directory) / "adapter_config.json").is_file():
        raise UserError(f"{directory} is not a peft adapter directory (no adapter_config.json)")
    return PeftModel.from_pretrained(base_model, str(directory), is_trainable=trainable)


def merge_adapter(model):
    """Fold the adapter into the base weights; returns a plain transformers model."""
    if not hasattr(model, "merge_and_unload"):
        raise ValueError("merge_adapter needs a peft model")
    return model.merge_and_unload()


def save_merged(model, directory: str | os.PathLike, tokenizer=None) -> Path:
    """Merge a copy of the adapter model and save it as a full `from_pretrained` directory."""
    import copy

    merged = merge_adapter(copy.deepcopy(model))
    directory = Path(directory)
    merged.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory
