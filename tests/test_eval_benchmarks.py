"""Benchmarks: the shared AIME/AMC files (with the AIME 2025 escape repair), K&K sets, JSONL files,
the data-dir variable and the offline hub error."""

from __future__ import annotations

import json
import re

import pytest
from test_eval_doubles import write_jsonl

from logicrl.errors import UserError
from logicrl.eval.benchmarks import DATA_DIR_ENV, load_benchmark, repair_latex_escapes
from logicrl.eval.prompts import build_prompt

CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


def test_aime25_broken_escapes_repaired_on_load(shared_math_dir):
    raw = [json.loads(line) for line in (shared_math_dir / "aime25.jsonl").read_text().splitlines()]
    broken = [i for i, row in enumerate(raw) if CONTROL.search(row["problem"])]
    assert len(broken) == 3  # the file really carries them

    bench = load_benchmark("aime25", data_dir=shared_math_dir)
    assert bench.repaired == 3
    assert len(bench.problems) == 30
    assert not any(CONTROL.search(p.problem) for p in bench.problems)
    for i in broken:
        text = bench.problems[i].problem
        assert "rac{" not in text.replace("\\frac{", "").replace("\\tfrac{", "").replace("\\dfrac{", "")
    assert "$\\triangle DEF$" in bench.problems[broken[1]].problem
    assert "$\\frac{m}{n}$" in bench.problems[broken[2]].problem
    # Rows without control characters are untouched.
    untouched = [i for i in range(30) if i not in broken]
    assert all(bench.problems[i].problem == raw[i]["problem"] for i in untouched)
    assert [p.answer for p in bench.problems] == [str(r["answer"]) for r in raw]


@pytest.mark.parametrize("name,count", [("aime24", 30), ("amc23", 40)])
def test_other_shared_sets_load_unchanged(shared_math_dir, name, count):
    bench = load_benchmark(name, data_dir=shared_math_dir)
    assert len(bench.problems) == count and bench.repaired == 0 and bench.kind == "math"
    assert len({p.id for p in bench.problems}) == count
    if name == "amc23":
        assert bench.problems[0].answer == "27"  # stored as 27.0


def test_data_dir_from_environment(shared_math_dir, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_math_dir))
    assert load_benchmark("aime24").source.endswith("aime24.jsonl")


def test_named_benchmark_offline_without_local_file_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(UserError, match="offline.*--data-dir"):
        load_benchmark("aime24", data_dir=tmp_path)


def test_repair_keeps_real_whitespace():
    assert repair_latex_escapes("a\tb and x\x0crac{1}{2}") == ("a\tb and x\\frac{1}{2}", 1)
    assert repair_latex_escapes("in $\tau + \x08eta$ ok") == ("in $\\tau + \\beta$ ok", 2)
    assert repair_latex_escapes("column\tvalue") == ("column\tvalue", 0)  # not LaTeX, not in math
    assert repair_latex_escapes("line\r\nnext") == ("line\r\nnext", 0)
    assert repair_latex_escapes("$x = \tfoo$") == ("$x = \\tfoo$", 1)  # inside math: any command


def test_kk_sets_are_deterministic_and_sized():
    a = load_benchmark("kk", kk_count=2)
    b = load_benchmark("kk", kk_count=2)
    assert [p.problem for p in a.problems] == [p.problem for p in b.problems]
    assert sorted({p.n_people for p in a.problems}) == list(range(2, 9))
    five = load_benchmark("kk:5", kk_count=4)
    assert [p.n_people for p in five.problems] == [5] * 4 and five.kind == "kk"
    assert len({p.id for p in a.problems}) == len(a.problems)
    other = load_benchmark("kk:5", kk_count=4, seed=1)
    assert [p.problem for p in other.problems] != [p.problem for p in five.problems]
    for bad in ("kk:1", "kk:x", "kk:5-3"):
        with pytest.raises(UserError):
            load_benchmark(bad)


def test_kk_prompt_styles():
    p = load_benchmark("kk:3", kk_count=1).problems[0]
    think = build_prompt(p, "auto")
    assert think.content[0]["role"] == "system" and "<answer>" in think.content[0]["content"]
    assert think.content[-1]["content"] == p.problem
    base = build_prompt(p, "think-base")
    assert base.content.endswith("Assistant: <think>") and base.prefill == "<think>"
    math_problem = load_benchmark_row("What is 1+1?")
    chat = build_prompt(math_problem, "auto", instruction="Box it: \\boxed{}")
    assert chat.content == [{"role": "user", "content": "What is 1+1?\n\nBox it: \\boxed{}"}]


def load_benchmark_row(text):
    from logicrl.eval.benchmarks import Problem

    return Problem(id="0", problem=text, answer="2")


def test_jsonl_files(tmp_path):
    good = tmp_path / "mine.jsonl"
    write_jsonl(good, [{"question": "Q1", "answer": 3}, {"problem": "Q2", "answer": "\\frac12", "id": 7}])
    bench = load_benchmark(str(good))
    assert [(p.id, p.problem, p.answer) for p in bench.problems] == [("0", "Q1", "3"), ("7", "Q2", "\\frac12")]

    kk_file = tmp_path / "kk.jsonl"
    records = [p.record for p in load_benchmark("kk:4", kk_count=2).problems]
    write_jsonl(kk_file, records)
    kk = load_benchmark(str(kk_file))
    assert kk.kind == "kk" and [p.n_people for p in kk.problems] == [4, 4]

    cases = {
        "missing.jsonl": None,
        "noanswer.jsonl": '{"problem": "x"}\n',
        "notjson.jsonl": '{"problem": "x", "answer": 1}\n{oops\n',
        "empty.jsonl": "",
        "list.jsonl": "[1, 2]\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(UserError):
            load_benchmark(str(path))
    with pytest.raises(UserError, match="unknown benchmark"):
        load_benchmark("aime99")
