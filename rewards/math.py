"""Math answer reward (AIME, AMC and similar): last \\boxed{} or <answer> block, equivalence by math-verify.

- `extract_answer(text)`: the content of the last \\boxed{...} / \\fbox{...} (balanced braces, at most
  MAX_ANSWER_CHARS), else of the last <answer>...</answer> block; None when there is none.
- `is_equivalent(pred, gold)`: integers compare as integers (AIME's "025" equals 25) and equal strings are
  equal without further work; anything else goes to math-verify's `parse`/`verify`, run with its own
  signal timeouts off (`parsing_timeout=None`, `timeout_seconds=None`) inside a helper process bounded by
  `rewards.timeout` — so it works off the main thread and in Ray actors. Model text is never `eval`-ed
  nor passed to `sympify`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from functools import partial

from rewards.format import check_format
from rewards.registry import RewardConfigError, RewardFn, register
from rewards.textutil import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    column,
    completion_text,
    prompt_prefills_think,
)
from rewards.timeout import TIMED_OUT, BoundedWorker

MAX_ANSWER_CHARS = 512
"""A final answer longer than this is not an answer (bounds math-verify's work on hostile text)."""
DEFAULT_TIMEOUT_S = 2.0
"""Per-call limit for math-verify (parse both sides + verify)."""

_INTEGER = re.compile(r"[+-]?\d{1,40}")
_BOX_OPENERS = ("\\boxed{", "\\fbox{")
_TRIM = " \t\r\n$."


def _boxed_content(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} with balanced braces, bounded by MAX_ANSWER_CHARS."""
    start = max(text.rfind(opener) for opener in _BOX_OPENERS)
    if start < 0:
        return None
    start = text.index("{", start) + 1
    depth = 1
    end = min(len(text), start + MAX_ANSWER_CHARS + 1)
    i = start
    while i < end:
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def extract_answer(text: str) -> str | None:
    """The final answer of a completion (see module doc), or None."""
    if not isinstance(text, str):
        return None
    boxed = _boxed_content(text)
    if boxed is not None:
        return boxed.strip() or None
    end = text.rfind(ANSWER_CLOSE)
    if end < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, end)
    if start < 0 or end - start - len(ANSWER_OPEN) > MAX_ANSWER_CHARS + 64:
        return None
    answer = text[start + len(ANSWER_OPEN) : end].strip()
    return answer if answer and len(answer) <= MAX_ANSWER_CHARS else None


def _normalise(answer: str) -> str:
    answer = answer.strip(_TRIM)
    if answer.startswith("\\boxed{") and answer.endswith("}"):
        answer = answer[len("\\boxed{") : -1].strip(_TRIM)
    return answer


def _quick_verdict(pred: str, gold: str) -> bool | None:
    """True/False when decidable without math-verify (integers, identical text), else None."""
    p, g = _normalise(pred), _normalise(gold)
    gold_is_integer = _INTEGER.fullmatch(g) is not None
    if gold_is_integer and _INTEGER.fullmatch(p):
        return int(p) == int(g)
    if p == g and p:
        return True
    if gold_is_integer and "\\" not in p and not any(c.isdigit() for c in p):
        # No digit and no LaTeX command: letters and symbols only, which name no integer (word salad such
        # as "Zoey is a knight" would otherwise cost math-verify a few hundred milliseconds).
        return False
    if gold_is_integer and _is_letter_soup(p):
        # Words read as products of letters ("Zoey is 25 knights, Oliver 3 knaves" -> sets of z*o*E*y*...):
        # never an integer, and math-verify spends 0.1-0.5 s parsing and verifying them.
        return False
    return None


# A text-like LaTeX command with its argument (units and words are allowed there), or any other command.
_TEXT_GROUP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{3,}")


def _strip_units(text: str) -> str:
    """A trailing unit word removed as math-verify's normalisation removes it ("25 apples" reads as 25)."""
    from latex2sympy2_extended.math_normalization import units_regex  # lazily: it imports sympy

    for _ in range(2):  # as math-verify: twice ("5 cm per second" style tails)
        text = units_regex.sub(r"\1", text)
    return text


def _is_letter_soup(answer: str) -> bool:
    """Plain words (outside LaTeX commands, \\text{...} and a trailing unit) that spell 3+ distinct letters:
    sympy reads them as a product of 3+ free symbols, which equals no number (the rule the helper applies
    after parsing)."""
    if not _WORD.search(answer):
        return False
    plain = _strip_units(_COMMAND.sub(" ", _TEXT_GROUP.sub(" ", answer)))
    letters = {c for w in _WORD.findall(plain) for c in w}
    return len(letters) >= 3


# --------------------------------------------------------------------------------------------------
# math-verify, in the bounded helper process
# --------------------------------------------------------------------------------------------------

_gold_cache: OrderedDict = OrderedDict()


def _as_latex(answer: str) -> str:
    return answer if "$" in answer else f"${answer}$"


def verify_in_helper(request) -> bool:
    """Runs inside the helper process: math-verify parse + verify of [pred, gold] (JSON-friendly)."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    pred, gold = request
    gold_parsed = _gold_cache.get(gold)
    if gold_parsed is None:
        gold_parsed = parse(_as_latex(gold), parsing_timeout=None)
        _gold_cache[gold] = gold_parsed
        if len(_gold_cache) > 4096:
            _gold_cache.popitem(last=False)
    pred_parsed = parse(_as_latex(pred), parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    if _letter_soup_against_number(pred_parsed[0], gold_parsed[0]):
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def _letter_soup_against_number(pred, gold) -> bool:
    """A numeric gold answer against an expression in 3+ free symbols (words read as products of letters,
    e.g. "25 dollars" -> 25*a*d*l*l*o*r*s): never equal, and verify() would spend up to ~0.3 s proving it."""
    import sympy

    return (
        isinstance(gold, sympy.Number)
        and isinstance(pred, sympy.Expr)
        and not isinstance(pred, sympy.Number)
        and len(pred.free_symbols) >= 3
    )


_worker: BoundedWorker | None = None
_worker_lock = threading.Lock()
_verdicts: OrderedDict = OrderedDict()  # (pred, gold) -> bool, for repeated answers in a GRPO group
_VERDICT_CACHE_SIZE = 16384


def _helper() -> BoundedWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = BoundedWorker("rewards.math:verify_in_helper")
        return _worker


def is_equivalent(pred: str, gold: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether the predicted final answer equals the gold answer (False on timeout or unparseable text)."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return False
    if len(pred) > MAX_ANSWER_CHARS or not pred.strip() or not gold.strip():
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
