"""Resuming from a checkpoint continues the step count; `logicrl train` end to end for 2 steps."""

from __future__ import annotations

import json

import pytest
import yaml
from test_train_utils import read_metrics, small_recipe

from logicrl.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_resume_continues_the_step_count(tmp_path, algorithm):
    import torch

    from logicrl.training import train

    run = tmp_path / "run"
    first = train(small_recipe(run, algorithm=algorithm, max_steps=2, save_steps=1))
    assert first.global_step == 2 and (run / "checkpoint-2" / "trainer_state.json").is_file()
    if algorithm == "ppo":
        head_at_2 = torch.load(run / "checkpoint-2" / "value_head.pt")
    second = train(small_recipe(run, algorithm=algorithm, max_steps=4, save_steps=1, resume="last"))
    assert second.global_step == 4
    steps = [r["step"] for r in read_metrics(run) if "loss" in r]
    assert steps == [1, 2, 3, 4]  # the second run logged steps 3 and 4 only
    state = json.loads((run / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    if algorithm == "ppo":
        # the value head was restored, then trained further
        head_at_4 = torch.load(run / "checkpoint-4" / "value_head.pt")
        assert not torch.equal(head_at_2["linear.weight"], head_at_4["linear.weight"])


def test_resume_errors(tmp_path, capsys):
    rc = main(["train", f"--output_dir={tmp_path / 'empty'}", "--resume"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no checkpoint" in err and len(err.splitlines()) == 1
    rc = main(["train", "--resume", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "not a checkpoint" in err


def test_cli_end_to_end_two_steps(tmp_path, capsys):
    recipe = small_recipe(tmp_path / "run", plot=True, progress_bar=True, max_steps=5)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    rc = main(["train", "--config", str(path), "--max_steps=2", "--algorithm=reinforce_pp", "lora.enabled=true"])
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    run = tmp_path / "run"
    assert "final model:" in out.out and str(run) in out.out
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "final" / "adapter_config.json").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["algorithm"] == "reinforce_pp" and saved["max_steps"] == 2 and saved["lora"]["enabled"]
    assert "RL: 100%" in out.err  # the progress bar ran to the end


def test_resume_lora_run_with_warm_start_keeps_the_warm_base(tmp_path):
    import torch

    from logicrl.config import load_config
    from logicrl.models import load_model_and_tokenizer
    from logicrl.training import build_trainer, run_trainer, train

    run = tmp_path / "run"
    common = {"lora": {"enabled": True, "r": 4}, "warm_start": {"steps": 2, "learning_rate": 1e-2, "batch_size": 4},
              "save_steps": 1}
    train(small_recipe(run, max_steps=2, **common))
    warm, _ = load_model_and_tokenizer(str(run / "warm_start"))
    before = (run / "warm_start" / "model.safetensors").stat().st_mtime_ns
    recipe = small_recipe(run, max_steps=3, resume="last", **common)
    trainer, run_dir = build_trainer(recipe)
    assert (run / "warm_start" / "model.safetensors").stat().st_mtime_ns == before  # not trained again
    base = trainer.model.get_base_model()
    warm_params = dict(warm.named_parameters())
    for name, p in base.named_parameters():
        if "lora_" not in name:
            key = name.replace(".base_layer", "")
            assert torch.equal(p.detach(), warm_params[key]), name
    assert run_trainer(trainer, run_dir, load_config(recipe)).global_step == 3
