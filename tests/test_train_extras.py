"""Warm start before RL, trackers (report_to), held-out evaluation during training."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from test_train_utils import read_metrics, small_recipe

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("style", ["compact", "base", "chat"])
def test_warm_start_runs_sft_before_rl(tmp_path, style):
    from logicrl.config import load_config
    from logicrl.models import load_model_and_tokenizer
    from logicrl.training import build_trainer, run_trainer

    recipe = small_recipe(tmp_path / "run", max_steps=1, data={"prompt_style": style},
                          warm_start={"steps": 2, "learning_rate": 1e-2, "batch_size": 4})
    trainer, run_dir = build_trainer(recipe)
    base, _ = load_model_and_tokenizer("embedded")
    warm = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    base_params = dict(base.named_parameters())
    assert any(not torch.equal(warm[n], base_params[n]) for n in warm)  # SFT changed the model before RL
    result = run_trainer(trainer, run_dir, load_config(recipe))
    assert result.global_step == 1
    saved, _ = load_model_and_tokenizer(str(run_dir / "warm_start"))  # the "before RL" model is kept
    assert all(torch.equal(p, warm[n]) for n, p in saved.named_parameters())


def test_report_to_tensorboard(tmp_path):
    from logicrl.training import train

    train(small_recipe(tmp_path / "run", max_steps=1, report_to=["tensorboard"]))
    events = list((tmp_path / "run").rglob("events.out.tfevents.*"))
    assert events, "no tensorboard event file"


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="the wandb extra is not installed")
def test_report_to_wandb_offline(tmp_path, monkeypatch):
    """wandb in offline mode (no network here): the run is written locally with the reward metrics."""
    from logicrl.training import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_PROJECT", "logicrl-test")
    (tmp_path / "wandb").mkdir()
    train(small_recipe(tmp_path / "run", max_steps=1, report_to=["wandb"]))
    runs = list((tmp_path / "wandb").rglob("offline-run-*"))
    assert runs, "no offline wandb run directory"
    logged = list(runs[0].rglob("*.wandb"))
    assert logged, "no .wandb log"
    data = logged[0].read_bytes()  # protobuf records: metric names are stored as plain strings
    assert b"train/reward" in data and b"kk/answer" in data
    import wandb

    assert wandb.run is None  # train() closed its run: the next run in this process gets its own
    assert "finishing run" in (runs[0] / "logs" / "debug.log").read_text()


def test_heldout_evaluation_every_n_steps(tmp_path):
    from logicrl.training import train

    result = train(small_recipe(tmp_path / "run", max_steps=2, heldout={"every_n_steps": 1, "people": [3, 4],
                                                                        "count": 2, "max_new_tokens": 8}))
    assert [r["step"] for r in result.heldout] == [0, 1, 2]  # before training, then every step
    for record in result.heldout:
        assert 0.0 <= record["heldout/acc_n3"] <= 1.0 and 0.0 <= record["heldout/acc_n4"] <= 1.0
        assert 0.0 <= record["heldout/acc"] <= 1.0 and 0.0 <= record["heldout/format_rate"] <= 1.0
    logged = [r for r in read_metrics(tmp_path / "run") if "heldout/acc_n3" in r]
    assert [r["step"] for r in logged] == [0, 1, 2]
    assert all("loss" in r for r in logged[1:])  # steps 1, 2: in the training log lines


def test_math_data_with_math_reward(tmp_path):
    import json

    from logicrl.training import train

    data = tmp_path / "math.jsonl"
    data.write_text("\n".join(json.dumps({"problem": f"What is {a} + {a}?", "answer": str(2 * a)})
                              for a in range(8)) + "\n")
    result = train(small_recipe(tmp_path / "run", max_steps=1, data={"kind": "math", "path": str(data),
                                                                     "prompt_style": "base"},
                                rewards=[{"name": "math"}, {"name": "test_train_utils:space_reward"}]))
    assert result.global_step == 1
    rows = [r for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert "rewards/math/mean" in rows[0]


def test_math_data_errors_name_the_field(tmp_path):
    from logicrl.errors import UserError
    from logicrl.training import train

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "1+1", "answer": "2"}\n')
    with pytest.raises(UserError, match="data.path"):
        train(small_recipe(tmp_path / "run", data={"kind": "math", "path": str(bad)}, rewards=[{"name": "math"}]))


def test_custom_reward_example_runs_twice(tmp_path, monkeypatch, capsys):
    """examples/custom_reward.py trains into runs/custom_reward: a second run of the README's example used to stop
    with a UserError traceback telling the user about --resume / --overwrite, flags the example does not have."""
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "custom_reward_example", Path(__file__).resolve().parents[1] / "examples" / "custom_reward.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        example.train(1)
        assert "trained 1 steps" in capsys.readouterr().out
