"""Grading of single completions in each prompt style (through rewards.math / rewards.kk)."""

from __future__ import annotations

import argparse

import pytest

from logicrl.errors import UserError
from logicrl.eval.benchmarks import Problem, load_benchmark
from logicrl.eval.prompts import build_prompt
from logicrl.eval.runner import EvalConfig, extract_math_answer, grade, run_eval

REASONING = "First add the two numbers carefully, then check the sum once more against a quick estimate."


def math_problem(answer="25"):
    return Problem(id="x", problem="What is 20 + 5?", answer=answer)


def test_math_chat_style():
    p = math_problem()
    prompt = build_prompt(p, "chat")
    assert grade(p, prompt, "so \\boxed{025}", "chat") == {"extracted": "025", "correct": True, "format_ok": True}
    assert grade(p, prompt, "\\boxed{3} no wait \\boxed{25}", "chat")["extracted"] == "25"
    assert grade(p, prompt, "it is 25", "chat") == {"extracted": None, "correct": False, "format_ok": False}
    frac = Problem(id="y", problem="half?", answer="\\frac{1}{2}")
    assert grade(frac, build_prompt(frac, "chat"), "\\boxed{0.5}", "chat")["correct"] is True


def test_math_think_styles_check_the_tags():
    p = math_problem()
    good = f"<think> {REASONING} </think> <answer> 25 </answer>"
    result = grade(p, build_prompt(p, "think"), good, "think")
    assert result == {"extracted": "25", "correct": True, "format_ok": True}
    # Right answer, broken format: correct but a format failure.
    sloppy = grade(p, build_prompt(p, "think"), "<answer> 25 </answer>", "think")
    assert sloppy["correct"] is True and sloppy["format_ok"] is False
    # think-base: the prompt opened <think>, the completion starts inside it.
    prompt = build_prompt(p, "think-base")
    prefilled = grade(p, prompt, f" {REASONING} </think> <answer> 25 </answer>", "think-base")
    assert prefilled == {"extracted": "25", "correct": True, "format_ok": True}


def test_kk_think_and_chat_styles():
    p = load_benchmark("kk:3", kk_count=1).problems[0]
    truth = p.answer
    good = f"<think> {REASONING} </think> <answer> {truth} </answer>"
    result = grade(p, build_prompt(p, "think"), good, "think")
    assert result["correct"] is True and result["format_ok"] is True and result["extracted"] == truth
    names = p.record["names"]
    flipped = truth.replace("knight", "#").replace("knave", "knight").replace("#", "knave")
    assert grade(p, build_prompt(p, "think"), good.replace(truth, flipped), "think")["correct"] is False
    missing = good.replace(truth, truth.split("\n")[0])
    assert grade(p, build_prompt(p, "think"), missing, "think")["correct"] is False

    # chat style: no tags required; the last paragraph carries the free-form answer.
    roles = dict(zip(names, (line.rsplit(" ", 1)[-1] for line in truth.split("\n")), strict=True))
    sentence = ", ".join(f"{name} is a {role}" for name, role in roles.items())
    chat = grade(p, build_prompt(p, "chat"), f"Let me think.\n\nSo {sentence}.", "chat")
    assert chat["correct"] is True and chat["format_ok"] is True
    assert grade(p, build_prompt(p, "chat"), "I am not sure.", "chat") == \
        {"extracted": None, "correct": False, "format_ok": False}


# --------------------------------------------------------------------------------------------------
# Issue 14: one answer rule for training and evaluation; K&K graded by the strict parser by default
# --------------------------------------------------------------------------------------------------

def test_math_grading_uses_the_reward_s_answer_rule():
    import rewards
    from rewards.answer import final_answer

    p = Problem(id="z", problem="What is 6 * 7?", answer="42")
    right = "<think>First pass gives \\boxed{17}, but I dropped a factor; redoing it gives 42.</think><answer>42</answer>"
    mirror = "<think>First pass gives \\boxed{42}, but I dropped a factor; redoing it gives 17.</think><answer>17</answer>"
    for style in ("chat", "think"):
        prompt = build_prompt(p, style)
        assert grade(p, prompt, right, style)["correct"] is True
        assert grade(p, prompt, mirror, style)["correct"] is False
        assert grade(p, prompt, "<answer>**42**</answer>", style)["correct"] is True
    texts = [right, mirror, "\\boxed{1} <answer>2", "<answer>\\boxed{3} and \\boxed{4}</answer>", "none"]
    reward = rewards.get("math")
    for text in texts:  # one function: the eval grader and the reward read the same answer
        assert extract_math_answer(text) == final_answer(text)
        extracted = extract_math_answer(text)
        assert reward(None, [text], answer=["42"])[0] == float(extracted is not None and extracted == "42")


def kk_problem():
    p = load_benchmark("kk:2", kk_count=1).problems[0]
    names = p.record["names"]
    roles = dict(zip(names, (line.rsplit(" ", 1)[-1] for line in p.answer.split("\n")), strict=True))
    return p, roles


def negation_wording(roles) -> str:
    other = {"knight": "knave", "knave": "knight"}
    return " ".join(f"{name} is a {role}, not a {other[role]}." for name, role in roles.items())


def test_kk_think_style_grades_with_the_strict_parser_by_default():
    p, roles = kk_problem()
    completion = f"<think> {REASONING} </think> <answer> {negation_wording(roles)} </answer>"
    prompt = build_prompt(p, "think")
    assert grade(p, prompt, completion, "think")["correct"] is True
    assert grade(p, prompt, completion, "think", "strict")["correct"] is True
    # Logic-RL's parser counts four role words for two people: unparseable, so wrong
    assert grade(p, prompt, completion, "think", "logic_rl")["correct"] is False
    canonical = f"<think> {REASONING} </think> <answer> {p.answer} </answer>"
    for parser in ("strict", "logic_rl"):
        assert grade(p, prompt, canonical, "think", parser) == {"extracted": p.answer, "correct": True,
                                                                "format_ok": True}
    with pytest.raises(ValueError, match="parser"):
        grade(p, prompt, canonical, "think", "fuzzy")


def test_kk_chat_style_reads_the_last_closed_answer_block():
    p, roles = kk_problem()
    prompt = build_prompt(p, "chat")
    wrong = ", ".join(f"{n} is a {'knave' if r == 'knight' else 'knight'}" for n, r in roles.items())
    right = negation_wording(roles)
    assert grade(p, prompt, f"<answer>{wrong}</answer> <answer>{right}</answer>", "chat")["correct"] is True
    # an unclosed block is no block: the last closed one counts, else the last paragraph is read
    assert grade(p, prompt, f"<answer>{right}</answer>\n\n<answer>{wrong}", "chat")["correct"] is True
    assert grade(p, prompt, f"<answer>{wrong}</answer>\n\n<answer>{right}", "chat")["correct"] is False
    assert grade(p, prompt, f"Let me see.\n\n<answer>{wrong}", "chat")["correct"] is False
    assert grade(p, prompt, f"So:\n\n{right}", "chat")["correct"] is True
    assert grade(p, prompt, f"So:\n\n{right}", "chat", "logic_rl")["correct"] is False


def test_summary_says_which_parser_graded_and_resume_keeps_it(tmp_path, capsys):
    from test_eval_doubles import ScriptedBackend

    p, roles = kk_problem()
    completion = f"<think> {REASONING} </think> <answer> {negation_wording(roles)} </answer>"
    backend = ScriptedBackend({p.problem[:60]: [completion]})
    config = EvalConfig(benchmark="kk:2", kk_count=1, out=str(tmp_path / "run"), progress=False)
    summary = run_eval(config, backend=backend)
    assert summary["kk_parser"] == "strict" and summary["pass@1"]["mean"] == 1.0
    assert "rewards.kk.parse_answer (strict)" in summary["grader"]
    assert "graded by" in capsys.readouterr().out
    with pytest.raises(UserError, match="kk_parser"):  # a resumed run cannot switch grader half-way
        run_eval(EvalConfig(benchmark="kk:2", kk_count=1, out=str(tmp_path / "run"), progress=False,
                            kk_parser="logic_rl"), backend=backend)
    other = run_eval(EvalConfig(benchmark="kk:2", kk_count=1, out=str(tmp_path / "paper"), progress=False,
                                kk_parser="logic_rl"), backend=backend)
    assert other["kk_parser"] == "logic_rl" and other["pass@1"]["mean"] == 0.0
    with pytest.raises(UserError, match="--kk-parser"):
        run_eval(EvalConfig(benchmark="kk:2", kk_count=1, out=str(tmp_path / "x"), kk_parser="fuzzy"))
    assert not (tmp_path / "x").exists()


def test_cli_flag_reaches_the_config():
    from logicrl.cli.eval import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--benchmark", "kk"])).kk_parser == "strict"
    assert config_from_args(parser.parse_args(["--benchmark", "kk", "--kk-parser", "logic_rl"])).kk_parser == "logic_rl"
    with pytest.raises(SystemExit):
        parser.parse_args(["--benchmark", "kk", "--kk-parser", "fuzzy"])
