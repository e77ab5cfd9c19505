"""The `trl:` pass-through of a recipe checked against `trl.GRPOConfig`: field names and annotated types.

Building TRL's config alone does not type-check (a string where a float belongs fails, or trains, much
later), so each value is matched against the field's annotation here, before anything is created.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from logicrl.errors import UserError


def check_trl_section(trl: dict) -> dict:
    """The `trl:` pass-through checked against `trl.GRPOConfig`: every key a field of it, every value of
    the field's annotated type (numbers written as strings, e.g. YAML's "1e-6", are converted). Returns
    the checked mapping; raises UserError naming the first bad key."""
    from trl import GRPOConfig  # imported only when a recipe has a trl: section

    fields = {f.name: f for f in dataclasses.fields(GRPOConfig) if f.init and not f.name.startswith("_")}
    try:
        hints = typing.get_type_hints(GRPOConfig)
    except Exception:  # noqa: BLE001 (an annotation this Python cannot resolve: check names only)
        hints = {}
    checked = {}
    for key, value in trl.items():
        if not isinstance(key, str) or key not in fields:
            raise UserError(f"config field trl.{key}: not a trl.GRPOConfig field")
        tp = hints.get(key, typing.Any)
        ok, converted = _match_type(value, tp)
        if not ok:
            raise UserError(f"config field trl.{key}: expected {_type_name(tp)} (trl.GRPOConfig's type), "
                            f"got {value!r:.80}")
        checked[key] = converted
    return checked


def _match_type(value, tp) -> tuple[bool, Any]:
    """(whether `value` fits the annotation `tp`, the value, with a numeric string converted for a
    float/int annotation). Annotations this does not understand accept any value."""
    import enum

    if tp is typing.Any or tp is object:
        return True, value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return type(None) in args, value
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and isinstance(value, str):  # `SchedulerType | str`: the string must name a member
            return any(value in [m.value for m in e] for e in enums), value
        for arg in (a for a in args if a is not type(None)):
            ok, converted = _match_type(value, arg)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        return value in args, value
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        return False, value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):
            try:
                return True, float(value)
            except ValueError:
                return False, value
        return False, value
    if tp is str:
        return isinstance(value, str), value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        choices = [m.value for m in tp]
        return (isinstance(value, tp) or value in choices), value
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set):
        if not isinstance(value, (list, tuple)):
            return False, value
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return len(args) == len(value) and all(_match_type(v, a)[0] for v, a in zip(value, args)), value
        item = args[0] if args else typing.Any
        results = [_match_type(v, item) for v in value]
        return all(ok for ok, _ in results), [v for _, v in results]
    if origin is dict or tp is dict:
        return isinstance(value, dict), value
    if isinstance(tp, type):
        return isinstance(value, tp), value
    return True, value


def _type_name(tp) -> str:
    import enum

    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in tp)
    if isinstance(tp, type):
        return {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
                "dict": "a mapping", "list": "a list"}.get(tp.__name__, tp.__name__)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums:
            return _type_name(enums[0])
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (list, tuple, set):
        return "a list" + (f" of {_type_name(args[0])}" if args and args[0] is not typing.Any else "")
    if origin is dict:
        return "a mapping"
    return str(tp).replace("typing.", "")
