"""Routed LoRA adapters on the embedded model (CPU, fp32): routed outputs against each adapter alone, gradients of
one backward over a mixed batch, isolation of a step on one adapter, peft's hook leak, export / load / merge,
the routing rule (modality on image rows), and the recipe's errors."""

from __future__ import annotations

import json

import pytest
import torch

from logicrl.errors import UserError
from logicrl.routing import BASE, Router

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 11, 23], [8, 1, 64, 2, 90, 31, 4, 5], [12, 13, 14, 15, 16, 17, 18, 19],
                    [40, 41, 42, 43, 44, 45, 46, 47], [3, 3, 3, 9, 9, 9, 1, 1], [60, 2, 61, 3, 62, 4, 63, 5]])
ROUTES = ["logic", "math", "logic", BASE, "math", "logic"]


def two_adapter_model(seed: int = 0):
    """The embedded model with adapters "logic" (r=4) and "math" (r=8), both with random non-zero B (a fresh LoRA
    equals the base, which would make every comparison trivial), dropout 0."""
    from peft import LoraConfig, get_peft_model

    from logicrl.models import default_lora_targets, load_model_and_tokenizer

    base, _ = load_model_and_tokenizer("embedded")
    torch.manual_seed(seed)
    targets = default_lora_targets(base)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets,
                                            init_lora_weights=False), adapter_name="logic")
    model.add_adapter("math", LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets,
                                         init_lora_weights=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(0.05)
    return model


def adapter_params(model, name):
    return {n: p for n, p in model.named_parameters() if f".{name}." in n}


def routed_logits(model, routes, ids=IDS, trained=("logic", "math")):
    from logicrl.training.adapters import run_routed

    return run_routed(model, routes, lambda rows: model(input_ids=ids[rows]).logits, trained)


def test_routed_forward_equals_each_adapter_alone_and_base_equals_base():
    """Train mode, one mixed batch: each row's logits equal that adapter run alone (set_adapter), BASE rows the
    base (disable_adapter), and peft's own mixed-batch `adapter_names` in eval mode. Max difference: 0.0."""
    from logicrl.training.adapters import settle

    model = two_adapter_model()
    settle(model, ["logic", "math"])
    model.train()
    with torch.no_grad():
        routed = routed_logits(model, ROUTES)
        alone = {}
        for name in ("logic", "math"):
            model.set_adapter(name)
            alone[name] = model(input_ids=IDS).logits
        with model.disable_adapter():
            alone[BASE] = model(input_ids=IDS).logits
        model.eval()
        mixed = model(input_ids=IDS, adapter_names=ROUTES).logits
    diffs = [float((routed[i] - alone[r][i]).abs().max()) for i, r in enumerate(ROUTES)]
    assert max(diffs) == 0.0, diffs
    assert float((routed - mixed).abs().max()) == 0.0
    assert float((alone["logic"] - alone["math"]).abs().max()) > 1e-3  # the adapters differ
    assert float((alone["logic"] - alone[BASE]).abs().max()) > 1e-3


def test_one_backward_over_a_mixed_batch_reaches_every_adapter_with_rows():
    """After per-route forwards and ONE backward, every tensor of each adapter with rows has a gradient; an adapter
    without rows and the base have none. (The trap this guards against: peft's set_adapter freezes every other
    adapter, and a plain loop of forwards then one backward gives gradients to the last adapter only.)"""
    from logicrl.training.adapters import settle

    model = two_adapter_model()
    settle(model, ["logic", "math"])
    model.train()
    routed_logits(model, ROUTES).square().mean().backward()
    for name in ("logic", "math"):
        params = adapter_params(model, name)
        assert params and all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values()), name
    assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)

    # Only logic rows: math gets no gradient at all (None, so an optimizer skips it).
    model.zero_grad(set_to_none=True)
    routed_logits(model, ["logic", BASE, "logic", "logic", BASE, "logic"]).square().mean().backward()
    assert all(p.grad is not None for p in adapter_params(model, "logic").values())
    assert all(p.grad is None for p in adapter_params(model, "math").values())

    # The trap itself, with peft alone: forwards per adapter via set_adapter, then one backward.
    model.zero_grad(set_to_none=True)
    loss = 0
    for name in ("logic", "math"):
        model.set_adapter(name)
        loss = loss + model(input_ids=IDS[:2]).logits.square().mean()
    loss.backward()
    assert all(p.grad is None for p in adapter_params(model, "logic").values())  # lost silently by peft
    assert all(p.grad is not None for p in adapter_params(model, "math").values())


def test_a_step_on_one_adapter_leaves_the_other_and_the_base_bit_identical():
    """One AdamW (weight decay 0.1) over both adapters. After a step on a mixed batch (both have optimizer state),
    a step on logic rows only changes logic alone: math's and the base's tensors, and the math and base routes'
    logits, stay bit-identical."""
    from logicrl.training.adapters import settle

    model = two_adapter_model()
    settle(model, ["logic", "math"])
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable) == len(adapter_params(model, "logic")) + len(adapter_params(model, "math"))
    optimizer = torch.optim.AdamW(trainable, lr=1e-2, weight_decay=0.1)
    for routes in (ROUTES, ["logic"] * 6):
        if routes[0] == "logic" and len(set(routes)) == 1:
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            with torch.no_grad():
                routes_before = routed_logits(model, ["math", BASE, "math", BASE, "math", BASE])
        optimizer.zero_grad(set_to_none=True)
        routed_logits(model, routes).square().mean().backward()
        optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and all(".logic." in n for n in changed)
    assert len(changed) == len(adapter_params(model, "logic"))
    with torch.no_grad():
        routes_after = routed_logits(model, ["math", BASE, "math", BASE, "math", BASE])
    assert torch.equal(routes_before, routes_after)


def test_adapter_names_hook_leak_is_cleaned_up():
    """peft issue 3475: an exception inside an `adapter_names` forward leaves pre-forward hooks behind and the next
    plain forward fails. Inside `adapter_names_guard` they are removed and the next forward is right."""
    from logicrl.training.adapters import adapter_names_guard, remove_leaked_adapter_hooks

    model = two_adapter_model().eval()
    model.set_adapter("logic")
    with torch.no_grad():
        expected = model(input_ids=IDS).logits

    def boom(module, args):
        raise MemoryError("simulated out of memory")

    layer = next(m for n, m in model.named_modules() if n.endswith("layers.1.mlp.down_proj"))
    handle = layer.register_forward_pre_hook(boom)
    with pytest.raises(MemoryError), torch.no_grad():
        model(input_ids=IDS, adapter_names=ROUTES)  # unguarded: peft leaks its hooks
    handle.remove()
    with pytest.raises(ValueError), torch.no_grad():
        model(input_ids=IDS[:2])  # the leaked hooks expect 6 rows
    assert remove_leaked_adapter_hooks(model) > 0

    handle = layer.register_forward_pre_hook(boom)
    with pytest.raises(MemoryError), torch.no_grad(), adapter_names_guard(model):
        model(input_ids=IDS, adapter_names=ROUTES)
    handle.remove()
    assert remove_leaked_adapter_hooks(model) == 0  # the guard already removed them
    with torch.no_grad():
        assert torch.equal(model(input_ids=IDS).logits, expected)


def test_export_load_round_trip_serve_command_and_merge(tmp_path):
    """export_adapters writes adapters/<name>/ (standalone peft adapters), routing.json and the vllm serve command;
    loading them back gives bit-identical logits per route; merging one route stays within its stated tolerance."""
    from logicrl.models import load_model_and_tokenizer, resolve_model_path
    from logicrl.routing import read_routing
    from logicrl.training.adapters import (
        MERGE_TOLERANCE,
        Routing,
        export_adapters,
        load_routed_model,
        merge_route,
        settle,
    )

    model = two_adapter_model().eval()
    settle(model, ["logic", "math"])
    with torch.no_grad():
        reference = routed_logits(model, ROUTES)
    router = Router(by="task", map={"kk": "logic", "arith": "math", "chat": BASE}, default="error")
    base_path = resolve_model_path("embedded")
    result = export_adapters(model, tmp_path / "final", Routing(router, ["logic", "math"], ["logic", "math"]),
                             base_model=base_path)
    for name in ("logic", "math"):
        assert (tmp_path / "final" / "adapters" / name / "adapter_config.json").is_file()
    assert not list((tmp_path / "final").glob(".adapters-*"))  # no temporary folder left
    routed = read_routing(tmp_path / "final")
    assert routed.router.to_dict() == router.to_dict() and routed.base_model == base_path
    assert set(routed.adapters) == {"logic", "math"}
    serve = json.loads((tmp_path / "final" / "routing.json").read_text())["vllm_serve"]
    assert serve == result["serve"] and serve.startswith(f"vllm serve {base_path} --enable-lora --max-loras 2 "
                                                         "--max-lora-rank 8 --lora-modules logic=")
    assert (tmp_path / "final" / "serve.sh").read_text().strip().endswith(serve)

    base, _ = load_model_and_tokenizer("embedded")
    loaded = load_routed_model(base, routed.adapters)
    with torch.no_grad():
        again = loaded(input_ids=IDS, adapter_names=ROUTES).logits
    assert torch.equal(again, reference)

    # Merging the "math" route alone into the base: merged vs unmerged logits within the fp32 tolerance.
    diff = merge_route(base_path, routed.adapters["math"], tmp_path / "merged-math", probe_ids=IDS.tolist())
    assert diff <= MERGE_TOLERANCE["float32"]
    merged, _ = load_model_and_tokenizer(str(tmp_path / "merged-math"))
    with torch.no_grad():
        merged_logits = merged(input_ids=IDS).logits
    rows = [i for i, r in enumerate(ROUTES) if r == "math"]
    assert float((merged_logits[rows] - reference[rows]).abs().max()) <= MERGE_TOLERANCE["float32"]
    print(f"merged vs unmerged max |dlogit| = {diff:.2e}")


def test_router_columns_modality_rule_and_defaults(tmp_path):
    """The router reads any column; the built-in modality key sends image rows to the vision adapter and text
    rows to the base, as Phi-4-Multimodal does; unmapped values follow `default`."""
    vision = Router(by="modality", map={"image": "vision", "text": BASE}, default="error")
    rows = [{"prompt": "push the box left", "images": ["obs-0.png"]},
            {"prompt": "who is a knight?"},
            {"prompt": "a frame", "image": "frame.png"},
            {"prompt": "no image here", "images": []},
            {"prompt": "declared", "modality": "image"}]
    assert vision.routes(rows) == ["vision", BASE, "vision", BASE, "vision"]
    by_task = Router(by="task", map={"kk": "logic", 3: "math"}, default=BASE)
    assert by_task.routes([{"task": "kk"}, {"task": 3}, {"task": "sokoban"}, {}]) == ["logic", "math", BASE, BASE]
    strict = Router(by="task", map={"kk": "logic"})
    with pytest.raises(UserError, match="task='sokoban'"):
        strict.route({"task": "sokoban"})
    with pytest.raises(UserError, match="names no adapter"):
        Router(map={"kk": "logik"}).check(["logic"])
    (tmp_path / "r.yaml").write_text("by: modality\nmap: {image: vision, text: __base__}\n")
    from logicrl.routing import parse_adapters_arg, read_routing

    read = read_routing(tmp_path / "r.yaml", adapters={"vision": str(tmp_path)})
    assert read.router.route(rows[0]) == "vision"
    with pytest.raises(UserError, match="not a peft adapter"):
        parse_adapters_arg(f"logic={tmp_path}")
    with pytest.raises(UserError, match="NAME=PATH"):
        parse_adapters_arg("logic")


@pytest.mark.parametrize(("recipe", "message"), [
    ({"lora": {"enabled": True, "adapters": {"default": {}}}}, "lora.adapters: 'default' is reserved"),
    ({"lora": {"enabled": True, "adapters": {"__base__": {}}}}, "reserved"),
    ({"lora": {"enabled": True, "adapters": {"a-b": {}}}}, "must start with a letter"),
    ({"lora": {"enabled": False, "adapters": {"logic": {}}}}, "lora.adapters: needs lora.enabled"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}, "routing": {"map": {"kk": "math"}}}},
     "lora.routing.map.kk: 'math' names no adapter"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}, "routing": {"default": "mat"}}}, "lora.routing.default"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}, "train": ["math"]}}, "lora.train: 'math' names no"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}, "train": []}}, "lora.train: empty"),
    ({"lora": {"enabled": True, "adapters": {"logic": {"r": 1024}}}, "rollout_backend": "vllm_lora"},
     "lora.adapters.logic.r: rank 1024 is above vLLM"),
    ({"lora": {"enabled": True, "adapters": {"logic": {"target_modules": ["qkv_proj", "lm_head"]}}},
      "rollout_backend": "vllm_lora"}, "lm_head"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}}, "rollout_backend": "vllm"}, "rollout_backend: TRL"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}}, "algorithm": "ppo"}, "algorithm: ppo"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}}, "gradient_checkpointing": True},
     "gradient_checkpointing"),
    ({"lora": {"enabled": True, "adapters": {"logic": {"init": "/nonexistent"}}}}, "lora.adapters.logic.init"),
    ({"lora": {"enabled": True, "routing": {"map": {"kk": "logic"}}}}, "lora.routing: needs lora.adapters"),
    ({"lora": {"enabled": True, "train": ["logic"]}}, "lora.train: needs lora.adapters"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}, "math": {}}, "train": ["logic"],
               "routing": {"map": {"kk": "logic", "m": "math"}}},
      "data": {"mix": [{"task": "kk"}, {"task": "m", "kind": "kk"}]}}, "task 'm' of data.mix routes to frozen"),
    ({"lora": {"enabled": True, "adapters": {"logic": {}}, "routing": {"map": {"kk": "logic"}}},
      "data": {"mix": [{"task": "kk"}, {"task": "other"}]}}, "task='other' matches no entry"),
    ({"data": {"mix": [{"task": "", "kind": "kk"}]}}, "data.mix\\[0\\].task"),
    ({"data": {"mix": [{"task": "m", "kind": "math"}]}}, "data.mix\\[0\\].path: math data needs"),
    ({"data": {"mix": [{"task": "kk"}]}, "rewards": [{"name": "kk", "tasks": ["math"]}]},
     "rewards\\[0\\].tasks: 'math' is no task"),
    ({"rewards": [{"name": "kk", "tasks": ["kk"]}]}, "rewards\\[0\\].tasks: restricting a reward to tasks needs"),
])
def test_recipe_errors_are_one_line_and_name_the_field(recipe, message):
    from logicrl.config import load_config

    with pytest.raises(UserError, match=message) as info:
        load_config(recipe)
    assert "\n" not in str(info.value)


def test_restricted_rewards_score_only_their_tasks():
    """A reward with `tasks:` is called on its task's rows alone and returns None elsewhere (TRL's multi-task
    convention); per-adapter accuracy is logged from the `route` column."""
    import rewards
    from logicrl.training.rewards import restrict_to_tasks, with_component_logging

    kk = rewards.get("kk", preset="logic_rl")
    restricted = with_component_logging(restrict_to_tasks(kk, ["kk"]), "kk")
    truth = "(1) Zoey is a knight\n(2) Oliver is a knave"
    good = ("<think> Zoey tells the truth so Oliver lies </think><answer>(1) Zoey is a knight\n"
            "(2) Oliver is a knave</answer>")
    logged = {}
    scores = restricted(["p"] * 3, [good, "<answer>12</answer>", good], task=["kk", "math", "kk"],
                        solution_text_format=[truth, None, truth], route=["logic", "math", "logic"],
                        n_people=[2, None, 2], answer=[None, "12", None],
                        log_metric=lambda k, v: logged.__setitem__(k, v))
    assert scores[1] is None and scores[0] == scores[2] == kk(["p"], [good], solution_text_format=[truth])[0]
    assert logged["adapters/logic/accuracy"] == 1.0 and "adapters/math/accuracy" not in logged
