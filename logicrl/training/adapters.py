"""Several named LoRA adapters on one frozen base, routed per row: built, switched, run, saved, exported, merged.

Everything here is plain peft (named adapters: `get_peft_model(..., adapter_name=)`, `add_adapter`,
`load_adapter`, `set_adapter`, `set_requires_grad`, `adapter_names=`, `save_pretrained(selected_adapters=)`,
`merge_and_unload`); LogicRL adds only the rule that says which rows go through which adapter
(`logicrl.routing.Router`) and the care peft's multi-adapter API needs in training:

- Per-row routing in training (`run_routed`): peft's mixed-batch `adapter_names=` refuses training mode, so the
  rows of each route run through the model with that adapter switched on (`use_route`), and the outputs are put
  back in row order: one loss over the mixed batch, one backward, one optimizer step.
- `set_adapter` and leaving `disable_adapter()` reset `requires_grad` (every adapter but the active one is
  frozen), and autograd accumulates only into tensors that require grad *at backward time*: after per-route
  forwards, a plain backward would give gradients to the last route alone. `use_route` therefore ends with
  `settle`, which makes every trained adapter require grad again (and every frozen one not), before the backward;
  the trainer also settles before the optimizer is built, so each trained adapter is in it.
- An exception inside an `adapter_names=` forward leaves peft's pre-forward hooks on the model (peft issue 3475,
  open in 0.21.2): `adapter_names_guard` removes them, so the next forward is not broken.
- TRL's reference model for a PeftModel copies only the adapter named `default`: routed runs keep their own
  reference per row instead (`reference_routes`: the bare base for a fresh adapter, a frozen copy of the starting
  weights, `ref-<name>`, for one loaded with `init`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from logicrl.errors import UserError
from logicrl.routing import BASE, ROUTING_FILE, RoutedAdapters, Router, group_rows

REFERENCE_PREFIX = "ref-"
"""Frozen copies of adapters loaded with `init` (their starting weights, the KL reference of their rows)."""

MERGE_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}
"""Largest |merged - unmerged| logit difference `merge_route` accepts, per dtype. fp32 measured ~1e-6 on the
embedded model (tests/test_adapters.py); half precision rounds each merged weight once more."""


@dataclass
class Routing:
    """A routed policy: the adapters on the model, which of them train, the rule, and each row's KL reference."""

    router: Router
    adapters: list[str]
    """Every routed adapter, in recipe order."""
    trained: list[str]
    """The adapters that get gradients."""
    reference: dict[str, str] = field(default_factory=dict)
    """Route -> the route its KL reference runs: BASE for a fresh adapter and for BASE, `ref-<name>` for an
    adapter started from `init`, the adapter itself for a frozen one (it does not move)."""

    @property
    def routes(self) -> list[str]:
        """Index -> route name of the trainer's per-row `route_index` tensor."""
        return [*self.adapters, BASE]

    def reference_routes(self, routes: Sequence[str]) -> list[str]:
        return [self.reference.get(r, BASE) for r in routes]


# ------------------------------------------------------------------------------------------ building


def peft_model_of(model):
    """The PeftModel under DDP / accelerate wrappers. Raises ValueError for a model without adapters."""
    while hasattr(model, "module") and not hasattr(model, "peft_config"):
        model = model.module
    if not hasattr(model, "peft_config"):
        raise ValueError("routed adapters need a peft model")
    return model


def build_adapters(model, config, references: bool) -> tuple:
    """Put the recipe's `lora.adapters` on `model` (fresh ones from their settings, `init` ones loaded), freeze
    the base, and with `references` add a frozen starting copy of each trained `init` adapter. Returns
    (PeftModel, Routing). Raises UserError for an adapter directory peft cannot load."""
    from peft import PeftModel, get_peft_model

    from logicrl.config import adapter_settings, router_of, trained_adapters
    from logicrl.training.lora import lora_config

    settings = adapter_settings(config)
    trained = trained_adapters(config)
    peft_model = None
    for name, s in settings.items():
        trainable = name in trained
        try:
            if s["init"]:
                if peft_model is None:
                    peft_model = PeftModel.from_pretrained(model, s["init"], adapter_name=name, is_trainable=trainable)
                else:
                    peft_model.load_adapter(s["init"], adapter_name=name, is_trainable=trainable)
            else:
                cfg = lora_config(_Settings(s), model if peft_model is None else peft_model.get_base_model())
                if peft_model is None:
                    peft_model = get_peft_model(model, cfg, adapter_name=name)
                else:
                    peft_model.add_adapter(name, cfg)
        except (ValueError, OSError, KeyError, RuntimeError) as exc:
            from logicrl.errors import first_line

            raise UserError(f"config field lora.adapters.{name}: cannot build the adapter: {first_line(exc)}") from None
    reference = {BASE: BASE}
    for name, s in settings.items():
        if name not in trained:
            reference[name] = name
        elif s["init"] and references:
            ref = REFERENCE_PREFIX + name
            peft_model.load_adapter(s["init"], adapter_name=ref, is_trainable=False)
            reference[name] = ref
        else:
            reference[name] = BASE
    routing = Routing(router=router_of(config), adapters=list(settings), trained=trained, reference=reference)
    settle(peft_model, routing.trained)
    return peft_model, routing


class _Settings:
    """Attribute view of one adapter's filled-in settings, for `logicrl.training.lora.lora_config`."""

    def __init__(self, s: dict):
        self.r, self.alpha, self.dropout, self.target_modules = s["r"], s["alpha"], s["dropout"], s["target_modules"]


def load_routed_model(base_model, adapters: dict[str, str]):
    """`base_model` with every adapter of `adapters` (name -> directory) loaded under its name, for inference.
    Raises UserError for a directory that holds no adapter."""
    from peft import PeftModel

    peft_model = None
    for name, path in adapters.items():
        if not (Path(path) / "adapter_config.json").is_file():
            raise UserError(f"adapter {name}={path} is not a peft adapter directory (no adapter_config.json)")
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(base_model, str(path), adapter_name=name)
        else:
            peft_model.load_adapter(str(path), adapter_name=name)
    peft_model.eval()
    return peft_model


# ------------------------------------------------------------------------------------------ switching


def settle(model, trained: Iterable[str]) -> None:
    """The resting state between routed calls: adapter layers on, the first trained adapter active, every
    trained adapter requiring grad and every other adapter (frozen, reference copies) not. Call it after any
    `set_adapter` / `disable_adapter()` and before the optimizer is built or a backward runs."""
    peft = peft_model_of(model)
    trained = [t for t in trained if t in peft.peft_config]
    if any(getattr(m, "_disable_adapters", False) for m in _lora_layers(peft)):
        peft.base_model.enable_adapter_layers()
    home = trained[0] if trained else next(iter(peft.peft_config))
    peft.set_adapter(home, inference_mode=True)  # every adapter frozen ...
    if trained:
        peft.set_requires_grad(trained, True)  # ... then the trained ones back on


def _lora_layers(model):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return (m for m in model.modules() if isinstance(m, BaseTunerLayer))


@contextlib.contextmanager
def use_route(model, route: str, trained: Iterable[str] = ()):
    """Run the body with only `route` switched on (BASE: every adapter off). A trained adapter requires grad
    inside; a frozen one does not. Leaves the model settled (`settle`) even when the body raises."""
    peft = peft_model_of(model)
    trained = list(trained)
    if route == BASE:
        peft.base_model.disable_adapter_layers()
    else:
        if route not in peft.peft_config:
            raise ValueError(f"route {route!r} names no adapter on the model ({', '.join(peft.peft_config)})")
        peft.set_adapter(route, inference_mode=route not in trained)
    try:
        yield peft
    finally:
        settle(peft, trained)


def run_routed(model, routes: Sequence[str], fn: Callable, trained: Iterable[str] = ()):
    """Call `fn(index)` once per route with that route switched on, `index` (a LongTensor) being the rows of
    `routes` that take it; `fn` returns a tensor or a tuple of tensors / None whose first dimension runs over
    those rows (0-dim tensors are averaged over the calls, weighted by rows). The results come back in row order,
    differentiably (a concatenation and one gather). The model is settled afterwards: every trained adapter
    requires grad again before the caller's backward."""
    import torch

    groups = group_rows(list(routes))
    trained = list(trained)
    parts = []
    for route, rows in groups.items():
        index = torch.tensor(rows, dtype=torch.long)
        with use_route(model, route, trained):
            out = fn(index)
        parts.append((index, out))
    single = not isinstance(parts[0][1], tuple)
    outs = [(i, (o,) if single else o) for i, o in parts]
    order = torch.cat([i for i, _ in outs])
    inverse = torch.argsort(order)
    merged = []
    for k in range(len(outs[0][1])):
        values = [o[k] for _, o in outs]
        if values[0] is None:
            merged.append(None)
        elif values[0].dim() == 0:
            weights = torch.tensor([len(i) for i, _ in outs], dtype=values[0].dtype, device=values[0].device)
            merged.append((torch.stack(values) * weights).sum() / weights.sum())
        else:
            merged.append(torch.cat(values, dim=0)[inverse.to(values[0].device)])
    return merged[0] if single else tuple(merged)


def remove_leaked_adapter_hooks(model) -> int:
    """Remove the `adapter_names` pre-forward hooks an exception left on the model (peft issue 3475); returns how
    many were removed."""
    from peft.tuners.lora.model import _adapter_names_pre_forward_hook

    removed = 0
    for module in model.modules():
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, functools.partial) and hook.func is _adapter_names_pre_forward_hook:
                del module._forward_pre_hooks[key]
                module._forward_pre_hooks_with_kwargs.pop(key, None)
                removed += 1
    return removed


@contextlib.contextmanager
def adapter_names_guard(model):
    """Wrap a forward / generate with `adapter_names=`: on an exception (out of memory, say), remove the hooks
    peft leaves behind (issue 3475) before re-raising."""
    try:
        yield
    except BaseException:
        remove_leaked_adapter_hooks(model)
        raise


def mixed_generate(model, routes: Sequence[str], **generate_kwargs):
    """`model.generate` with one route per row through peft's mixed-batch `adapter_names=` (inference mode only),
    hooks cleaned up on failure."""
    with adapter_names_guard(model):
        return model.generate(adapter_names=list(routes), **generate_kwargs)


# ------------------------------------------------------------------------------------------ export, merge


def vllm_serve_command(base_model: str, adapters: dict[str, str], max_rank: int) -> str:
    """The `vllm serve` command serving `base_model` with every adapter as a LoRA module (a request picks one
    with `"model": "<name>"`; the bare base answers to the base model's name)."""
    from logicrl.vllm_utils import lora_rank_limit

    modules = " ".join(f"{name}={Path(path).resolve()}" for name, path in adapters.items())
    return (f"vllm serve {base_model} --enable-lora --max-loras {max(1, len(adapters))} "
            f"--max-lora-rank {lora_rank_limit(max_rank)} --lora-modules {modules}")


def export_adapters(model, out_dir: str | os.PathLike, routing: Routing, base_model: str,
                    tokenizer=None, installed_at: str | os.PathLike | None = None) -> dict:
    """Write `out_dir/adapters/<name>/` (each a standalone peft adapter: `PeftModel.from_pretrained(base, dir)`)
    for every routed adapter, `out_dir/routing.json` (rule, adapter directories relative to it, base model and
    the serve command) and `out_dir/serve.sh`. Reference copies are not exported. Written to a temporary folder
    and renamed, so a failed export leaves no half-written adapters. `installed_at`: where `out_dir` will be
    once moved (a run writes final/ beside it first): the serve command names the adapters there.
    Returns {"adapters", "routing", "serve"}."""
    from logicrl.fsutil import atomic_write_text
    from logicrl.vllm_utils import adapter_rank

    peft = peft_model_of(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".adapters-", dir=out))
    try:
        peft.save_pretrained(str(tmp), selected_adapters=list(routing.adapters))
        for name in routing.adapters:  # peft writes every non-"default" adapter to <dir>/<name>/
            if not (tmp / name / "adapter_config.json").is_file():
                raise RuntimeError(f"peft did not write adapter {name} to {tmp / name}")
            if tokenizer is not None:
                tokenizer.save_pretrained(str(tmp / name))
        final = out / "adapters"
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    paths = {name: str(final / name) for name in routing.adapters}
    max_rank = max(adapter_rank(p) for p in paths.values())
    home = Path(installed_at) if installed_at is not None else out
    serve = vllm_serve_command(base_model, {n: str(home / "adapters" / n) for n in routing.adapters}, max_rank)
    routed = RoutedAdapters(router=routing.router, adapters=paths, base_model=base_model)
    import json

    payload = json.loads(routed.to_json(root=out))
    payload["vllm_serve"] = serve
    atomic_write_text(out / ROUTING_FILE, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(out / "serve.sh", "#!/bin/sh\n# Serve every routed adapter from one vLLM engine; a request "
                      "picks one with \"model\": \"<adapter name>\" (routing.json says which).\n" + serve + "\n")
    return {"adapters": paths, "routing": str(out / ROUTING_FILE), "serve": serve}


MERGE_MARKER = "logicrl_merge.json"
"""Written into every folder `merge_route` makes: the only kind of existing folder it replaces."""


def check_merge_out(out_dir: str | os.PathLike) -> None:
    """Raise UserError (one line) unless `merge_route` may write `out_dir`: a new folder, an empty one, or one it
    wrote before (holding MERGE_MARKER). Any other folder is refused, never deleted (it could be the run, the
    base model, anything), and so is a path that is or lies under a file."""
    from logicrl.fsutil import blocking_file

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"merge output {out} is a file, not a folder")
    blocker = blocking_file(out)
    if blocker is not None:
        raise UserError(f"merge output {out}: {blocker} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MERGE_MARKER).is_file():
        raise UserError(f"merge output {out} holds files `logicrl export --merge` did not write; give another "
                        "--out (nothing was changed)")


def merge_route(base_model: str, adapter_dir: str | os.PathLike, out_dir: str | os.PathLike,
                probe_ids: list[list[int]] | None = None, dtype: str = "float32", recipe=None) -> float:
    """Merge one adapter into the base weights for a single-route deployment and save the full model to `out_dir`
    (with the tokenizer, MERGE_MARKER and, when `recipe` names a file, the run's `logicrl_recipe.json`, from which
    `logicrl eval` reads the prompt style and names). Before saving, the merged model's logits on `probe_ids` are
    compared with the unmerged adapter's; returns the largest absolute difference. Raises UserError when it exceeds
    MERGE_TOLERANCE[dtype] (then nothing is written) or when `out_dir` may not be written (`check_merge_out`)."""
    import json

    import torch

    from logicrl.models import load_model_and_tokenizer
    from logicrl.training.rundir import RECIPE_FILE

    check_merge_out(out_dir)
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"{adapter_dir} is not a peft adapter directory (no adapter_config.json)")
    model, tokenizer = load_model_and_tokenizer(base_model, adapter=adapter_dir, dtype=dtype)
    model.eval()
    if probe_ids is None:
        vocab = model.get_base_model().config.vocab_size
        generator = torch.Generator().manual_seed(0)
        probe_ids = torch.randint(0, vocab, (4, 32), generator=generator).tolist()
    ids = torch.tensor(probe_ids)
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits.float()
        merged_model = model.merge_and_unload()
        merged = merged_model(input_ids=ids).logits.float()
    diff = float((merged - unmerged).abs().max())
    tolerance = MERGE_TOLERANCE.get(dtype, 5e-2)
    if diff > tolerance:
        raise UserError(f"merging {adapter_dir} changed the logits by {diff:.3g} (> {tolerance:g} for {dtype}); "
                        "nothing written")
    out = Path(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent if out.parent.exists() else None))
    try:
        merged_model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if recipe is not None and Path(recipe).is_file():
            shutil.copyfile(recipe, tmp / RECIPE_FILE)
        (tmp / MERGE_MARKER).write_text(json.dumps({"base_model": str(base_model), "adapter": str(adapter_dir),
                                                    "dtype": dtype}, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), str(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return diff
