"""The demo's data format, held-out grading arithmetic, README update, and `logicrl demo --quick`."""

import json
import math

import pytest

from logicrl.errors import UserError
from logicrl.eval.heldout import evaluate_kk, paired_difference
from logicrl.training.warm_start import trace_records
from puzzles import generate_kk, solve_kk
from puzzles.compact import compact_completion, compact_prompt


def sft_records(puzzles, **kwargs):
    return trace_records(puzzles, "compact", **kwargs)


def _kk_reward(prompts, completions, puzzles):
    import rewards

    fn = rewards.get("kk", preset="partial")
    return fn(prompts, completions, solution_text_format=[p.solution_text_format for p in puzzles])


@pytest.mark.parametrize("n_people", [2, 3, 4, 5])
def test_compact_completions_earn_the_full_reward(n_people):
    puzzles = generate_kk(n_people, 40, seed=11)
    prompts = [compact_prompt(p) for p in puzzles]
    completions = [compact_completion(p) for p in puzzles]
    assert _kk_reward(prompts, completions, puzzles) == [3.0] * len(puzzles)


def test_compact_trace_stops_at_the_solution():
    for p in generate_kk(3, 30, seed=2):
        text = compact_completion(p)
        think = text[: text.index("</think>")]
        cases = think.split(" try ")[1:]
        assert all(c.endswith("wrong ;") for c in cases[:-1]) and cases[-1].endswith("consistent ; so end ")
        last = cases[-1].split(" : ")[0].split()  # "Name K Name N ..."
        assert [r == "K" for r in last[1::2]] == list(solve_kk(p.statements, p.n_people)[0])
        assert compact_prompt(p) == p.quiz + "\n"


def test_sft_records_carry_the_reward_columns():
    p = generate_kk(2, 1, seed=0)[0]
    (rec,) = sft_records([p])
    assert rec["prompt"] == compact_prompt(p) and rec["completion"] == compact_completion(p)
    assert rec["solution_text_format"] == p.solution_text_format and rec["n_people"] == 2


def test_shortcut_completions_skip_the_cases_but_keep_format_and_answer():
    from logicrl.demo import checked_cases

    for n_people in (2, 3):
        puzzles = generate_kk(n_people, 40, seed=4)
        prompts = [compact_prompt(p) for p in puzzles]
        short = [compact_completion(p, shortcut=True) for p in puzzles]
        # Same reward as the full trace: the shortcut differs only in not checking any case.
        assert _kk_reward(prompts, short, puzzles) == [3.0] * len(puzzles)
        assert not any(checked_cases(c) for c in short)
        assert all(checked_cases(compact_completion(p)) for p in puzzles)


def test_sft_records_shortcut_fraction_is_exact_and_seeded():
    from logicrl.demo import checked_cases

    puzzles = generate_kk(3, 50, seed=1)
    recs = sft_records(puzzles, shortcut_fraction=0.4, seed=7)
    flags = [checked_cases(r["completion"]) for r in recs]
    assert flags.count(False) == 20
    assert flags == [checked_cases(r["completion"]) for r in sft_records(puzzles, shortcut_fraction=0.4, seed=7)]
    assert flags != [checked_cases(r["completion"]) for r in sft_records(puzzles, shortcut_fraction=0.4, seed=8)]
    with pytest.raises(ValueError, match="shortcut_fraction"):
        sft_records(puzzles, shortcut_fraction=1.5)


def test_guess_shortcuts_answer_at_random_in_the_answer_format():
    from logicrl.demo import checked_cases

    puzzles = generate_kk(3, 400, seed=5)
    recs = sft_records(puzzles, shortcut_fraction=0.5, seed=3, shortcut_answer="guess")
    short = [(p, r) for p, r in zip(puzzles, recs) if not checked_cases(r["completion"])]
    full = [(p, r) for p, r in zip(puzzles, recs) if checked_cases(r["completion"])]
    assert len(short) == 200
    scores = _kk_reward([r["prompt"] for _, r in short], [r["completion"] for _, r in short], [p for p, _ in short])
    # Well-formed every time (never the -2 of an unparseable answer), right about 1 time in 8 (3 people).
    assert min(scores) > -2.0 and 10 <= scores.count(3.0) <= 45
    assert _kk_reward([r["prompt"] for _, r in full], [r["completion"] for _, r in full], [p for p, _ in full]) == [3.0] * 200
    assert recs == sft_records(puzzles, shortcut_fraction=0.5, seed=3, shortcut_answer="guess")
    with pytest.raises(ValueError, match="shortcut_answer"):
        sft_records(puzzles, shortcut_fraction=0.5, shortcut_answer="oracle")


def _scripted(puzzles, plan):
    """A test double for the model: per puzzle, 'right', 'wrong' (one person flipped, good format) or 'junk'."""
    by_prompt = {}
    for p, kind in zip(puzzles, plan):
        if kind == "right":
            text = compact_completion(p)
        elif kind == "wrong":
            good = compact_completion(p)
            first = p.solution_text_format.split("\n")[0]
            flipped = first.replace("knight", "KNAVE").replace("knave", "knight").replace("KNAVE", "knave")
            text = good.replace(first, flipped)
        else:
            text = "no idea"
        by_prompt[compact_prompt(p)] = text
    return lambda prompts: [by_prompt[q] for q in prompts]


def test_evaluate_kk_arithmetic_on_a_scripted_generator():
    two, three = generate_kk(2, 4, seed=3), generate_kk(3, 6, seed=3)
    puzzles = two + three
    plan = ["right", "right", "wrong", "junk"] + ["right", "wrong", "wrong", "junk", "junk", "right"]
    res = evaluate_kk(None, None, puzzles, generate_fn=_scripted(puzzles, plan))
    assert res["correct"] == [1, 1, 0, 0, 1, 0, 0, 0, 0, 1]
    assert res["format_ok"] == [1, 1, 1, 0, 1, 1, 1, 0, 0, 1]
    by = res["by_people"]
    assert by[2]["n"] == 4 and by[2]["accuracy"] == 0.5 and by[2]["format_rate"] == 0.75
    assert by[3]["n"] == 6 and math.isclose(by[3]["accuracy"], 2 / 6)
    assert math.isclose(res["overall"]["accuracy"], 0.4)
    assert math.isclose(res["overall"]["accuracy_se"], math.sqrt(0.4 * 0.6 / 10))
    # partial preset: right 3.0; junk -3.0; one of n people wrong: 1 - 1.5 + 3.5 * (n-1)/n.
    expect_2 = [3.0, 3.0, 1 - 1.5 + 3.5 * 0.5, -3.0]
    expect_3 = [3.0, 1 - 1.5 + 3.5 * 2 / 3, 1 - 1.5 + 3.5 * 2 / 3, -3.0, -3.0, 3.0]
    assert res["rewards"] == pytest.approx(expect_2 + expect_3)
    assert by[2]["mean_reward"] == pytest.approx(sum(expect_2) / 4)


def test_paired_difference():
    d = paired_difference([0, 1, 0, 1, 0], [1, 1, 0, 0, 1])
    assert d["n"] == 5 and d["gained"] == 2 + 0 + 1 - 1 and d["lost"] == 1
    assert d["mean"] == pytest.approx(0.2)
    diffs = [1, 0, 0, -1, 1]
    var = sum((x - 0.2) ** 2 for x in diffs) / 4
    assert d["se"] == pytest.approx(math.sqrt(var / 5))
    with pytest.raises(ValueError):
        paired_difference([1], [1, 0])


def test_update_readme_replaces_only_the_block(tmp_path):
    from logicrl.demo import README_END, README_START, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\noutro\n")
    update_readme(readme, "| new | table |\n")
    assert readme.read_text() == f"intro\n{README_START}\n| new | table |\n{README_END}\noutro\n"
    readme.write_text("no markers\n")
    with pytest.raises(UserError, match="block"):
        update_readme(readme, "x")


def test_cli_demo_rejects_bad_input_before_any_work(tmp_path, capsys):
    from logicrl.cli import main

    assert main(["demo", "--seed", "-1", "--out", str(tmp_path / "o")]) == 2
    assert main(["demo", "--update-readme", str(tmp_path / "missing.md"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    (tmp_path / "afile").write_text("x")
    for task in ("kk", "sokoban"):
        assert main(["demo", "--task", task, "--out", str(tmp_path / "afile" / "sub")]) == 2
        assert "is a file" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path, monkeypatch, capsys):
    from logicrl.cli import main
    from logicrl.demo import README_END, README_START

    monkeypatch.setenv("LOGICRL_CACHE", str(tmp_path / "cache"))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nplaceholder\n{README_END}\n")
    out = tmp_path / "demo"
    args = ["demo", "--quick", "--out", str(out), "--seed", "3", "--threads", "1", "--update-readme", str(readme)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "results.json").read_text())
    assert summary["settings"]["seed"] == 3
    for side in ("before", "after"):
        g = summary[side]["greedy"]
        assert set(g["by_people"]) == {"2", "3"} and g["overall"]["n"] == 32
        assert 0.0 <= g["overall"]["accuracy"] <= 1.0
    gain = summary["gain"]["greedy"]["all"]["accuracy"]
    after, before = summary["after"]["greedy"]["overall"], summary["before"]["greedy"]["overall"]
    assert gain["mean"] == pytest.approx(after["accuracy"] - before["accuracy"])
    assert summary["train_reward"]["steps"] == 2
    table = (out / "results.md").read_text()
    assert "| people | puzzles | warm start | after RL |" in table and "| all | 32 |" in table
    assert "| checked cases (warm → RL) |" in table and "shortcut traces" in table
    assert summary["timings"]["warm_start_shortcut"] > 0  # the second warm-start phase ran
    assert 0.0 <= summary["before"]["greedy"]["overall"]["checked_rate"] <= 1.0
    assert table.split("\n", 2)[2] in printed  # the printed table is the saved one
    assert (out / "reward_curves.png").read_bytes()[:4] == b"\x89PNG"
    text = readme.read_text()
    assert "placeholder" not in text and "| all | 32 |" in text


def test_demo_data_sets_are_disjoint_and_use_the_name_pool():
    from logicrl.demo import DemoSettings, make_data

    settings = DemoSettings.quick(seed=5)
    data = make_data(settings)
    sizes = {k: len(v) for k, v in data.items()}
    assert sizes == {"sft": 200, "rl": 80, "heldout": 32}
    quizzes = [{p.quiz for p in data[k]} for k in ("sft", "rl", "heldout")]
    assert not (quizzes[0] & quizzes[2]) and not (quizzes[1] & quizzes[2]) and not (quizzes[0] & quizzes[1])
    assert all(p.names == list(settings.names[: p.n_people]) for k in data for p in data[k])
    assert make_data(DemoSettings.quick(seed=5))["heldout"][0].quiz == data["heldout"][0].quiz  # deterministic


def test_warm_start_fingerprint_ignores_rl_settings_but_not_the_heldout_set():
    import dataclasses

    from logicrl.demo import DemoSettings, make_data, warm_start_fingerprint

    base = DemoSettings.quick(seed=2)
    held = make_data(base)["heldout"]
    fp = warm_start_fingerprint(base, held, "m")
    rl_only = dataclasses.replace(base, rl_learning_rate=1e-4, rl_steps=7, beta=0.0)
    assert warm_start_fingerprint(rl_only, held, "m") == fp
    assert warm_start_fingerprint(dataclasses.replace(base, shortcut_fraction=0.5), held, "m") != fp
    assert warm_start_fingerprint(base, held[1:], "m") != fp  # same settings, other held-out puzzles
    assert warm_start_fingerprint(base, held, "other-model") != fp


def test_sampled_passes_use_the_first_puzzles_of_each_size_and_greedy_all(monkeypatch):
    from logicrl import demo
    from logicrl.eval import heldout

    puzzles = [*generate_kk(2, 5, seed=1), *generate_kk(3, 4, seed=2), *generate_kk(2, 3, seed=3)]
    assert demo.first_per_people(puzzles, None) == puzzles
    picked = demo.first_per_people(puzzles, {2: 6, 3: 2})
    assert picked == puzzles[:7] + puzzles[9:10]  # input order kept
    assert [p.n_people for p in picked] == [2, 2, 2, 2, 2, 3, 3, 2]
    assert demo.first_per_people(puzzles, {3: 1}) == [puzzles[5]]

    seen = {}

    def fake_evaluate_kk(model, tokenizer, subset, temperature, **kwargs):
        seen[temperature] = list(subset)
        n = len(subset)
        return {"overall": {"accuracy": 0.0, "mean_reward": 0.0}, "by_people": {}, "completions": [""] * n,
                "n_people": [p.n_people for p in subset]}

    monkeypatch.setattr(heldout, "evaluate_kk", fake_evaluate_kk)
    settings = demo.DemoSettings(eval_temperatures=(0.0, 0.5), sampled_heldout={2: 2, 3: 1})
    out = demo.evaluate(None, None, puzzles, settings, "test", log=lambda *_: None)
    assert set(out) == {"greedy", "T0.5"}
    assert seen[0.0] == puzzles
    assert seen[0.5] == [puzzles[0], puzzles[1], puzzles[5]]
