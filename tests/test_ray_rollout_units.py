"""Ray rollout engines, the parts that need no cluster and no vLLM: shares, the adapter payload, the recipe
checks, the engines' runtime_env, and one dispatch round (grouping, per-rank split, version tags) against a
stand-in fleet. The engines themselves run for real in tests/test_ray_rollouts.py."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest

from logicrl.errors import UserError
from logicrl.ray.rollout_engines import (
    adapter_payload,
    balanced_shares,
    engine_runtime_env,
    payload_bytes,
    trained_adapter_names,
    write_adapter,
)
from logicrl.ray.settings import RaySettings


@pytest.mark.parametrize("sizes,engines", [([4] * 8, 2), ([4] * 7, 3), ([1] * 5, 2), ([8, 1, 1, 1, 1], 2),
                                           ([3], 4), ([], 2), ([5, 4, 3, 2, 2, 1], 3)])
def test_balanced_shares_keep_groups_whole_and_loads_even(sizes, engines):
    shares = balanced_shares(sizes, engines)
    assert len(shares) == engines
    assert sorted(i for share in shares for i in share) == list(range(len(sizes)))  # each group once
    assert all(share == sorted(share) for share in shares)  # request order inside a share
    loads = [sum(sizes[i] for i in share) for share in shares]
    if sizes:
        assert max(loads) - min(loads) <= max(sizes)
    assert balanced_shares(sizes, engines) == shares  # deterministic


def test_balanced_shares_random_cases_stay_within_one_group_of_even():
    rng = random.Random(0)
    for _ in range(200):
        sizes = [rng.choice([1, 2, 4, 8]) for _ in range(rng.randint(1, 40))]
        engines = rng.randint(1, 6)
        loads = [sum(sizes[i] for i in share) for share in balanced_shares(sizes, engines)]
        assert max(loads) - min(loads) <= max(sizes)
        assert sum(loads) == sum(sizes)


def _tiny_peft_model(names=("default",)):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(0)
    base = Phi3ForCausalLM(Phi3Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, pad_token_id=0))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj"], init_lora_weights=False)
    model = get_peft_model(base, config, adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, LoraConfig(r=2, lora_alpha=4, target_modules=["o_proj"], init_lora_weights=False))
    return model


def test_adapter_payload_is_what_save_pretrained_writes(tmp_path):
    """The payload's bytes, written by an engine, load in peft to the very same weights (and the config
    matches save_pretrained's); TRL's frozen "ref" copy is never part of it."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    model = _tiny_peft_model(("default", "ref"))
    assert trained_adapter_names(model) == ["default"]
    payload = adapter_payload(model)
    assert list(payload) == ["default"] and payload_bytes(payload) > 0
    folder = write_adapter(payload["default"], tmp_path / "sent")
    model.save_pretrained(str(tmp_path / "saved"), selected_adapters=["default"])
    sent, saved = load_file(folder / "adapter_model.safetensors"), load_file(tmp_path / "saved" / "adapter_model.safetensors")
    assert sent.keys() == saved.keys() and all(torch.equal(sent[k], saved[k]) for k in sent)
    sent_config = json.loads((folder / "adapter_config.json").read_text())
    saved_config = json.loads((tmp_path / "saved" / "adapter_config.json").read_text())
    for key in ("r", "lora_alpha", "peft_type", "use_rslora", "use_dora", "bias", "modules_to_save"):
        assert sent_config[key] == saved_config[key], key
    assert sorted(sent_config["target_modules"]) == sorted(saved_config["target_modules"])
    reloaded = PeftModel.from_pretrained(_tiny_peft_model().get_base_model(), str(folder))
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    model.set_adapter("default")
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_adapter_payload_carries_every_routed_adapter_under_its_name():
    model = _tiny_peft_model(("logic", "math"))
    payload = adapter_payload(model)
    assert sorted(payload) == ["logic", "math"]
    assert json.loads(payload["math"]["config"])["r"] == 2 and json.loads(payload["logic"]["config"])["r"] == 4


def test_recipe_checks_name_the_field(tmp_path):
    from logicrl.config import load_config
    from logicrl.ray.settings import validate_rollout_engines
    from logicrl.ray.submit import prepare
    from logicrl.training.build import require_rollout_backend

    engines = {"ray": {"rollout_engines": 2}, "rollout_backend": "vllm_lora", "lora": {"enabled": True}}
    validate_rollout_engines(load_config(engines))
    require_rollout_backend(load_config(engines))  # no local vLLM needed: the engines check their own
    for bad, match in (({"rollout_backend": "hf"}, "rollout_backend: vllm_lora"),
                       ({"lora": {"enabled": False}}, "lora.enabled"),
                       ({"warm_start": {"steps": 3}}, "warm_start.steps")):
        config = load_config({**engines, **bad})
        with pytest.raises(UserError, match="ray.rollout_engines") as info:
            validate_rollout_engines(config)
        assert match in str(info.value) and "\n" not in str(info.value)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("ray: {rollout_engines: 2}\nrollout_backend: hf\n")
    with pytest.raises(UserError, match="ray.rollout_engines"):  # refused before anything is submitted
        prepare(recipe, [], working_dir=tmp_path)


def test_engine_runtime_env_bounds_threads_and_forwards_settings(monkeypatch):
    monkeypatch.setenv("LOGICRL_VLLM_OPTIONS", '{"max_model_len": 256}')
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    env = engine_runtime_env(RaySettings(rollout_engines=2, rollout_engine_threads=1,
                                         rollout_runtime_env={"py_executable": "/opt/v/bin/python",
                                                              "env_vars": {"OMP_NUM_THREADS": "3"}}))
    assert env["py_executable"] == "/opt/v/bin/python"
    assert env["env_vars"]["LOGICRL_VLLM_OPTIONS"] == '{"max_model_len": 256}'
    assert env["env_vars"]["VLLM_CPU_OMP_THREADS_BIND"] == "nobind" and env["env_vars"]["MKL_NUM_THREADS"] == "1"
    assert env["env_vars"]["OMP_NUM_THREADS"] == "3"  # the recipe's own env_vars win
    assert env["env_vars"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    default = engine_runtime_env(RaySettings(rollout_engines=1))["env_vars"]
    assert "VLLM_CPU_OMP_THREADS_BIND" not in default and "OMP_NUM_THREADS" not in default


class _StandInFleet:
    """An EngineFleet without engines: completion i of a request is [seed % 97, i], logprobs -0.5."""

    def __init__(self):
        self.version, self.adapter_names, self.history, self.restarts = None, [], [], 0
        self.published, self.requests = [], []

    def publish(self, payload, version):
        self.version, self.adapter_names = version, list(payload)
        self.published.append(version)
        return payload_bytes(payload)

    def generate(self, requests):
        self.requests.append(requests)
        self.history.append({"engine": 0, "load_seconds": 0.0})
        return [{"completion_ids": [[r["params"]["seed"] % 97, i] for i in range(r["params"]["n"])],
                 "logprobs": [[-0.5, -0.5]] * r["params"]["n"], "version": self.version} for r in requests]


def _stand_in_trainer(model, step, temperature=1.0):
    accelerator = SimpleNamespace(num_processes=1, is_main_process=True, process_index=0,
                                  unwrap_model=lambda m: m, state=SimpleNamespace())
    return SimpleNamespace(model=model, accelerator=accelerator, state=SimpleNamespace(global_step=step),
                           args=SimpleNamespace(temperature=temperature, top_p=1.0, top_k=None, min_p=None,
                                                repetition_penalty=1.0),
                           max_completion_length=7, _metrics={"train": __import__("collections").defaultdict(list)})


def test_dispatch_round_groups_prompts_splits_per_rank_and_tags_versions():
    from logicrl.ray.rollout_dispatch import RayEngineRollout

    model = _tiny_peft_model()
    fleet = _StandInFleet()
    rollout = RayEngineRollout(fleet, tokenizer=None, seed=3)
    a, b, c = [1, 2], [3], [4, 5, 6]
    # Two training processes: rank 0 holds a group of 3 and the first 2 samples of b's group; rank 1 the rest.
    everyone = [[(a, "default")] * 3 + [(b, "default")] * 2, [(b, "default")] * 2 + [(c, "default")] * 4]
    reply = rollout._round(everyone, version=5, trainer=_stand_in_trainer(model, 5))
    (requests,) = fleet.requests
    assert [(r["prompt_ids"], r["params"]["n"], r["adapter"]) for r in requests] == \
        [(a, 3, "default"), (b, 4, "default"), (c, 4, "default")]  # b's group rejoined across ranks
    assert all(r["params"]["max_tokens"] == 7 and r["params"]["logprobs"] == 0 for r in requests)
    rank0, rank1 = reply["per_rank"]
    assert [row[0] for row in rank0] == [a, a, a, b, b] and [row[0] for row in rank1] == [b, b, c, c, c, c]
    b_samples = [row[1] for row in rank0[3:] + rank1[:2]]
    assert len({tuple(x) for x in b_samples}) == 4  # four distinct samples of b's group: none lost or repeated
    assert {row[3] for row in rank0 + rank1} == {5}
    assert fleet.published == [5] and reply["metrics"]["rollout/adapter_bytes"] > 0
    assert reply["metrics"]["rollout/completions"] == 11
    # Same step again (steps_per_generation / num_iterations reuse): no second publish.
    reply = rollout._round([[(a, "default")] * 2], version=5, trainer=_stand_in_trainer(model, 5))
    assert fleet.published == [5] and "rollout/adapter_bytes" not in reply["metrics"]
    rollout._round([[(a, "default")] * 2], version=6, trainer=_stand_in_trainer(model, 6))
    assert fleet.published == [5, 6]


def test_dispatch_greedy_rounds_send_one_request_per_completion():
    from logicrl.ray.rollout_dispatch import RayEngineRollout

    fleet = _StandInFleet()
    rollout = RayEngineRollout(fleet, tokenizer=None)
    rollout._round([[([1], "default")] * 3], version=0, trainer=_stand_in_trainer(_tiny_peft_model(), 0, 0.0))
    assert [r["params"]["n"] for r in fleet.requests[0]] == [1, 1, 1]


def test_routes_refuse_several_adapters_without_a_route():
    from logicrl.ray.rollout_dispatch import RayEngineRollout

    rollout = RayEngineRollout(_StandInFleet(), tokenizer=None)
    assert rollout.routes(["p", "q"], _stand_in_trainer(_tiny_peft_model(), 0)) == ["default", "default"]
    with pytest.raises(UserError, match="several adapters"):
        rollout.routes(["p"], _stand_in_trainer(_tiny_peft_model(("logic", "math")), 0))


def test_routed_runs_route_each_prompt_and_publish_every_routed_adapter():
    """Ray engines carry every routed adapter (not the KL reference copies), one route per prompt, and an engine
    keeps all of them resident (max_loras = number of adapters, the largest rank)."""
    from logicrl.config import load_config
    from logicrl.ray.rollout_dispatch import RayEngineRollout, engine_options_for
    from logicrl.routing import BASE

    model = _tiny_peft_model(("logic", "math", "ref-math"))
    trainer = _stand_in_trainer(model, 3)
    trainer.routing = SimpleNamespace(adapters=["logic", "math"])
    trainer.batch_routes = ["logic", "math", BASE]
    fleet = _StandInFleet()
    rollout = RayEngineRollout(fleet, tokenizer=None)
    assert rollout.routes(["p", "q", "r"], trainer) == ["logic", "math", None]
    rollout._round([[([1], "logic"), ([2], "math"), ([3], None)]], version=3, trainer=trainer)
    assert sorted(fleet.adapter_names) == ["logic", "math"]  # the reference copy stays in the trainer
    assert [r["adapter"] for r in fleet.requests[0]] == ["logic", "math", None]
    config = load_config({"lora": {"enabled": True, "r": 8, "adapters": {"logic": {}, "math": {"r": 32}},
                                   "routing": {"by": "task", "map": {"kk": "logic", "math": "math"}}},
                          "rollout_backend": "vllm_lora",
                          "data": {"mix": [{"task": "kk", "kind": "kk", "people": [3], "count": 4}]},
                          "rewards": [{"name": "kk", "tasks": ["kk"]}]})
    options = engine_options_for(config)
    assert options["max_loras"] == 2 and options["max_lora_rank"] == 32
    assert engine_options_for(load_config({}))["max_loras"] == 1


def test_engine_example_recipe_is_valid():
    from pathlib import Path

    from logicrl.config import load_config
    from logicrl.ray.settings import validate_rollout_engines, validate_settings

    config = load_config(Path(__file__).resolve().parents[1] / "examples" / "ray_engines_cpu.yaml")
    validate_settings(config.ray)
    validate_rollout_engines(config)
    assert config.ray.rollout_engines == 2 and config.ray.rollout_engine_threads == 1
