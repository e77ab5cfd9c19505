"""Which adapters a vLLM engine serves, at which version, and which one each prompt uses.

The one piece every vLLM rollout path shares (the in-process `AdapterSyncRollout`, and Ray rollout engines):

- `AdapterPublisher.publish(model, step)` snapshots adapters to disk after an optimizer step: every trained
  adapter whose weights may have changed gets a new *version*, saved to a fresh directory under a new LoRA name
  *and* a new LoRA id (vLLM's prefix cache keys on them: a reused name or id could serve stale KV blocks, vllm
  issues 30931 and 42125); frozen adapters are published once. `current` is {adapter: PublishedAdapter}.
- `prompt_routes(trainer, prompts)` is the route of each prompt TRL hands a `rollout_func` (the routed trainer
  records them as `trainer.batch_routes`; a single-adapter run routes everything to "default").
- `publisher.requests(routes)` is one `vllm.lora.request.LoRARequest` per prompt (None for the bare base), for
  `LLM.generate(..., lora_request=[...])`; an engine needs `max_loras >= len(publisher.adapters)`.

A Ray engine receives `{adapter: (lora_name, lora_int_id, path)}` from `current` plus the per-prompt route list,
and builds the same requests with `lora_requests` (no trainer needed there).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from logicrl.routing import BASE

SINGLE = "default"
"""peft's name for the one adapter of a single-adapter run."""


@dataclass(frozen=True)
class PublishedAdapter:
    """One saved version of one adapter, as a vLLM engine loads it."""

    adapter: str
    """The peft adapter name (a route)."""
    version: int
    """1 for the first snapshot of this adapter, then +1 per optimizer step that changed it."""
    lora_name: str
    """The name vLLM knows this version by (new for every version)."""
    lora_int_id: int
    """The id vLLM knows this version by (new for every version, unique across adapters, > 0)."""
    path: str
    """The adapter directory (adapter_config.json, adapter_model.safetensors)."""
    step: int
    """The trainer's global step the weights are from."""
    bytes: int
    """Size of the saved files."""


def lora_requests(routes: list[str], current: dict[str, PublishedAdapter]) -> list:
    """One `LoRARequest` per route (None for the bare base, BASE). Raises KeyError naming an unpublished route."""
    from vllm.lora.request import LoRARequest

    made: dict[str, object] = {}
    out = []
    for route in routes:
        if route == BASE:
            out.append(None)
            continue
        if route not in made:
            if route not in current:
                raise KeyError(f"route {route!r} has no published adapter (published: {', '.join(current)})")
            p = current[route]
            made[route] = LoRARequest(p.lora_name, p.lora_int_id, p.path)
        out.append(made[route])
    return out


def prompt_routes(trainer, prompts: list) -> list[str]:
    """The route of each prompt of the batch TRL is generating: `trainer.batch_routes` in a routed run (checked
    against the number of prompts), else "default" for every prompt."""
    routes = getattr(trainer, "batch_routes", None)
    if getattr(trainer, "routing", None) is None or routes is None:
        return [SINGLE] * len(prompts)
    if len(routes) != len(prompts):
        raise RuntimeError(f"{len(prompts)} prompts but {len(routes)} routes: the rollout batch lost its routes")
    return list(routes)


class AdapterPublisher:
    """Snapshots of a peft model's adapters for a vLLM engine (see the module docstring).

    `adapters`: every adapter the engine must serve; `trained`: those that change (re-published at each new step);
    `workdir`: where versions are written; `keep`: versions kept on disk per adapter (older ones deleted once
    superseded); `names`: optional LoRA-name prefix per adapter (default: the adapter's name).
    """

    def __init__(self, adapters: list[str], trained: list[str], workdir: str | Path, keep: int = 2,
                 names: dict[str, str] | None = None):
        self.adapters = list(adapters)
        self.trained = [a for a in trained if a in self.adapters]
        self.workdir = Path(workdir)
        self.keep = max(1, keep)
        self.names = dict(names or {})
        self.current: dict[str, PublishedAdapter] = {}
        self.history: list[PublishedAdapter] = []
        self.published_step: int | None = None
        self._dirs: dict[str, list[Path]] = {}

    def publish(self, model, step: int) -> list[PublishedAdapter]:
        """Save every adapter that needs a new version at `step` (all on the first call; then the trained ones
        when `step` moved). Returns the versions written now (empty when nothing changed)."""
        if self.published_step == step and self.current:
            return []
        todo = [a for a in self.adapters if a not in self.current or a in self.trained]
        written = []
        for adapter in todo:
            version = self.current[adapter].version + 1 if adapter in self.current else 1
            lora_id = len(self.history) + 1  # unique over adapters and versions
            folder = self.workdir / f"{adapter}-v{version:05d}-step{step}"
            path = _save_one(model, adapter, folder)
            prefix = self.names.get(adapter, adapter)
            published = PublishedAdapter(adapter=adapter, version=version, lora_name=f"{prefix}-{lora_id}",
                                         lora_int_id=lora_id, path=str(path), step=step, bytes=_size(path))
            self.current[adapter] = published
            self.history.append(published)
            written.append(published)
            dirs = self._dirs.setdefault(adapter, [])
            dirs.append(folder)
            while len(dirs) > self.keep:
                shutil.rmtree(dirs.pop(0), ignore_errors=True)
        self.published_step = step
        return written

    def requests(self, routes: list[str]) -> list:
        return lora_requests(routes, self.current)

    def snapshot(self) -> dict[str, tuple[str, int, str]]:
        """{adapter: (lora_name, lora_int_id, path)}: what a remote engine needs to build the same requests."""
        return {a: (p.lora_name, p.lora_int_id, p.path) for a, p in self.current.items()}


def _save_one(model, adapter: str, folder: Path) -> Path:
    """Save one adapter of a peft model; returns its directory (peft writes a non-"default" adapter to
    <folder>/<adapter>/)."""
    model.save_pretrained(str(folder), selected_adapters=[adapter])
    path = folder if adapter == SINGLE else folder / adapter
    if not (path / "adapter_config.json").is_file():
        raise RuntimeError(f"peft did not write adapter {adapter!r} to {path}")
    return path


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def max_adapter_rank(model, adapters: list[str]) -> int:
    """The largest LoRA rank among `adapters` of a peft model (rank_pattern included)."""
    ranks = []
    for name in adapters:
        cfg = model.peft_config[name]
        ranks.extend([int(cfg.r), *map(int, (getattr(cfg, "rank_pattern", None) or {}).values())])
    return max(ranks)
