"""Routing rows to LoRA adapters: a fixed rule on per-sample metadata, as Phi-4-Multimodal routes by modality.

A `Router` maps one row (a dict: a dataset row, an eval problem, an agent observation) to a *route*: the
name of an adapter, or `BASE` ("__base__", the bare frozen base model). The rule reads one key of the row
(`by`): any column, or a built-in key computed from the row (`modality`: "image" when the row carries an
image, else "text"). `map` sends each value to a route; a value not in the map takes `default`: "error"
(raise), "__base__" or an adapter name. Nothing is learned, and the same rule runs in training, rollouts
(HF and vLLM), evaluation and serving (`routing.json`, written beside exported adapters).

This module imports no torch or peft: the config validation, data building and eval CLI use it cheaply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from logicrl.errors import UserError

BASE = "__base__"
"""The route that runs the bare base model (every adapter off), as peft's `adapter_names` spells it."""

RESERVED_NAMES = ("default", "ref", BASE)
"""Names an adapter may not take: peft's and TRL's own (`default`, TRL's reference copy `ref`) and the base route."""

ADAPTER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
"""Adapter names: a letter, then letters, digits or `_` (safe as a peft adapter key, a directory name and a vLLM
LoRA name; a `-` is kept for the reference copies LogicRL adds, `ref-<name>`)."""

ROUTING_FILE = "routing.json"
"""The routing rule and the adapters' locations, written beside exported adapters (`adapters/<name>/`)."""

IMAGE_COLUMNS = ("image", "images", "pixel_values", "image_path", "observation_image")
"""Columns whose non-empty value marks a row as an image row for the built-in `modality` key."""


def modality(row: Mapping) -> str:
    """The built-in `modality` key: "image" when the row carries an image (a non-empty value in one of
    IMAGE_COLUMNS, or an explicit `modality: image` column), else "text"."""
    explicit = row.get("modality")
    if isinstance(explicit, str) and explicit:
        return explicit.lower()
    for column in IMAGE_COLUMNS:
        value = row.get(column)
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and not any(v is not None for v in value):
            continue
        if isinstance(value, str) and not value:
            continue
        return "image"
    return "text"


BUILTIN_KEYS: dict[str, Callable[[Mapping], str]] = {"modality": modality}
"""Keys the router computes from a whole row instead of reading a column."""


def check_adapter_name(name: str, where: str) -> None:
    """UserError (naming `where`) unless `name` is a usable, unreserved adapter name."""
    if name in RESERVED_NAMES:
        raise UserError(f"{where}: {name!r} is reserved (reserved: {', '.join(RESERVED_NAMES)})")
    if not isinstance(name, str) or not ADAPTER_NAME.match(name):
        raise UserError(f"{where}: adapter name {name!r} must start with a letter and hold only letters, digits "
                        "and _ (at most 64 characters)")


@dataclass
class Router:
    """The routing rule. `route(row)` -> an adapter name or BASE. Raises UserError for a value the map lacks
    when `default` is "error"."""

    by: str = "task"
    """The row key that picks the route: a column name, or a built-in key ("modality")."""
    map: dict[str, str] = field(default_factory=dict)
    """Key value -> adapter name or "__base__". Values are compared as strings."""
    default: str = "error"
    """Route for values not in `map` (and rows without the key): "error", "__base__" or an adapter name."""

    def __post_init__(self):
        self.map = {str(k): str(v) for k, v in (self.map or {}).items()}

    def key(self, row: Mapping) -> str | None:
        """The value the rule reads from `row` (None when the row has no such column)."""
        if self.by in BUILTIN_KEYS and self.by not in row:
            return BUILTIN_KEYS[self.by](row)
        value = row.get(self.by)
        return None if value is None else str(value)

    def route(self, row: Mapping) -> str:
        value = self.key(row)
        if value is not None and value in self.map:
            return self.map[value]
        if self.default == "error":
            known = ", ".join(sorted(self.map)) or "none"
            raise UserError(f"routing: a row with {self.by}={value!r} matches no entry of routing.map "
                            f"(known: {known}) and routing.default is error")
        return self.default

    def routes(self, rows: Iterable[Mapping]) -> list[str]:
        return [self.route(row) for row in rows]

    def targets(self) -> set[str]:
        """Every route the rule can produce (adapter names and possibly BASE)."""
        out = set(self.map.values())
        if self.default != "error":
            out.add(self.default)
        return out

    def check(self, adapters: Iterable[str], where: str = "routing") -> None:
        """UserError when the rule names an adapter that is not in `adapters`."""
        known = set(adapters)
        if not isinstance(self.by, str) or not self.by:
            raise UserError(f"{where}.by: must name a column or a built-in key ({', '.join(BUILTIN_KEYS)})")
        for value, target in self.map.items():
            if target != BASE and target not in known:
                raise UserError(f"{where}.map.{value}: {target!r} names no adapter (adapters: "
                                f"{', '.join(sorted(known)) or 'none'}; or __base__)")
        if self.default not in ("error", BASE) and self.default not in known:
            raise UserError(f"{where}.default: {self.default!r} is not error, __base__ or an adapter "
                            f"({', '.join(sorted(known)) or 'none'})")

    def to_dict(self) -> dict:
        return {"by": self.by, "map": dict(self.map), "default": self.default}

    @classmethod
    def from_dict(cls, raw: Mapping, where: str = "routing") -> Router:
        if not isinstance(raw, Mapping):
            raise UserError(f"{where}: expected a mapping with by, map, default; got {raw!r}")
        unknown = set(raw) - {"by", "map", "default"}
        if unknown:
            raise UserError(f"{where}: unknown key {min(unknown)!r} (known: by, map, default)")
        mapping = raw.get("map") or {}
        if not isinstance(mapping, Mapping):
            raise UserError(f"{where}.map: expected a mapping of value -> adapter, got {mapping!r}")
        return cls(by=str(raw.get("by", "task")), map=dict(mapping), default=str(raw.get("default", "error")))


def group_rows(routes: list[str]) -> dict[str, list[int]]:
    """Row indices per route, routes in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, route in enumerate(routes):
        groups.setdefault(route, []).append(i)
    return groups


# ------------------------------------------------------------------------------------------ routing.json


@dataclass
class RoutedAdapters:
    """What `routing.json` holds: the rule, each adapter's directory and the base model they sit on."""

    router: Router
    adapters: dict[str, str]
    """Adapter name -> directory (absolute once read)."""
    base_model: str | None = None
    """The base model the adapters were trained on (a path or hub id; None when unknown)."""

    def to_json(self, root: Path | None = None) -> str:
        def rel(path: str) -> str:
            if root is None:
                return path
            try:
                return str(Path(path).resolve().relative_to(Path(root).resolve()))
            except ValueError:
                return str(path)

        payload = {**self.router.to_dict(), "adapters": {n: rel(p) for n, p in self.adapters.items()},
                   "base_model": self.base_model}
        return json.dumps(payload, indent=2) + "\n"


def read_routing(path: str | Path, adapters: Mapping[str, str] | None = None) -> RoutedAdapters:
    """Read a routing file (`routing.json`, or a YAML/JSON file with by/map/default). A directory holding
    `routing.json` is read as that file. Adapter paths are relative to the file's folder; `adapters` given
    here (e.g. from `--adapters`) replace the file's. Raises UserError for a missing or malformed file."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / ROUTING_FILE
    if not path.is_file():
        raise UserError(f"routing file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        else:
            raw = json.loads(text)
    except (OSError, ValueError) as exc:
        raise UserError(f"routing file {path} is not readable JSON/YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise UserError(f"routing file {path}: expected a mapping")
    found = raw.pop("adapters", None) or {}
    base_model = raw.pop("base_model", None)
    raw.pop("vllm_serve", None)
    router = Router.from_dict(raw, where=f"routing file {path}")
    if not isinstance(found, dict):
        raise UserError(f"routing file {path}: 'adapters' must map names to directories")
    resolved = {n: str((path.parent / p).resolve()) if not Path(p).is_absolute() else p for n, p in found.items()}
    if adapters:
        resolved = dict(adapters)
    for name in resolved:
        check_adapter_name(name, f"routing file {path}: adapters")
    router.check(resolved, where=f"routing file {path}")
    return RoutedAdapters(router=router, adapters=resolved, base_model=base_model)


def parse_adapters_arg(text: str) -> dict[str, str]:
    """`logic=PATH,math=PATH` -> {"logic": PATH, "math": PATH}; UserError naming the bad part."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, path = part.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise UserError(f"--adapters: expected NAME=PATH[,NAME=PATH...], got {part!r}")
        check_adapter_name(name, "--adapters")
        if name in out:
            raise UserError(f"--adapters: {name!r} is given twice")
        if not (Path(path).expanduser() / "adapter_config.json").is_file():
            raise UserError(f"--adapters: {name}={path} is not a peft adapter directory (no adapter_config.json)")
        out[name] = str(Path(path).expanduser())
    if not out:
        raise UserError("--adapters: no adapters given")
    return out
