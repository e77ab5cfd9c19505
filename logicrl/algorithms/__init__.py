"""RL algorithms as registered advantage estimators (verl's unit of extension, `register_adv_est`).

An algorithm is a pure function from a batch of scored rollouts to advantages, plus the defaults a
recipe falls back to:

    @register_advantage_estimator("my_algo", default_loss_type="bnpo", default_beta=0.001)
    def my_advantages(batch: AdvantageBatch, config) -> tuple[Tensor, Tensor]:
        ...  # -> (advantages, returns), each (B,) or (B, T)

A recipe selects it as `algorithm: my_algo` (registered name), `algorithm: "package.module:function"`
(a path; the function need not be registered) or by an entry point in the group `logicrl.algorithms`.
`logicrl.trl_compat.LogicRLTrainer` calls the chosen estimator once per generation batch, for every
algorithm (`grpo` included), and hands its advantages to TRL's clipped policy loss.

Importing this package imports no torch: recipes are validated without loading it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logicrl.errors import UserError

ENTRY_POINT_GROUP = "logicrl.algorithms"


@dataclass
class AdvantageBatch:
    """One generation batch of every process, as an estimator sees it (B completions, T tokens)."""

    rewards: Any
    """(B,) float tensor: the weighted sum of the reward functions per completion; NaN where every reward
    function returned None (an unscorable completion, which must get zero advantage)."""
    rewards_per_func: Any
    """(B, F) float tensor: each reward function's raw score (NaN where it returned None)."""
    reward_weights: Any
    """(F,) float tensor: the recipe's reward weights."""
    completion_mask: Any
    """(B, T) float tensor: 1 on completion tokens the loss sees (padding and tool output are 0)."""
    num_generations: int
    """Group size G: rows [k*G, (k+1)*G) answer the same prompt."""
    values: Any = None
    """(B, T) float tensor of critic values V(s_t) for algorithms with a critic (PPO), else None."""


@dataclass(frozen=True)
class Algorithm:
    """A registered advantage estimator and the recipe defaults that go with it."""

    name: str
    estimator: Callable[[AdvantageBatch, Any], tuple]
    """`fn(batch, config) -> (advantages, returns)`; each (B,) (one value per completion) or (B, T)."""
    default_loss_type: str = "dapo"
    """TRL loss aggregation when the recipe leaves `loss_type` unset."""
    default_beta: float = 0.0
    """KL coefficient when the recipe leaves `beta` unset."""
    critic: Callable[[int, Any], Any] | None = None
    """For actor-critic algorithms: `critic(hidden_size, config) -> nn.Module` with `values(hidden, width)`
    and `loss(values, old_values, returns, mask)` (see `logicrl.algorithms.ppo.ValueHead`); None otherwise."""


_REGISTRY: dict[str, Algorithm] = {}
_BUILTIN_MODULES = {
    "grpo": "logicrl.algorithms.grpo",
    "reinforce_pp": "logicrl.algorithms.reinforce_pp",
    "ppo": "logicrl.algorithms.ppo",
}


def register_advantage_estimator(name: str, *, default_loss_type: str = "dapo", default_beta: float = 0.0,
                                 critic: Callable[[int, Any], Any] | None = None):
    """Decorator: make `fn(batch, config) -> (advantages, returns)` selectable as `algorithm: <name>`.

    Raises ValueError when another function already holds the name.
    """

    def decorator(fn):
        known = _REGISTRY.get(name)
        if known is not None and known.estimator is not fn:
            raise ValueError(f"algorithm {name!r} is already registered by {known.estimator.__qualname__}")
        _REGISTRY[name] = Algorithm(name, fn, default_loss_type, default_beta, critic)
        fn.algorithm = _REGISTRY[name]
        return fn

    return decorator


def get_algorithm(name: str) -> Algorithm:
    """The algorithm a recipe's `algorithm:` names: a registered name, a "package.module:function" path or
    an entry point of the group `logicrl.algorithms`. Raises UserError (one line, naming the field)."""
    if not isinstance(name, str) or not name:
        raise UserError(f"config field algorithm: expected a name, got {name!r}")
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return _as_algorithm(name, _import_path(name))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _as_algorithm(name, ep.load())
    raise UserError(f"config field algorithm: unknown algorithm {name!r} (registered: {', '.join(available())}; "
                    f"or 'package.module:function', or an entry point in group {ENTRY_POINT_GROUP!r})")


def check_estimator_output(name: str, out, rows: int, width: int):
    """`out`, an estimator's return value for a batch of `rows` completions `width` tokens wide, as
    (advantages, returns) after checking the contract: a pair of tensors, each (rows,) or (rows, width),
    every advantage finite. Raises UserError naming the algorithm otherwise (a wrong shape failed deep in TRL;
    NaN advantages made every weight NaN while the run reported success)."""
    import torch

    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise UserError(f"algorithm {name!r} must return (advantages, returns), two tensors; got "
                        f"{type(out).__name__}")
    for label, t in zip(("advantages", "returns"), out):
        if tuple(t.shape) not in ((rows,), (rows, width)):
            raise UserError(f"algorithm {name!r} returned {label} of shape {tuple(t.shape)}; expected ({rows},) or "
                            f"({rows}, {width}): one value per completion, or per completion token")
    bad = int((~torch.isfinite(out[0])).sum())
    if bad:
        raise UserError(f"algorithm {name!r} returned advantages that are not finite ({bad} NaN or inf of "
                        f"{out[0].numel()}); give unscorable completions (NaN rewards) 0")
    return out[0], out[1]


def available() -> list[str]:
    """Registered algorithm names (the built-ins included before they are imported)."""
    return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES))


def _import_path(path: str):
    module_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"config field algorithm: cannot load {path!r}: {exc}") from None
    return obj


def _as_algorithm(name: str, obj) -> Algorithm:
    if isinstance(obj, Algorithm):
        return obj
    registered = getattr(obj, "algorithm", None)
    if isinstance(registered, Algorithm):
        return registered
    if not callable(obj):
        raise UserError(f"config field algorithm: {name!r} is not an advantage estimator function")
    return Algorithm(name, obj)  # a plain function: GRPO's defaults (dapo loss, no KL term)
