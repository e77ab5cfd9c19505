"""Math answer reward (AIME, AMC and similar): the final answer, cleaned, checked against the gold answer.

- `extract_answer(text)`: the final answer by the precedence rule of `rewards.answer.final_answer` (the last
  closed <answer> block, and the last \\boxed{} inside it if any; without a closed block, the last \\boxed{}
  of the text); None when there is none.
- `is_equivalent(pred, gold)`: both sides go through `rewards.answer.clean_answer` (markdown, lead-ins,
  inline-math delimiters, thousands separators...); an answer a parser would silently truncate
  (`rewards.answer.malformed_reason`) is wrong. Plain numbers on both sides (integers, decimals, a/b,
  \\frac{a}{b}) are decided here exactly with `fractions.Fraction`; anything else goes to math-verify with
  this project's number rule (`rewards._verify`: an exact gold answer needs an exact prediction, a decimal
  gold answer allows a relative 1e-4), inside a helper process bounded by `rewards.timeout`, so it works
  off the main thread and in Ray actors. Model text is never `eval`-ed nor passed to `sympify`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from fractions import Fraction
from functools import partial

from rewards.answer import MAX_ANSWER_CHARS, clean_answer, final_answer, malformed_reason
from rewards.format import check_format
from rewards.registry import RewardConfigError, RewardFn, register
from rewards.textutil import column, completion_text, prompt_prefills_think
from rewards.timeout import TIMED_OUT, BoundedWorker

__all__ = ["DECIMAL_REL_TOL", "MAX_ANSWER_CHARS", "extract_answer", "is_equivalent", "make_math_reward"]

DEFAULT_TIMEOUT_S = 2.0
"""Per-call limit for math-verify (parse both sides + compare)."""
DECIMAL_REL_TOL = Fraction(1, 10_000)
"""Relative tolerance when the gold number is a decimal: |pred - gold| <= 1e-4 * |gold| (the value Qwen2.5-Math's
grader uses: evaluation/grader.py, `numeric_equal`, rel_tol=1e-4). Exact gold numbers need exact equality."""


def extract_answer(text: str) -> str | None:
    """The final answer of a completion (see `rewards.answer.final_answer`), or None."""
    return final_answer(text)


# --------------------------------------------------------------------------------------------------
# Decided here: plain numbers, identical text, word salad
# --------------------------------------------------------------------------------------------------

_INTEGER = re.compile(r"[+-]?\d{1,40}")
_DECIMAL = re.compile(r"[+-]?\d{0,40}\.\d{1,40}")
_SLASH = re.compile(r"([+-]?\d{1,40})\s*/\s*(\d{1,40})")
_FRAC = re.compile(r"([+-]?)\\[dt]?frac\s*(?:\{\s*([+-]?\d{1,40})\s*\}|(\d))\s*(?:\{\s*(\d{1,40})\s*\}|(\d))")


def _plain_number(answer: str) -> tuple[Fraction, bool] | None:
    """(exact value, written as a decimal?) for an integer, a decimal, a/b or \\frac{a}{b}; else None."""
    if _INTEGER.fullmatch(answer):
        return Fraction(int(answer)), False
    if _DECIMAL.fullmatch(answer):
        return Fraction(answer), True
    match = _SLASH.fullmatch(answer)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        return (Fraction(numerator, denominator), False) if denominator else None
    match = _FRAC.fullmatch(answer)
    if match:
        numerator = int(match.group(2) or match.group(3))
        denominator = int(match.group(4) or match.group(5))
        if not denominator:
            return None
        value = Fraction(numerator, denominator)
        return (-value if match.group(1) == "-" else value), False
    return None


def _quick_verdict(pred: str, gold: str) -> bool | None:
    """True/False when decidable without math-verify (cleaned answers), else None."""
    if pred == gold:
        return True
    gold_number = _plain_number(gold)
    if gold_number is not None:
        pred_number = _plain_number(pred)
        if pred_number is not None:
            (g, gold_is_decimal), (p, _) = gold_number, pred_number
            return abs(p - g) <= DECIMAL_REL_TOL * abs(g) if gold_is_decimal else p == g
        if gold_number[0].denominator == 1 and "\\" not in pred and not any(c.isdigit() for c in pred):
            # No digit and no LaTeX command: letters and symbols only, which name no integer (word salad such
            # as "Zoey is a knight" would otherwise cost a trip to the helper and a parse).
            return False
    return None


# --------------------------------------------------------------------------------------------------
# math-verify, in the bounded helper process (rewards._verify)
# --------------------------------------------------------------------------------------------------

_worker: BoundedWorker | None = None
_worker_lock = threading.Lock()
_verdicts: OrderedDict = OrderedDict()  # (cleaned pred, cleaned gold) -> bool, for GRPO's repeated answers
_VERDICT_CACHE_SIZE = 16384


def _helper() -> BoundedWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = BoundedWorker("rewards._verify:verify_pair")
        return _worker


def is_equivalent(pred: str, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether the predicted final answer equals the gold answer (False on timeout, unparseable or malformed
    text). The rules are in the module doc and docs/rewards.md ("Math answers")."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return False
    if len(pred) > MAX_ANSWER_CHARS or not pred.strip() or not gold.strip():
        return False
    pred, gold = clean_answer(pred), clean_answer(gold)
    if not pred or not gold or malformed_reason(pred) is not None:
        return False
    quick = _quick_verdict(pred, gold)
    if quick is not None:
        return quick
    key = (pred, gold)
    if key in _verdicts:
        return _verdicts[key]
    result = _helper().call([pred, gold], timeout_s)
    verdict = result is True
    if result is not TIMED_OUT:  # a timeout may be load, not the text: do not remember it
        _verdicts[key] = verdict
        if len(_verdicts) > _VERDICT_CACHE_SIZE:
            _verdicts.popitem(last=False)
    return verdict


# --------------------------------------------------------------------------------------------------
# The reward
# --------------------------------------------------------------------------------------------------


def _math_breakdown(
    prompts, completions, *, correct_score, wrong_score, require_format, think_prefilled, timeout_s, **columns
) -> list[dict]:
    n = len(completions)
    if "answer" not in columns:
        raise RewardConfigError("the math reward needs the dataset column 'answer'")
    golds = column(columns, "answer", n)
    rows = []
    for prompt, completion, gold in zip(prompts, completions, golds):
        text = completion_text(completion)
        if isinstance(gold, (int, float)) and not isinstance(gold, bool):
            gold = str(gold)
        if not isinstance(gold, str) or not gold.strip():
            rows.append({"reward": None, "answer": None, "extracted": None, "length": len(text)})
            continue
        if require_format:
            prefilled = prompt_prefills_think(prompt) if think_prefilled is None else bool(think_prefilled)
            formatted = check_format(text, think_prefilled=prefilled, min_reasoning_words=0).ok
        else:
            formatted = True
        pred = extract_answer(text) if formatted else None
        ok = pred is not None and is_equivalent(pred, gold, timeout_s=timeout_s)
        score = correct_score if ok else wrong_score
        rows.append(
            {"reward": score, "answer": 1.0 if ok else 0.0, "extracted": float(pred is not None), "length": len(text)}
        )
    return rows


@register("math", factory=True)
def make_math_reward(
    correct_score: float = 1.0,
    wrong_score: float = 0.0,
    require_format: bool = False,
    think_prefilled: bool | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RewardFn:
    """Math answer reward; reads the dataset column `answer`.

    require_format: the completion must also pass the <think>/<answer> tag rules (rewards.format, without
    the reasoning-length rule), else it scores `wrong_score`.
    timeout_s: per-completion limit on math-verify (then the answer counts as wrong).
    """
    if not timeout_s or timeout_s <= 0:
        raise RewardConfigError("math reward: timeout_s must be > 0")
    fn = partial(
        _math_breakdown,
        correct_score=float(correct_score),
        wrong_score=float(wrong_score),
        require_format=bool(require_format),
        think_prefilled=think_prefilled,
        timeout_s=float(timeout_s),
    )
    return RewardFn("math", fn)
