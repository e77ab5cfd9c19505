"""GRPO with two routed adapters through `logicrl.train`: a data mix of K&K puzzles and arithmetic problems, each
task's reward on its own rows, each row through its own adapter in rollouts, log-probs, loss and backward; per-row
KL references; per-adapter metrics; the export of final/."""

from __future__ import annotations

import json

import pytest
import torch
from test_train_utils import read_metrics

pytestmark = pytest.mark.slow


def arithmetic_file(path, count=16):
    rows = [{"problem": f"What is {a} + {b}?", "answer": str(a + b)} for a, b in zip(range(count), range(3, 3 + count))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def routed_recipe(tmp_path, **overrides) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    recipe = {
        "model": "embedded", "output_dir": str(tmp_path / "run"), "max_steps": 2, "seed": 0,
        "per_device_train_batch_size": 8, "num_generations": 4, "max_completion_length": 12,
        "learning_rate": 5e-3, "save_steps": 100, "progress_bar": False, "plot": True,
        "lora": {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0,
                 "adapters": {"logic": {}, "math": {"r": 8, "alpha": 16}},
                 "routing": {"by": "task", "map": {"kk": "logic", "arith": "math"}, "default": "error"}},
        "data": {"prompt_style": "compact",
                 "mix": [{"task": "kk", "kind": "kk", "people": [3], "count": 8},
                         {"task": "arith", "kind": "math", "prompt_style": "base",
                          "path": arithmetic_file(tmp_path / "arith.jsonl")}]},
        "rewards": [{"name": "kk", "preset": "logic_rl", "tasks": ["kk"]},
                    {"name": "math", "tasks": ["arith"]},
                    {"name": "test_train_utils:space_reward", "weight": 4.0}],
    }
    recipe.update(overrides)
    return recipe


def test_grpo_with_two_routed_adapters(tmp_path):
    """Two optimizer steps over mixed batches: both adapters train (only adapter tensors change), every group is
    one task, rewards apply to their own task, per-adapter metrics are logged, final/ holds adapters/<name>/ and
    routing.json; the exported adapters reproduce the trained model's routed logits exactly."""
    from logicrl.config import load_config
    from logicrl.routing import read_routing
    from logicrl.training import build_trainer, run_trainer
    from logicrl.training.adapters import load_routed_model

    recipe = routed_recipe(tmp_path)
    trainer, run_dir = build_trainer(recipe)
    model = trainer.model
    assert set(model.peft_config) == {"logic", "math"}  # no "default", no TRL "ref" copy
    assert sorted(set(trainer.train_dataset["route"])) == ["logic", "math"]
    seen_routes = []
    generate = trainer._generate_and_score_completions

    def spy(inputs):
        out = generate(inputs)
        seen_routes.append(list(trainer.batch_routes))
        rpf = trainer._last_rewards_per_func  # (B, F): kk, math, space
        for row, route in enumerate(trainer.batch_routes):
            assert torch.isnan(rpf[row, 0]) == (route != "logic")  # kk scores only kk rows
            assert torch.isnan(rpf[row, 1]) == (route != "math")
        return out

    trainer._generate_and_score_completions = spy
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    run_trainer(trainer, run_dir, load_config(recipe))
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert any(".logic." in n for n in changed) and any(".math." in n for n in changed)
    assert all("lora_" in n for n in changed)
    for routes in seen_routes:  # a GRPO group never mixes adapters
        assert all(len(set(routes[i:i + 4])) == 1 for i in range(0, len(routes), 4))
    assert any(len(set(routes)) == 2 for routes in seen_routes)  # some batch mixed both adapters

    logged = {k for row in read_metrics(run_dir) for k in row}
    for name in ("logic", "math"):
        assert {f"adapters/{name}/rows", f"adapters/{name}/reward"} <= logged, sorted(logged)
    assert "adapters/logic/accuracy" in logged
    assert (run_dir / "curves.png").is_file()

    routed = read_routing(run_dir / "final")
    assert set(routed.adapters) == {"logic", "math"} and routed.router.map == {"kk": "logic", "arith": "math"}
    from logicrl.models import load_model_and_tokenizer

    ids = torch.tensor([[5, 17, 42, 99, 7, 3], [8, 1, 64, 2, 90, 31]])
    model.eval()
    with torch.no_grad():
        live = model(input_ids=ids, adapter_names=["logic", "math"]).logits
        base, _ = load_model_and_tokenizer("embedded")
        loaded = load_routed_model(base, routed.adapters)
        assert torch.equal(loaded(input_ids=ids, adapter_names=["logic", "math"]).logits, live)


def test_kl_reference_per_row_and_init_adapters(tmp_path):
    """With beta > 0: rows of a fresh adapter take the bare base as KL reference, rows of an adapter started from
    `init` a frozen copy of its starting weights (TRL's own reference would copy an adapter named "default");
    the per-adapter KL is logged."""
    from logicrl.training import build_trainer
    from logicrl.training.adapters import run_routed

    first, _ = build_trainer(routed_recipe(tmp_path / "a", max_steps=1))
    with torch.no_grad():  # a non-trivial starting adapter to continue from
        for name, p in first.model.named_parameters():
            if ".math." in name and "lora_B" in name:
                p.normal_(0, 0.05)
    saved = tmp_path / "math_start"
    first.model.save_pretrained(str(saved), selected_adapters=["math"])

    recipe = routed_recipe(tmp_path / "b", beta=0.05)
    recipe["lora"]["adapters"]["math"] = {"init": str(saved / "math")}
    trainer, _ = build_trainer(recipe)
    assert trainer.beta == 0.05 and "ref-math" in trainer.model.peft_config
    assert trainer.routing.reference == {"__base__": "__base__", "logic": "__base__", "math": "ref-math"}
    assert not any(p.requires_grad for n, p in trainer.model.named_parameters() if ".ref-math." in n)

    trainer.model.train()
    batch = [trainer.train_dataset[0]] * 4 + [trainer.train_dataset[len(trainer.train_dataset) - 1]] * 4
    out = trainer._generate_and_score_completions(batch)
    assert trainer.batch_routes == ["logic"] * 4 + ["math"] * 4
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
    mask = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
    width = out["completion_ids"].size(1)
    plain = super(type(trainer), trainer)._get_per_token_logps_and_entropies
    with torch.no_grad():
        expect = run_routed(trainer.model, ["__base__"] * 4 + ["math"] * 4,
                            lambda rows: plain(trainer.model, ids[rows], mask[rows], width)[0],
                            trainer.routing.trained)  # math has not moved yet: its start == itself
    assert torch.allclose(out["ref_per_token_logps"], expect, atol=1e-6)
    # the math rows' reference is the starting adapter, not the base
    with torch.no_grad():
        base_ref = run_routed(trainer.model, ["__base__"] * 8,
                              lambda rows: plain(trainer.model, ids[rows], mask[rows], width)[0], [])
    m = out["completion_mask"][4:].bool()
    assert (out["ref_per_token_logps"][4:][m] - base_ref[4:][m]).abs().max() > 1e-3
    trainer.current_gradient_accumulation_steps = 1  # set by transformers' loop, which is not running here
    trainer._compute_loss(trainer.model, out)
    assert {"adapters/logic/kl", "adapters/math/kl"} <= set(trainer._metrics["train"])


def test_resume_restores_every_routed_adapter(tmp_path):
    """`--resume` of a routed run: every adapter comes back from checkpoint-N/<name>/ with its weights, both train
    on (each requires grad when the optimizer is rebuilt), and the run finishes its steps."""
    from logicrl.config import load_config
    from logicrl.training import build_trainer, run_trainer

    recipe = routed_recipe(tmp_path, max_steps=1, save_steps=1)
    trainer, run_dir = build_trainer(recipe)
    run_trainer(trainer, run_dir, load_config(recipe))
    saved = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    assert (run_dir / "checkpoint-1" / "logic" / "adapter_config.json").is_file()

    resumed = dict(recipe, max_steps=3, resume="last")
    trainer2, _ = build_trainer(resumed)
    fresh = {n: p.detach().clone() for n, p in trainer2.model.named_parameters() if "lora_" in n}
    assert any(not torch.equal(fresh[n], saved[n]) for n in saved)  # a new run starts elsewhere ...
    loaded = {}
    original = trainer2._load_from_checkpoint

    def spy(*args, **kwargs):
        original(*args, **kwargs)
        loaded.update({n: p.detach().clone() for n, p in trainer2.model.named_parameters() if "lora_" in n})

    trainer2._load_from_checkpoint = spy
    result = run_trainer(trainer2, run_dir, load_config(resumed))
    assert all(torch.equal(loaded[n], saved[n]) for n in saved)  # ... and resumes from the checkpoint's weights
    assert result.global_step == 3
    after = {n: p.detach() for n, p in trainer2.model.named_parameters() if "lora_" in n}
    assert any(".logic." in n and not torch.equal(after[n], saved[n]) for n in saved)
    assert any(".math." in n and not torch.equal(after[n], saved[n]) for n in saved)


def test_hf_rollouts_generate_each_prompt_with_its_adapter(tmp_path):
    """TRL's HF generation in a routed run: each prompt's completion is the one its own adapter generates alone
    (greedy here, adapters made distinct first)."""
    from logicrl.routing import group_rows
    from logicrl.training import build_trainer
    from logicrl.training.adapters import use_route

    trainer, _ = build_trainer(routed_recipe(tmp_path))
    model = trainer.model
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    trainer.generation_config.do_sample = False
    rows = [trainer.train_dataset[i] for i in (0, len(trainer.train_dataset) - 1, 1)]
    prompt_ids = [trainer.processing_class(text=r["prompt"])["input_ids"] for r in rows]
    trainer._routes_now = [r["route"] for r in rows]
    assert trainer._routes_now == ["logic", "math", "logic"]
    routed, _ = trainer._generate_single_turn(prompt_ids, None, {}, 1)
    trainer._routes_now = None
    for route, index in group_rows([r["route"] for r in rows]).items():
        with use_route(model, route, trainer.routing.trained):
            trainer._routes_now = None
            alone, _ = super(type(trainer), trainer)._generate_single_turn([prompt_ids[i] for i in index], None, {}, 1)
        assert [routed[i] for i in index] == alone, route
    with use_route(model, "logic", trainer.routing.trained):
        as_logic, _ = super(type(trainer), trainer)._generate_single_turn([prompt_ids[1]], None, {}, 1)
    assert as_logic[0] != routed[1]  # the math prompt really went through math, not logic
