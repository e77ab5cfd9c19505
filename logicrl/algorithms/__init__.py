"""RL algorithms, each a TRL `GRPOTrainer` subclass registered by name (as verl registers its estimators).

    @register_algorithm("my_algo")
    class MyTrainer(LogicRLTrainer): ...

`get_algorithm(name)` returns the class; the built-ins are imported on first lookup so that importing
this package stays light.
"""

from __future__ import annotations

import importlib

from logicrl.errors import UserError

_REGISTRY: dict[str, type] = {}
_BUILTIN_MODULES = {
    "grpo": "logicrl.algorithms.grpo",
    "reinforce_pp": "logicrl.algorithms.reinforce_pp",
    "ppo": "logicrl.algorithms.ppo",
}


def register_algorithm(name: str):
    """Class decorator: make a trainer class selectable as `algorithm: <name>` in a recipe."""

    def decorator(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"algorithm {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls
        cls.algorithm_name = name
        return cls

    return decorator


def get_algorithm(name: str) -> type:
    """The trainer class registered as `name`."""
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise UserError(f"config field algorithm: unknown algorithm {name!r} (known: {', '.join(available())})")
    return _REGISTRY[name]


def available() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES))
