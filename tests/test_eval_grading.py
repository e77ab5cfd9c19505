"""Grading of single completions in each prompt style (through rewards.math / rewards.kk)."""

from __future__ import annotations

from logicrl.eval.benchmarks import Problem, load_benchmark
from logicrl.eval.prompts import build_prompt
from logicrl.eval.runner import grade

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
