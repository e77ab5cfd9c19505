"""Math answer reward: extraction, equivalence through math-verify, the bounded helper process."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards
from rewards.math import extract_answer, is_equivalent
from rewards.timeout import TIMED_OUT, BoundedWorker


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so the answer is \\boxed{25}.", "25"),
        ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\{1, 2\\}} and \\fbox{x^{2}}", "x^{2}"),
        ("<think>...</think><answer>\\dfrac{3}{4}</answer>", "\\dfrac{3}{4}"),
        ("<answer>no</answer><answer> 7 </answer>", "7"),
        ("\\boxed{unbalanced", None),
        ("\\boxed{" + "1" * 600 + "}", None),
        ("<answer>" + "1" * 600 + "</answer>", None),
        ("no answer at all", None),
        ("\\boxed{}", None),
        ("<think>\\boxed{17}</think><answer>42</answer>", "42"),
        ("<answer>\\boxed{17} or rather \\boxed{42}</answer> and \\boxed{9}", "42"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "pred, gold, equal",
    [
        ("025", "25", True),
        ("25", "025", True),
        ("007", "7", True),
        ("26", "025", False),
        ("\\frac{1}{2}", "0.5", True),
        ("\\dfrac{3}{4}", "0.75", True),
        ("2\\sqrt{2}", "\\sqrt{8}", True),
        ("x^2", "x^{2}", True),
        ("\\{1,2\\}", "\\{2,1\\}", True),
        ("5", "6", False),
        ("25 apples", "25", True),  # math-verify reads the number
        ("25 dollars", "25", False),  # read as 25*d*o*l*l*a*r*s: decided without verify()
        ("Zoey is 25 knights, Oliver 3 knaves", "25", False),  # letter soup in a set: decided before parsing
        ("25 \\text{ knights}", "25", True),  # words inside \text{} are math-verify's to judge
        ("\\sqrt{625}", "25", True),  # LaTeX commands are not words
        ("\\frac{1}{3}", "0.5", False),
        ("", "5", False),
        ("__import__('os').system('echo pwned')", "0", False),
    ],
)
def test_is_equivalent(pred, gold, equal):
    assert is_equivalent(pred, gold) is equal


def test_pathological_answer_is_cut_at_the_time_limit():
    start = time.monotonic()
    assert is_equivalent("9^{9^{9^{9}}}", "1", timeout_s=0.3) is False
    assert time.monotonic() - start < 3.0
    assert is_equivalent("\\frac{2}{4}", "\\frac{1}{2}") is True  # the helper still serves


def test_works_off_the_main_thread():
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: is_equivalent(p, "\\frac{1}{2}"), ["0.5", "\\frac{2}{4}", "0.25", "1/2"]))
    assert results == [True, True, False, True]


def test_forked_child_gets_its_own_helper():
    import os

    assert is_equivalent("\\frac{2}{8}", "0.25")  # the parent's helper is running
    pid = os.fork()
    if pid == 0:  # child: must not talk over the parent's pipes
        os._exit(0 if is_equivalent("\\frac{3}{12}", "0.25") else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert is_equivalent("\\frac{4}{16}", "0.25")


def test_math_reward_reads_answer_column():
    reward = rewards.get("math")
    completions = ["\\boxed{025}", [{"role": "assistant", "content": "<answer>\\frac12</answer>"}], "\\boxed{3}", "none"]
    assert reward(None, completions, answer=["25", "0.5", 4, "1"]) == [1.0, 1.0, 0.0, 0.0]
    rows = reward.breakdown(None, ["none", "\\boxed{1}"], answer=["1", None])
    assert rows[0]["extracted"] == 0.0
    assert rows[1]["reward"] != rows[1]["reward"]  # NaN: no gold answer
    with pytest.raises(rewards.RewardConfigError, match="answer"):
        reward(None, ["x"])


def test_math_reward_require_format():
    reward = rewards.get("math", require_format=True, correct_score=2.0, wrong_score=-1.0)
    good = "<think>7 times 3 is 21, plus 4 is 25.</think><answer>\\boxed{25}</answer>"
    assert reward(None, [good, "\\boxed{25}"], answer=["25", "25"]) == [2.0, -1.0]


# Targets run inside BoundedWorker helper processes (this module is imported there by name).
def echo(request):
    return request


def stuck_in_c(request):
    # One long C-level loop: no bytecode runs, so the helper's own timer cannot interrupt it.
    return sum(range(10**13))


def python_loop(request):
    while True:
        pass


@pytest.fixture
def targets_on_path(monkeypatch):
    tests_dir = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", tests_dir)


def test_bounded_worker_kills_a_helper_stuck_in_c(targets_on_path):
    stuck = BoundedWorker("test_rewards_math:stuck_in_c", grace_s=0.3)
    start = time.monotonic()
    assert stuck.call(1, timeout_s=0.2) is TIMED_OUT
    assert time.monotonic() - start < 3.0
    assert stuck.restarts == 1
    stuck.close()


def test_bounded_worker_interrupts_python_loops_and_keeps_serving(targets_on_path):
    loop = BoundedWorker("test_rewards_math:python_loop")
    assert loop.call(1, timeout_s=0.2) is TIMED_OUT
    assert loop.restarts == 0  # interrupted inside the helper, not killed
    loop.close()
    echo = BoundedWorker("test_rewards_math:echo")
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(echo.call({"i": i}, 5.0))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["i"] for r in results) == list(range(8))
    echo.close()


def test_letter_soup_against_a_number_is_decided_before_parsing():
    """Word salad costs math-verify 0.1-0.5 s; against a numeric gold answer it is rejected before math-verify
    parses it (in the helper). A trailing unit that math-verify strips ("25 apples") and words inside
    \\text{} still go to math-verify. The calling process decides text without digits or commands itself."""
    from rewards._verify import _is_letter_soup
    from rewards.math import _quick_verdict

    assert _is_letter_soup("Zoey is 25 knights, Oliver 3 knaves")
    assert _is_letter_soup("25 knights")
    assert not _is_letter_soup("25 apples")
    assert not _is_letter_soup("25 \\text{ knights}")
    assert _quick_verdict("Zoey is a knight", "25") is False
    assert _quick_verdict("x + y + z", "x + y + z") is True  # identical text, whatever the letters
    assert _quick_verdict("abc", "\\frac{a}{2}") is None  # a symbolic gold answer: math-verify decides
    assert is_equivalent("Zoey is 25 knights, Oliver 3 knaves", "25") is False
    assert is_equivalent("25 apples", "25") is True


def test_importing_and_grading_keeps_sympy_out_of_the_calling_process():
    import subprocess
    import sys

    code = ("import sys, rewards; from rewards.math import is_equivalent; "
            "assert is_equivalent('\\\\frac{1}{2}', '0.5') and is_equivalent('25 apples', '25'); "
            "assert not is_equivalent('Zoey is 25 knights', '25'); "
            "print(sorted(m for m in ('sympy', 'math_verify', 'torch', 'transformers', 'logicrl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# Issue 14: answer precedence, clean-up, exact numbers, malformed LaTeX (reward level and is_equivalent)
# --------------------------------------------------------------------------------------------------

REASONING = "<think>We add the parts, check the boundary cases and simplify the fraction at the end.</think>"


def test_answer_block_beats_a_box_in_the_reasoning():
    reward = rewards.get("math")
    right = "<think>First pass gives \\boxed{17}, but I dropped a factor; redoing it gives 42.</think><answer>42</answer>"
    mirror = "<think>First pass gives \\boxed{42}, but I dropped a factor; redoing it gives 17.</think><answer>17</answer>"
    assert reward(None, [right, mirror], answer=["42", "42"]) == [1.0, 0.0]
    # with the strict format too, and a box inside the answer block counts over the block's text
    strict = rewards.get("math", require_format=True)
    boxed = REASONING + "<answer>The total is \\boxed{42}.</answer>"
    assert strict(None, [boxed, REASONING + "<answer>**42**</answer>"], answer=["42", "42"]) == [1.0, 1.0]
    # without a closed block, the last box of the text; an unclosed <answer> is no block
    assert reward(None, ["\\boxed{41} ... \\boxed{42} <answer>41"], answer=["42"]) == [1.0]


def test_markdown_answer_is_graded():
    reward = rewards.get("math")
    assert reward(None, ["<answer>**73**</answer>"], answer=["73"]) == [1.0]
    assert reward(None, ["<answer>**74**</answer>"], answer=["73"]) == [0.0]


@pytest.mark.parametrize(
    "pred, gold, equal",
    [
        # clean-up: markdown, lead-ins, delimiters, thousands separators
        ("**73**", "73", True),
        ("`73`", "73", True),
        ("The answer is 73.", "73", True),
        ("Final answer: \\(\\frac{3}{4}\\)", "0.75", True),
        ("\\[\\frac{3}{4}\\]", "\\frac{3}{4}", True),
        ("$\\sqrt{2}$", "\\sqrt{2}", True),
        ("1,234", "1234", True),
        ("12 000 023", "12000023", True),
        ("1{,}234", "1234", True),
        ("1\\,234", "1234", True),
        ("2,500,000", "2.5 \\times 10^{6}", True),
        # ... which never turns a wrong answer right: hedges, lists, words
        ("3 \\text{ or } 5", "3", False),
        ("3 \\text{ or } 5", "5", False),
        ("3 or 5", "5", False),
        ("3, 5", "3", False),
        ("3, 5", "35", False),
        ("1,2", "12", False),
        ("\\{41, 42\\}", "42", False),
        ("42 \\pm 1", "42", False),
        ("The answer is 42 or 43.", "42", False),
        ("The answer is not 42.", "42", False),
        ("forty-two", "42", False),
        ("three", "3", False),
        ("**41** or **42**", "42", False),
        # exact numbers: an exact gold answer needs an exact prediction
        ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}", False),
        ("2^{-98}", "2^{-99}", False),
        ("\\frac{1}{2^{99}}", "2^{-99}", True),
        ("\\frac{1}{10^{20}}", "10^{-20}", True),
        ("10^{-20}", "0", False),
        ("0.333333", "\\frac{1}{3}", False),
        ("0.3333333333333333", "\\frac{1}{3}", False),
        ("0.5", "\\frac{1}{2}", True),
        ("1000.0", "1000", True),
        ("24.9999", "25", False),
        ("1.4142135623730951", "\\sqrt{2}", False),
        ("3.14", "\\pi", False),
        ("\\sqrt{8}", "2\\sqrt{2}", True),
        ("\\sqrt{2}\\sqrt{3}", "\\sqrt{6}", True),
        ("(0.5, 3)", "(\\frac{1}{2}, 3)", True),
        ("(0.33, 3)", "(\\frac{1}{3}, 3)", False),
        # ... a decimal gold answer allows a relative 1e-4
        ("\\frac{1}{3}", "0.33333", True),
        ("\\frac{1}{3}", "0.33", False),
        ("\\pi", "3.1416", True),
        ("\\pi", "3.14", False),
        ("16386.17", "16386.20", True),
        ("1235", "1234.5", False),
        ("0", "0.0", True),
        ("0.00001", "0.0", False),
        # a sign is never lost, however the constant is spelled
        ("-e", "e", False),
        ("e", "-e", False),
        ("-\\mathrm{e}", "\\mathrm{e}", False),
        ("-\\mathrm{e}", "-e", True),
        ("-\\text{e}", "-e", True),
        ("-\\exp(1)", "e", False),
        ("-\\exp(1)", "-\\mathrm{e}", True),
        ("\\exp(1)", "\\mathrm{e}", True),
        ("-\\pi", "\\pi", False),
        ("\\pi", "-\\pi", False),
        ("-2\\pi", "2\\pi", False),
        ("2\\mathrm{e}", "2", False),
        ("2\\mathrm{e}", "2e", True),
        ("-\\frac{1}{\\mathrm{e}}", "\\frac{1}{e}", False),
        ("1 + \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{\\mathrm{e}}", False),
        ("e^{-1}", "\\frac{1}{\\mathrm{e}}", True),
        ("\\mathrm{e}^{2}", "e^2", True),
        ("\\pi - 3", "3 - \\pi", False),
        ("\u22125", "5", False),
        ("\u22125", "-5", True),
        # malformed LaTeX is not silently truncated
        ("4\\sqrt(2)", "4", False),
        ("4\\sqrt(2)", "4\\sqrt{2}", True),
        ("\\sqrt(2)", "\\sqrt{2}", True),
        ("2\\sqrt[3](2)", "2", False),
        ("2\\sqrt[3](2)", "2\\sqrt[3]{2}", True),
        ("\\frac(1)(2)", "\\frac{1}{2}", False),
        ("\\frac(1)(2)", "0.5", False),
        ("4\\sqrt(2", "4", False),
        ("4 \\\\ 5", "5", False),
        ("4 \\cdot", "4", False),
        ("4\\pi(", "4", False),
        ("3\u00b74", "3", False),
        ("3\u00b74", "12", True),
        ("2\u221a2", "2", False),
        ("2\u221a2", "2\\sqrt{2}", True),
        ("4 2", "6", False),  # math-verify alone reads "4 2" as 4 + 2
        ("40 2", "42", False),
        ("1 2 3", "6", False),
        ("2 \\frac{1}{2}", "2.5", True),  # a mixed number
    ],
)
def test_is_equivalent_issue_14(pred, gold, equal):
    assert is_equivalent(pred, gold) is equal


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(min_value=-999, max_value=999),
    q=st.integers(min_value=1, max_value=999),
    form=st.sampled_from(["\\frac{{{p}}}{{{q}}}", "{p}/{q}", "{d}"]),
    gold=st.sampled_from(["\\frac{{{p}}}{{{q}}}", "{d}", "{p2}/{q}", "{r}"]),
)
def test_plain_numbers_decided_here_agree_with_the_helper(p, q, form, gold):
    """The Fraction fast path and the helper (math-verify + the number rule) give the same verdict."""
    from rewards.math import _helper, _quick_verdict

    d = f"{p / q:.6f}"
    values = {"p": p, "q": q, "d": d, "p2": p + 1, "r": f"{p / q:.3f}"}
    pred, gold_text = form.format(**values), gold.format(**values)
    quick = _quick_verdict(pred, gold_text)
    assert quick is not None
    assert _helper().call([pred, gold_text], 5.0) is quick, (pred, gold_text)
