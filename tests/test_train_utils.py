"""Shared helpers for the trainer tests (a tiny TRL-style reward, a small recipe), plus tests of the
reward-component logging and the curves plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest


def space_reward(prompts, completions, **kwargs):
    """A plain TRL-style reward (loaded by dotted path) that varies between samples: the share of spaces."""
    out = []
    for c in completions:
        text = c if isinstance(c, str) else c[-1]["content"]
        out.append(text.count(" ") / max(len(text), 1))
    return out


def always_correct(prompts, completions, **kwargs):
    """A reward whose breakdown marks every answer correct (drives a threshold curriculum in tests)."""
    return space_reward(prompts, completions)


always_correct.breakdown = lambda prompts, completions, **kwargs: [
    {"reward": r, "correct": 1.0} for r in space_reward(prompts, completions)]


def small_recipe(run_dir, **overrides) -> dict:
    """A recipe that trains the embedded model for a couple of steps in a few seconds on CPU."""
    recipe = {
        "model": "embedded",
        "output_dir": str(run_dir),
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 12,
        "learning_rate": 5e-3,
        "save_steps": 100,
        "progress_bar": False,
        "plot": False,
        "data": {"people": [3], "count": 8, "prompt_style": "compact"},
        "rewards": [{"name": "kk", "preset": "logic_rl"}, {"name": "test_train_utils:space_reward", "weight": 4.0}],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(recipe.get(key), dict):
            recipe[key] = {**recipe[key], **value}
        else:
            recipe[key] = value
    return recipe


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_component_logging_logs_breakdown_and_accuracy_by_people():
    import rewards
    from logicrl.training.rewards import with_component_logging

    kk = rewards.get("kk", preset="logic_rl")
    wrapped = with_component_logging(kk)
    truth = "(1) Zoey is a knight\n(2) Oliver is a knave"
    good = "<think> Zoey tells the truth so Oliver lies </think><answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>"
    wrong = "<think> Zoey lies so Oliver tells the truth </think><answer>(1) Zoey is a knave\n(2) Oliver is a knight</answer>"
    logged = {}
    scores = wrapped(["p"] * 3, [good, wrong, "nonsense"], solution_text_format=[truth] * 3, n_people=[2, 2, 3],
                     log_metric=lambda name, value: logged.__setitem__(name, value))
    assert scores == kk(["p"] * 3, [good, wrong, "nonsense"], solution_text_format=[truth] * 3)
    assert scores[0] > scores[1] > scores[2]
    assert logged["accuracy"] == pytest.approx(1 / 3)
    assert logged["accuracy/n2"] == pytest.approx(0.5)
    assert logged["accuracy/n3"] == 0.0
    assert "kk/format" in logged and "kk/answer" in logged


def test_plot_curves_writes_png(tmp_path):
    from logicrl.training.callbacks import plot_curves

    rows = [{"step": s, "reward": -1 + s * 0.1, "kk/format": s / 10, "accuracy/n3": s / 20,
             "heldout/acc_n3": s / 30} for s in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    out = plot_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not math.isnan(out.stat().st_size) and out.stat().st_size > 5000


def test_component_logging_with_scores_from_the_reward_call():
    """With reward actors the scores come from the (remote) call, which must not receive the log hooks."""
    from logicrl.training.rewards import with_component_logging

    seen = {}

    def remote(prompts, completions, **kwargs):
        seen.update(kwargs)
        return [1.0 for _ in completions]

    remote.breakdown = lambda prompts, completions, **kw: [{"reward": 5.0, "correct": 1.0} for _ in completions]
    wrapped = with_component_logging(remote, "remote", scores_from_breakdown=False)
    logged = {}
    assert wrapped(["p"], ["c"], n_people=[4], log_metric=logged.__setitem__, log_extra=print) == [1.0]
    assert "log_metric" not in seen and "log_extra" not in seen and seen["n_people"] == [4]
    assert logged == {"batch/n_people": 4.0, "accuracy": 1.0, "accuracy/n4": 1.0, "remote/correct": 1.0}


def test_activation_checkpointing_follows_the_config_not_trls_default(tmp_path):
    """TRL's GRPOConfig and SFTConfig default to gradient checkpointing (recomputing activations, slower);
    ours is off unless the config asks for it."""
    from logicrl.algorithms import get_algorithm
    from logicrl.config import load_config
    from logicrl.training.build import grpo_args
    from logicrl.training.warm_start import sft_config

    off = grpo_args(load_config(small_recipe(tmp_path)), tmp_path, get_algorithm("grpo"), [1.0, 4.0])
    on = grpo_args(load_config(small_recipe(tmp_path, gradient_checkpointing=True)), tmp_path, get_algorithm("grpo"),
                   [1.0, 4.0])
    assert (off.activation_checkpointing, on.activation_checkpointing) == (False, True)
    assert off.gradient_checkpointing is False  # the old name mirrors the new one
    sft_off = sft_config(tmp_path, max_steps=1, learning_rate=1e-3, batch_size=2, seed=0, max_length=64)
    sft_on = sft_config(tmp_path, max_steps=1, learning_rate=1e-3, batch_size=2, seed=0, max_length=64,
                        activation_checkpointing=True)
    assert (sft_off.activation_checkpointing, sft_on.activation_checkpointing) == (False, True)


def test_checkpointing_kwargs_uses_the_name_the_config_class_knows():
    """transformers 5.24 calls it activation_checkpointing; the vLLM env's 5.17 only gradient_checkpointing."""
    import dataclasses

    from logicrl.trl_compat import checkpointing_kwargs

    @dataclasses.dataclass
    class OldConfig:
        gradient_checkpointing: bool = True

    @dataclasses.dataclass
    class NewConfig:
        gradient_checkpointing: bool = True
        activation_checkpointing: bool = True

    assert checkpointing_kwargs(OldConfig, False) == {"gradient_checkpointing": False}
    assert checkpointing_kwargs(NewConfig, 0) == {"activation_checkpointing": False}
    assert OldConfig(**checkpointing_kwargs(OldConfig, True)).gradient_checkpointing is True
