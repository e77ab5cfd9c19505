"""Allowed ranges of numeric recipe fields, declared on the field itself and checked in one pass.

    batch_size: int = bounded(8, ge=1)      # then its docstring, as for any field

`bounded` is `dataclasses.field` with the range in the field's metadata; `check_bounds(config)` walks a
(nested) dataclass and raises `UserError("config field warm_start.batch_size: must be at least 1, got -1")`
for the first value outside its range. A list field with `items=True` has the range checked on each item.
None (an optional field left unset) is always allowed. No heavy imports: `logicrl.config` and
`logicrl.ray.settings` use it at import time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from logicrl.errors import UserError

BOUNDS_KEY = "logicrl_bounds"
"""The key of a field's metadata holding its `Bounds`."""


@dataclass(frozen=True)
class Bounds:
    """A numeric interval: each side open (gt/lt), closed (ge/le) or absent."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    items: bool = False
    """Check each item of a list instead of the value."""

    def contains(self, value) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def describe(self, integer: bool = False) -> str:
        """"at least 1", "positive", ">= 0", "in (0, 1]", or for integers "in 2..12"."""
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if low is not None and high is not None:
            if integer and self.ge is not None and self.le is not None:
                return f"in {low}..{high}"
            return f"in {'[' if self.ge is not None else '('}{low}, {high}{']' if self.le is not None else ')'}"
        if self.gt == 0:
            return "positive"
        if self.ge is not None:
            return f"at least {self.ge}" if self.ge else ">= 0"
        if self.gt is not None:
            return f"> {self.gt}"
        if self.le is not None:
            return f"at most {self.le}"
        if self.lt is not None:
            return f"< {self.lt}"
        return "any number"


def bounded(default=dataclasses.MISSING, *, ge=None, gt=None, le=None, lt=None, items: bool = False,
            default_factory=dataclasses.MISSING):
    """`dataclasses.field(default=...)` of a numeric field (or, with `items=True`, a list of numbers) whose
    allowed range is `ge`/`gt` (lower, closed/open) and `le`/`lt` (upper, closed/open)."""
    meta = {BOUNDS_KEY: Bounds(ge=ge, gt=gt, le=le, lt=lt, items=items)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def bounds_of(cls, name: str) -> Bounds | None:
    """The declared range of field `name` of dataclass `cls` (None when it has none)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get(BOUNDS_KEY)
    raise KeyError(name)


def check_bounds(obj, prefix: str = "") -> None:
    """Check every bounded field of the dataclass instance `obj`, recursing into nested dataclasses.
    Raises UserError naming the first field outside its range (`prefix` is prepended to its name)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_bounds(value, f"{name}.")
            continue
        bounds = f.metadata.get(BOUNDS_KEY)
        if bounds is None or value is None:
            continue
        if bounds.items:
            for i, item in enumerate(value):
                if not bounds.contains(item):
                    raise UserError(f"config field {name}[{i}]: must be {bounds.describe(_is_int(item))}, got {item}")
        elif not bounds.contains(value):
            raise UserError(f"config field {name}: must be {bounds.describe(_is_int(value))}, got {value}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
