"""Recipes: loading, overrides, validation (one-line errors naming the field, exit 2 before any work)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logicrl.cli import main
from logicrl.config import TrainConfig, load_config
from logicrl.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_valid_and_documented():
    import dataclasses
    import inspect

    config = load_config(None)
    assert isinstance(config, TrainConfig) and config.algorithm == "grpo" and config.model == "embedded"
    source = inspect.getsource(__import__("logicrl.config", fromlist=["x"]))
    for cls in (TrainConfig, type(config.lora), type(config.data), type(config.curriculum), type(config.ppo)):
        for f in dataclasses.fields(cls):
            # every field is followed by its docstring in the source
            assert f'    {f.name}: ' in source and '"""' in source.split(f"    {f.name}: ", 1)[1].split("\n")[1], f.name


def test_yaml_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("algorithm: reinforce_pp\nlearning_rate: 4e-7\nlora:\n  enabled: true\ndata:\n  people: 3-5\n")
    config = load_config(recipe, ["max_steps=7", "lora.r=4", "data.people=[3, 7]", "trl.mask_truncated_completions=true",
                                  "report_to=[tensorboard]", "curriculum.levels=3-7"])
    assert config.algorithm == "reinforce_pp"
    assert config.learning_rate == pytest.approx(4e-7)  # YAML reads 4e-7 as a string: coerced
    assert config.max_steps == 7 and config.lora.enabled and config.lora.r == 4
    assert config.data.people == [3, 7]
    assert config.curriculum.levels == [3, 4, 5, 6, 7]
    assert config.trl == {"mask_truncated_completions": True}
    assert config.report_to == ["tensorboard"]


def test_example_recipes_load():
    for name in ("embedded_cpu.yaml", "phi4_mini_lora.yaml", "qwen7b_logic_rl.yaml"):
        config = load_config(REPO / "examples" / name)
        assert config.max_steps >= 1, name
    qwen = load_config(REPO / "examples" / "qwen7b_logic_rl.yaml")
    assert qwen.algorithm == "reinforce_pp" and qwen.learning_rate == pytest.approx(4e-7)
    assert qwen.temperature == pytest.approx(0.7) and qwen.max_completion_length == 4096
    assert qwen.beta == pytest.approx(0.001) and qwen.num_generations == 8
    assert qwen.curriculum.levels == [3, 4, 5, 6, 7] and not qwen.lora.enabled
    phi = load_config(REPO / "examples" / "phi4_mini_lora.yaml")
    assert phi.model == "microsoft/Phi-4-mini-instruct" and phi.lora.enabled and phi.rollout_backend == "vllm"


@pytest.mark.parametrize(
    "source, overrides, field",
    [
        ({"lora": {"rank": 4}}, [], "lora.rank"),
        ({"learning_rat": 1e-5}, [], "learning_rat"),
        ({}, ["algorithm=sac"], "algorithm"),
        ({}, ["max_steps=0"], "max_steps"),
        ({}, ["max_steps=ten"], "max_steps"),
        ({}, ["lora.enabled=maybe"], "lora.enabled"),
        ({}, ["loss_type=foo"], "loss_type"),
        ({}, ["rollout_backend=sglang"], "rollout_backend"),
        ({}, ["num_generations=3"], "num_generations"),  # 8 completions are not a multiple of 3
        ({}, ["data.people=3-20"], "data.people"),
        ({}, ["data.people=three"], "data.people"),
        ({}, ["data.path=/nonexistent/kk.jsonl"], "data.path"),
        ({}, ["curriculum.mode=threshold", "curriculum.levels=[3, 4]"], "curriculum.levels"),
        ({}, ["trl.not_a_grpo_field=1"], "trl.not_a_grpo_field"),
        ({"rewards": [{"weight": 2}]}, [], "rewards[0]"),
        ({"ray": {"num_workers": -1}}, [], "ray.num_workers"),
        ({"data": 3}, [], "data"),
        ({"data": {"kind": "math", "path": __file__}, "warm_start": {"steps": 5}}, [], "warm_start.steps"),
        # fixed names: too few for the largest puzzle (training or held-out), or names no grader can read
        ({"data": {"names": ["Al", "Bo"]}}, [], "data.names"),
        ({"data": {"names": ["Al", "Bo", "Cy"]}, "heldout": {"every_n_steps": 5, "people": [4]}}, [], "data.names"),
        ({"data": {"names": ["Al", "al", "Cy"]}}, [], "data.names"),
        ({"data": {"names": ["Mary Ann", "Bo", "Cy"]}}, [], "data.names"),
    ],
)
def test_invalid_configs_name_the_field(source, overrides, field):
    with pytest.raises(UserError) as info:
        load_config(source, overrides)
    message = str(info.value)
    assert field in message and "\n" not in message


def test_bad_override_syntax():
    with pytest.raises(UserError, match="bad override"):
        load_config(None, ["max_steps"])
    with pytest.raises(UserError, match="lora.enabled is not a section"):
        load_config(None, ["lora.enabled=true", "lora.enabled.x=1"])


def _run_cli(capsys, tmp_path, *args):
    rc = main(["train", *args])
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize(
    "args, field",
    [
        (["--lora.rank=8"], "lora.rank"),
        (["--algorithm=dqn"], "algorithm"),
        (["--max_steps=-1"], "max_steps"),
        (["--rewards=[{name: no_such_reward}]"], "rewards[0]"),
        (["--model=/no/such/model"], "model"),
        (["--rollout_backend=vllm"], "rollout_backend"),
    ],
)
def test_cli_rejects_bad_config_with_exit_2_before_any_work(capsys, tmp_path, args, field):
    import importlib.util

    if field == "rollout_backend" and importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    run_dir = tmp_path / "run"
    rc, err = _run_cli(capsys, tmp_path, f"--output_dir={run_dir}", *args)
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("logicrl: error:") and field in err
    assert not run_dir.exists()  # nothing written


def test_cli_missing_config_file(capsys, tmp_path):
    rc, err = _run_cli(capsys, tmp_path, "--config", str(tmp_path / "nope.yaml"))
    assert rc == 2 and "nope.yaml" in err and len(err.splitlines()) == 1


def test_cli_bad_yaml(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("algorithm: [grpo\n")
    rc, err = _run_cli(capsys, tmp_path, "--config", str(bad))
    assert rc == 2 and "not valid YAML" in err and len(err.splitlines()) == 1


def test_round_trip_through_a_plain_dict():
    """Ray Train ships the recipe to its workers as a dict: it must load back unchanged."""
    config = load_config(REPO / "examples" / "qwen7b_logic_rl.yaml", ["ray.num_workers=4", "resume=last"])
    again = load_config(config.to_dict())
    assert again == config


@pytest.mark.parametrize("field", ["data.people", "heldout.people", "curriculum.levels", "data.mix"])
def test_people_out_of_range_name_the_recipes_range(field):
    """Below and above the range, a recipe's error names the same range, the recipe's (2-12), not the puzzle
    generator's 2-16 (a user told "within 2-16" who then asked for 14 was refused again)."""
    from logicrl.config import MAX_TRAIN_PEOPLE
    from puzzles import MIN_PEOPLE

    for bad in (MIN_PEOPLE - 1, MAX_TRAIN_PEOPLE + 1):
        override = (f"data.mix=[{{task: kk, people: [{bad}]}}]" if field == "data.mix" else f"{field}={bad}")
        with pytest.raises(UserError) as info:
            load_config(None, [override])
        assert f"{MIN_PEOPLE}..{MAX_TRAIN_PEOPLE}" in str(info.value), str(info.value)
