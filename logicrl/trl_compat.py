"""Keyword arguments whose name differs between the transformers versions we run on."""

from __future__ import annotations

import dataclasses


def checkpointing_kwargs(config_cls, enabled: bool) -> dict:
    """Activation (gradient) checkpointing on or off for a TRL/transformers config class.

    TRL's GRPOConfig and SFTConfig default it to True, which recomputes every activation in the
    backward pass (the demo's 440 warm-start steps: 390 s instead of 329 s on 2 cores), so logicrl always
    passes it explicitly. transformers 5.24 names it `activation_checkpointing` (the old name still works
    but warns); the vLLM environment's transformers 5.17 knows only `gradient_checkpointing`.
    """
    names = {f.name for f in dataclasses.fields(config_cls)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: bool(enabled)}
