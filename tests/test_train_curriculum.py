"""Curriculum over the number of people: the sampler draws from the current level; the level advances
on a step schedule, or when accuracy passes a threshold; a short run moves from 3 to 4 people."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from test_train_utils import read_metrics, small_recipe
from transformers import TrainerControl, TrainerState, TrainingArguments

from logicrl.training.curriculum import Curriculum, CurriculumCallback, CurriculumSampler

N_PEOPLE = [3] * 6 + [4] * 6 + [5] * 6


def _levels_drawn(sampler, batches):
    it = iter(sampler)
    per_batch = sampler.batch_size * sampler.mini_repeat_count * sampler.repeat_count
    return [[next(it) for _ in range(per_batch)] for _ in range(batches)]


def test_sampler_draws_current_level_in_groups():
    cur = Curriculum(N_PEOPLE, [3, 4, 5])
    sampler = CurriculumSampler(cur, mini_repeat_count=4, batch_size=2, repeat_count=2, seed=0)
    (batch,) = _levels_drawn(sampler, 1)
    assert {N_PEOPLE[i] for i in batch} == {3}
    # groups: each prompt index appears mini_repeat_count times in a row; the chunk repeats repeat_count times
    assert batch[:4] == [batch[0]] * 4 and batch[4:8] == [batch[4]] * 4 and batch[:8] == batch[8:]
    cur.advance(step=1)
    it = iter(sampler)
    assert {N_PEOPLE[next(it)] for _ in range(16)} == {4}
    assert len(sampler) == (len(N_PEOPLE) // 2) * 2 * 4 * 2


def test_sampler_mixes_previous_levels():
    cur = Curriculum(N_PEOPLE, [3, 4, 5], mix_previous=0.5)
    cur.advance(1)
    cur.advance(2)
    sampler = CurriculumSampler(cur, mini_repeat_count=1, batch_size=4, seed=1)
    counts = Counter(N_PEOPLE[i] for i in iter(sampler))
    assert counts[5] == counts[3] + counts[4] > 0


def _state(step):
    state = TrainerState()
    state.global_step = step
    return state


def test_callback_advances_on_schedule():
    cur = Curriculum(N_PEOPLE, [3, 4, 5], mode="schedule", steps_per_level=2)
    cb = CurriculumCallback(cur)
    args, control = TrainingArguments(output_dir="unused", report_to=[]), TrainerControl()
    seen = []
    for step in range(1, 8):
        cb.on_step_end(args, _state(step), control)
        seen.append(cur.level)
    # one step early (the dataloader draws one batch ahead): steps 3-4 train on level 4, 5+ on level 5
    assert seen == [4, 4, 5, 5, 5, 5, 5]
    assert cur.history == [(0, 3), (2, 4), (4, 5)]
    # resuming at step 5 restores level 5 from the step count
    fresh = Curriculum(N_PEOPLE, [3, 4, 5], mode="schedule", steps_per_level=2)
    CurriculumCallback(fresh).on_train_begin(args, _state(5), control)
    assert fresh.level == 5


def test_callback_advances_on_threshold():
    cur = Curriculum(N_PEOPLE, [3, 4, 5], mode="threshold", threshold=0.7, window=3)
    cb = CurriculumCallback(cur)
    args, control = TrainingArguments(output_dir="unused", report_to=[]), TrainerControl()
    levels = []
    for step, acc in enumerate([0.9, 0.2, 0.9, 0.8, 0.9, 0.6, 0.6, 0.8], start=1):
        logs = {"accuracy": acc}
        cb.on_log(args, _state(step), control, logs=logs)
        levels.append(cur.level)
        assert logs["curriculum/level"] in (3, 4, 5)
    # windows of 3: [.9,.2,.9] mean .67 < .7; [.2,.9,.8] .63; [.9,.8,.9] .87 -> advance at step 5; the window restarts: [.6,.6,.8] .67 stays
    assert levels == [3, 3, 3, 3, 4, 4, 4, 4]
    cb.on_log(args, _state(9), control, logs={"loss": 1.0})  # logs without accuracy change nothing
    assert cur.level == 4


def test_unknown_level_is_a_config_error():
    from logicrl.errors import UserError

    with pytest.raises(UserError, match="curriculum.levels"):
        Curriculum([3, 3, 4], [3, 6])


@pytest.mark.slow
def test_training_run_moves_to_the_next_level(tmp_path):
    from logicrl.training import train

    recipe = small_recipe(tmp_path / "run", max_steps=3, data={"people": [3, 4], "count": 8},
                          curriculum={"mode": "schedule", "levels": [3, 4], "steps_per_level": 2})
    result = train(recipe)
    assert result.global_step == 3
    rows = [r for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert [r["batch/n_people"] for r in rows] == [3, 3, 4]  # what each step trained on
    assert "accuracy/n3" in rows[0] and "accuracy/n4" not in rows[0]
    assert "accuracy/n4" in rows[2] and "accuracy/n3" not in rows[2]


@pytest.mark.slow
def test_training_run_advances_on_threshold(tmp_path):
    from logicrl.training import train

    recipe = small_recipe(tmp_path / "run", max_steps=3, data={"people": [3, 4], "count": 8},
                          rewards=[{"name": "test_train_utils:always_correct"}],
                          curriculum={"mode": "threshold", "levels": [3, 4], "threshold": 0.9, "window": 1},
                          save_steps=3)
    train(recipe)
    rows = [r for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert [r["accuracy"] for r in rows] == [1.0, 1.0, 1.0]
    # accuracy 1 >= 0.9 at the first log: the level moves to 4 (logged from then on), which the
    # dataloader (one batch ahead) serves from step 3 on
    assert [r["curriculum/level"] for r in rows] == [3, 4, 4]
    assert [r["batch/n_people"] for r in rows] == [3, 3, 4]
    saved = json.loads((tmp_path / "run" / "checkpoint-3" / "curriculum.json").read_text())
    assert saved["level"] == 4 and saved["history"] == [[0, 3], [1, 4]]  # what --resume restores
    recipe["max_steps"], recipe["resume"] = 4, "last"
    train(recipe)
    last = [r for r in read_metrics(tmp_path / "run") if "loss" in r][-1]
    assert last["step"] == 4 and last["batch/n_people"] == 4  # the resumed run starts on level 4
