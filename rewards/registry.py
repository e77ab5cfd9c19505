"""Reward registry: register by name, look up from config, load by dotted path or entry point, combine.

A reward is TRL-compatible: `fn(prompts, completions, **dataset_columns) -> list[float | None]`, with
`fn.__name__` (TRL logs `rewards/<name>/mean`) and `fn.breakdown(...) -> list[dict[str, float]]`.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rewards.textutil import completion_text

ENTRY_POINT_GROUP = "logicrl.rewards"
_NAN = float("nan")


class RewardConfigError(ValueError):
    """A reward name, option or weight in the config is wrong (a one-line message for the user)."""


@dataclass(frozen=True)
class _Registration:
    target: Callable
    factory: bool
    per_sample: bool


_REGISTRY: dict[str, _Registration] = {}


def register(name: str, *, factory: bool = False, per_sample: bool = False, overwrite: bool = False):
    """Decorator that registers a reward under `name`.

    - default: `fn(prompts, completions, **columns) -> list[float | None]` (TRL's convention); options given
      to `get(name, **options)` are passed as keyword arguments on every call.
    - `per_sample=True`: `fn(completion: str, **row) -> float | None`, called once per completion with the
      completion as text and that sample's dataset columns (and `prompt`).
    - `factory=True`: `fn(**options) -> RewardFn | callable`, for rewards that prepare state from options.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise RewardConfigError(f"reward name must be a non-empty string without ':', got {name!r}")

    def decorator(target: Callable) -> Callable:
        if name in _REGISTRY and not overwrite and _REGISTRY[name].target is not target:
            raise RewardConfigError(f"a reward named {name!r} is already registered (pass overwrite=True)")
        _REGISTRY[name] = _Registration(target, factory, per_sample)
        return target

    return decorator


def available() -> list[str]:
    """Names registered so far (built-ins and anything imported that used @register)."""
    return sorted(_REGISTRY)


class RewardFn:
    """A ready reward callable for TRL's GRPOTrainer, with per-sample `breakdown` for logging.

    Built from `breakdown_fn(prompts, completions, **columns) -> list[dict]`, where each dict holds the
    sample's components and its total under the key "reward" (None when the reward does not apply).
    When TRL passes its `log_metric` hook, the batch means of the components are logged as
    `<name>/<component>` (set `log_components=False` to skip).
    """

    def __init__(self, name: str, breakdown_fn: Callable[..., list[dict]], *, log_components: bool = True):
        self.__name__ = name
        self.__qualname__ = name
        self._breakdown_fn = breakdown_fn
        self.log_components = log_components

    def __repr__(self) -> str:
        return f"RewardFn({self.__name__!r})"

    def _rows(self, prompts, completions, kwargs) -> list[dict]:
        if completions is None:
            raise TypeError(f"reward {self.__name__!r} needs `completions`")
        n = len(completions)
        if prompts is None:
            prompts = [None] * n
        elif len(prompts) != n:
            raise ValueError(f"reward {self.__name__!r}: {len(prompts)} prompts for {n} completions")
        rows = self._breakdown_fn(prompts, completions, **kwargs)
        if len(rows) != n:
            raise ValueError(f"reward {self.__name__!r} returned {len(rows)} values for {n} completions")
        return rows

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        rows = self._rows(prompts, completions, kwargs)
        log_metric = kwargs.get("log_metric")
        if self.log_components and callable(log_metric) and rows:
            for key in rows[0]:
                if key == "reward":
                    continue
                values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])]
                if values:
                    log_metric(f"{self.__name__}/{key}", sum(values) / len(values))
        return [r.get("reward") for r in rows]

    def breakdown(self, prompts=None, completions=None, **kwargs) -> list[dict[str, float]]:
        """Per-sample components (e.g. format, answer, length) and the total under "reward" (NaN if None)."""
        rows = self._rows(prompts, completions, kwargs)
        return [{k: (_NAN if v is None else float(v)) for k, v in r.items()} for r in rows]


def _plain_breakdown(fn: Callable, options: dict):
    """breakdown_fn for a user function in TRL's convention (uses its own .breakdown when it has one)."""

    own = getattr(fn, "breakdown", None)

    def breakdown_fn(prompts, completions, **kwargs):
        if callable(own):
            rows = [dict(r) for r in own(prompts, completions, **options, **kwargs)]
            values = fn(prompts, completions, **options, **kwargs)
            for r, v in zip(rows, values):
                r["reward"] = v
            return rows
        return [{"reward": v} for v in fn(prompts, completions, **options, **kwargs)]

    return breakdown_fn


def _per_sample_breakdown(fn: Callable, options: dict):
    """breakdown_fn for `fn(completion_text, **row) -> float`: calls it once per completion."""

    def breakdown_fn(prompts, completions, **kwargs):
        n = len(completions)
        columns = {
            k: v for k, v in kwargs.items()
            if isinstance(v, (list, tuple)) and len(v) == n and k != "completion_ids"
        }
        rows = []
        for i, completion in enumerate(completions):
            row = {k: v[i] for k, v in columns.items()}
            value = fn(completion_text(completion), prompt=prompts[i], **options, **row)
            rows.append({"reward": None if value is None else float(value)})
        return rows

    return breakdown_fn


def _check_options(fn: Callable, options: dict, name: str) -> None:
    """Reject options the function cannot take, at config time rather than mid-training."""
    if not options:
        return
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = {p.name for p in params}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise RewardConfigError(f"reward {name!r} does not take option(s) {', '.join(unknown)}")


def _build(name: str, registration: _Registration, options: dict) -> RewardFn:
    log_components = options.pop("log_components", True)
    target = registration.target
    if registration.factory:
        try:
            made = target(**options)
        except TypeError as exc:
            raise RewardConfigError(f"reward {name!r}: {exc}") from None
        if isinstance(made, RewardFn):
            made.log_components = log_components
            return made
        return RewardFn(name, _plain_breakdown(made, {}), log_components=log_components)
    _check_options(target, options, name)
    if registration.per_sample:
        return RewardFn(name, _per_sample_breakdown(target, options), log_components=log_components)
    return RewardFn(name, _plain_breakdown(target, options), log_components=log_components)


def _registration_of(obj: Any) -> _Registration:
    """The registration for an object loaded by path or entry point (a plain function if never registered)."""
    for registration in _REGISTRY.values():
        if registration.target is obj:
            return registration
    return _Registration(obj, factory=False, per_sample=False)


def _import_object(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise RewardConfigError(f"reward path must look like 'package.module:function', got {path!r}")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise RewardConfigError(f"cannot import reward module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RewardConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise RewardConfigError(f"reward {path!r} is not callable")
    return obj


def load(path: str, **options) -> RewardFn:
    """A ready reward from a dotted path "package.module:function" (registered or plain TRL-style function)."""
    obj = _import_object(path)
    if isinstance(obj, RewardFn):
        if options:
            raise RewardConfigError(f"reward {path!r} is already built and takes no options")
        return obj
    name = getattr(obj, "__name__", path.rpartition(":")[2])
    return _build(name, _registration_of(obj), dict(options))


def _entry_point(name: str):
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep
    return None


def get(name: str, **options) -> RewardFn:
    """A ready reward by registered name, entry point (group `logicrl.rewards`) or "pkg.mod:fn" path."""
    if not isinstance(name, str) or not name:
        raise RewardConfigError(f"reward name must be a non-empty string, got {name!r}")
    options = dict(options)
    if name in _REGISTRY:
        return _build(name, _REGISTRY[name], options)
    if ":" in name:
        return load(name, **options)
    ep = _entry_point(name)
    if ep is not None:
        obj = ep.load()
        if isinstance(obj, RewardFn):
            return obj
        registration = _REGISTRY.get(name) or _registration_of(obj)
        return _build(name, registration, options)
    raise RewardConfigError(
        f"unknown reward {name!r}; registered: {', '.join(available())} "
        f"(or use 'package.module:function', or an entry point in group {ENTRY_POINT_GROUP!r})"
    )


RewardSpec = Any  # str | dict | RewardFn | callable | (reward, weight)


def _resolve(spec: RewardSpec) -> tuple[RewardFn, float]:
    """One config item -> (ready reward, weight)."""
    weight = 1.0
    if isinstance(spec, tuple) and len(spec) == 2:
        spec, weight = spec
    if isinstance(spec, RewardFn):
        reward = spec
    elif isinstance(spec, str):
        reward = get(spec)
    elif isinstance(spec, dict):
        options = dict(spec)
        name = options.pop("name", None)
        if name is None:
            raise RewardConfigError(f"reward entry needs a 'name': {spec!r}")
        weight = options.pop("weight", weight)
        reward = get(name, **options)
    elif callable(spec):
        reward = _build(getattr(spec, "__name__", "reward"), _registration_of(spec), {})
    else:
        raise RewardConfigError(f"cannot make a reward from {spec!r}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise RewardConfigError(f"reward {reward.__name__!r}: weight must be a finite number, got {weight!r}")
    return reward, float(weight)


def from_config(specs: Iterable[RewardSpec]) -> tuple[list[RewardFn], list[float]]:
    """Config list -> (reward functions, weights), ready for GRPOTrainer(reward_funcs=..., reward_weights=...).

    Each item is a name, `{"name": str, "weight": float = 1.0, **options}`, a callable or (reward, weight).
    """
    if isinstance(specs, (str, dict)):
        specs = [specs]
    pairs = [_resolve(spec) for spec in specs]
    if not pairs:
        raise RewardConfigError("no rewards configured")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def combine(specs: Iterable[RewardSpec], name: str | None = None) -> RewardFn:
    """One reward that is the weighted sum of several (config items as in `from_config`).

    A sample's total skips parts that return None for it (as TRL's nansum does); it is None only when all
    parts are None. The breakdown holds every part's components as `<part>/<component>`.
    """
    funcs, weights = from_config(specs)
    combined_name = name or "+".join(f.__name__ for f in funcs)

    def breakdown_fn(prompts, completions, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k != "log_metric"}
        per_part = [f._rows(prompts, completions, kwargs) for f in funcs]
        rows = []
        for i in range(len(completions)):
            row: dict[str, Any] = {}
            total, seen = 0.0, False
            for f, w, part_rows in zip(funcs, weights, per_part):
                part = part_rows[i]
                for key, value in part.items():
                    row[f"{f.__name__}/{key}"] = value
                value = part.get("reward")
                if value is not None and not math.isnan(value):
                    total += w * value
                    seen = True
            row["reward"] = total if seen else None
            rows.append(row)
        return rows

    return RewardFn(combined_name, breakdown_fn)
