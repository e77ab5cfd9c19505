"""math-verify with this project's grading rules. Imported only inside the bounded helper process.

`rewards.math.is_equivalent` sends [prediction, gold] here (both already cleaned by
`rewards.answer.clean_answer`) through `rewards.timeout.BoundedWorker("rewards._verify:verify_pair")`.
math-verify parses both sides and compares them; two of its choices are replaced:

- Numbers (math-verify's `grader.sympy_numeric_eq`, used for every number it compares, inside sets, tuples,
  intervals, matrices and relations too): math-verify rounds floats to 6 decimals and chops differences
  below 1e-15, so 1/2^98 equals 1/2^99 and 0.333333 equals 1/3. Here (`numeric_eq`): when the gold number
  is exact (no decimal point in it: integers, fractions, surds, powers, constants), the prediction must
  equal it exactly: rationals compare by value, a decimal in the prediction counts as the exact number it
  writes (0.5 is 1/2, 0.333333 is not 1/3), and other closed forms compare by their value to
  EXACT_DIGITS significant digits (sympy evalf; symbolic simplification still follows when that fails).
  When the gold number is itself a decimal, the prediction may differ by DECIMAL_REL_TOL relative.
- Extraction: only math-verify's LaTeX extraction reads the answer (the answer is already the final
  answer, wrapped in $...$). Its plain-expression fallback would pick a number out of text the LaTeX
  parser rejected (`4\\\\sqrt{2}` read as 4, `3·4` as 3), silently dropping the rest.

Model text never reaches `sympify`/`eval`: math-verify's own LaTeX parser (latex2sympy2_extended, ANTLR)
builds the expressions; the helper's time limit bounds parse and comparison.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict

import sympy
from latex2sympy2_extended.math_normalization import units_regex
from math_verify import LatexExtractionConfig, parse, verify
from math_verify import grader as _grader
from sympy import Float, Integer, Rational

import rewards.math

DECIMAL_REL_TOL = float(rewards.math.DECIMAL_REL_TOL)
"""Relative tolerance when the gold number is a decimal (defined in rewards.math, which applies it to plain
numbers itself)."""
EXACT_DIGITS = 50
"""Significant digits to which an exact gold closed form (surd, constant...) must match the prediction."""
GOLD_CACHE_SIZE = 4096

_LATEX_ONLY = [LatexExtractionConfig()]
logging.getLogger("math_verify").setLevel(logging.CRITICAL)


def _exact_decimals(expr):
    """Each decimal in `expr` replaced by the exact rational it writes (0.25 -> 1/4)."""
    floats = expr.atoms(Float)
    if not floats:
        return expr
    return expr.xreplace({f: Rational(str(f)) for f in floats})


def _close(gold, pred, rel_tol: float) -> bool:
    """|pred - gold| <= rel_tol * |gold| at EXACT_DIGITS + 10 digits (both must evaluate to numbers)."""
    digits = EXACT_DIGITS + 10
    g = gold.evalf(digits)
    p = pred.evalf(digits)
    if not (g.is_number and p.is_number):
        return False
    if g == p:
        return True
    try:
        return bool(abs(p - g) <= rel_tol * abs(g))
    except TypeError:  # nan, or an unorderable comparison
        return False


def numeric_eq(gold, pred, float_rounding=None, numeric_precision=None) -> bool:
    """This project's number rule, in math-verify's `sympy_numeric_eq` slot (gold first, as math-verify
    calls it). The last two arguments are math-verify's and are ignored."""
    try:
        if isinstance(gold, sympy.MatrixBase) or isinstance(pred, sympy.MatrixBase):
            gold, pred = _grader.safe_sympy_doit(gold), _grader.safe_sympy_doit(pred)
            if not (isinstance(gold, sympy.MatrixBase) and isinstance(pred, sympy.MatrixBase)):
                return False
            if gold.shape != pred.shape:
                return False
            return all(numeric_eq(g, p) for g, p in zip(gold, pred))
        # math-verify's percentage rule: "28\\%" equals 28.
        if _grader.is_atomic_or_pct_atomic(gold, Integer) and _grader.is_atomic_or_pct_atomic(pred, Integer):
            return _grader.get_pct_val(gold, gold) == _grader.get_pct_val(pred, pred)
        gold, pred = _grader.safe_sympy_doit(gold), _grader.safe_sympy_doit(pred)
        if not (isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr)):
            return False
        if gold.free_symbols or pred.free_symbols:
            return False  # symbolic: math-verify's exact simplification decides next
        if gold.has(Float):
            return _close(gold, pred, DECIMAL_REL_TOL)
        pred = _exact_decimals(pred)
        if gold.is_Rational and pred.is_Rational:
            return gold == pred
        return _close(gold, pred, 10.0**-EXACT_DIGITS)
    except Exception:  # noqa: BLE001  (a comparison that cannot be made is not an equality)
        return False


if not hasattr(_grader, "sympy_numeric_eq"):  # pragma: no cover  (guards an upgrade of math-verify)
    raise ImportError("math_verify.grader.sympy_numeric_eq is gone: rewards._verify needs updating")
_grader.sympy_numeric_eq = numeric_eq


# ----------------------------------------------------------------------------------------------------


_gold_cache: OrderedDict = OrderedDict()


def _parse(answer: str) -> list:
    return parse(f"${answer}$", _LATEX_ONLY, parsing_timeout=None)


def _parsed_gold(gold: str) -> list:
    parsed = _gold_cache.get(gold)
    if parsed is None:
        parsed = _parse(gold)
        _gold_cache[gold] = parsed
        if len(_gold_cache) > GOLD_CACHE_SIZE:
            _gold_cache.popitem(last=False)
    return parsed


# A text-like LaTeX command with its argument (units and words are allowed there), or any other command.
_TEXT_GROUP = re.compile(r"\\(?:text[a-z]*|math[a-z]*|[hm]box|operatorname)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{3,}")


def _is_letter_soup(answer: str) -> bool:
    """Plain words (outside LaTeX commands, \\text{...} and a trailing unit that math-verify itself strips, as
    in "25 apples") that spell 3+ distinct letters: sympy would read them as a product of 3+ free symbols,
    which equals no number, and math-verify spends 0.1-0.5 s parsing and verifying such word salad
    ("Zoey is 25 knights, Oliver 3 knaves"). Checked here, before parsing, against a numeric gold answer."""
    if not _WORD.search(answer):
        return False
    plain = _COMMAND.sub(" ", _TEXT_GROUP.sub(" ", answer))
    for _ in range(2):  # as math-verify: twice ("5 cm per second" style tails)
        plain = units_regex.sub(r"\1", plain)
    letters = {c for w in _WORD.findall(plain) for c in w}
    return len(letters) >= 3


def _letter_soup_against_number(pred, gold) -> bool:
    """A numeric gold answer against an expression in 3+ free symbols (words read as products of letters,
    e.g. "25 dollars" -> 25*a*d*l*l*o*r*s): never equal, and verify() would spend up to ~0.3 s proving it."""
    return (
        isinstance(gold, sympy.Number)
        and isinstance(pred, sympy.Expr)
        and not isinstance(pred, sympy.Number)
        and len(pred.free_symbols) >= 3
    )


def verify_pair(request) -> bool:
    """[prediction, gold] (cleaned answers) -> equal? Runs inside the helper process."""
    pred, gold = request
    gold_parsed = _parsed_gold(gold)
    if gold_parsed and isinstance(gold_parsed[0], sympy.Number) and _is_letter_soup(pred):
        return False
    pred_parsed = _parse(pred)
    if not gold_parsed or not pred_parsed:
        return False
    if _letter_soup_against_number(pred_parsed[0], gold_parsed[0]):
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
