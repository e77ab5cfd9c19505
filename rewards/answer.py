"""Which part of a completion is its final answer, and the clean-up applied before an answer is graded.

Shared by the `math` reward and `logicrl eval`'s grader, so training and evaluation read the same answer.

Precedence (`final_answer`):
1. With a closed answer block (`<answer>...</answer>`), the last such block is authoritative: the last
   `\\boxed{...}` / `\\fbox{...}` inside it if it has one, else its whole text. A `\\boxed{}` elsewhere (in
   the reasoning) does not count. An unclosed `<answer>` is no block.
2. Without a closed answer block, the last `\\boxed{...}` / `\\fbox{...}` of the whole text.
3. Otherwise there is no answer (None).

Clean-up (`clean_answer`), each step removing form, never content:
- unicode math signs written as LaTeX (`−` minus, `·` / `⋅` dot, `×`, `√`, `π`, `∞`, thin and no-break spaces);
- markdown: a code span or fence, and emphasis (`**x**`, `__x__`, `*x*`, `_x_`) whose marks stand at word
  boundaries (so `2**10` and `a_1` are untouched);
- a lead-in phrase at the start ("Answer:", "Final answer:", "The (final) answer is", "So/Thus/Therefore/
  Hence the answer is") and a closing "I hope it is correct." sentence, with the period that ends the sentence;
- inline-math delimiters around the whole answer: `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]`, and a `\\boxed{..}`
  around it; a leading currency sign `\\$`;
- `\\mathrm{e}`, `\\text{e}`, `\\operatorname{e}` (Euler's number as a roman letter) -> `e`;
- `\\sqrt(x)` -> `\\sqrt{x}` and `\\sqrt[n](x)` -> `\\sqrt[n]{x}` when the parenthesised argument is one
  balanced group;
- thousands separators inside a plain number: `,`, `{,}`, `,\\!`, `\\,`, `\\ `, `~`, a space or a thin space,
  counted only between a 1-3 digit head (not starting with 0) and groups of exactly three digits, one kind of
  separator per number (`1,234`, `12 000 023` and `1{,}234.5` are numbers; `1,2`, `3, 5`, `0,111` are lists).
Nothing else is rewritten: hedges (`3 \\text{ or } 5`), lists and words stay as they are and grade wrong.

`malformed_reason` names slips that a parser would silently truncate or misread (`\\frac(1)(2)`, an
unbalanced `\\sqrt(`, a LaTeX line break `\\\\` outside an environment, a dangling operator, numbers separated
by spaces only); the math grader calls such answers wrong instead of guessing.

Everything here is plain Python on bounded text: no parser, no `eval`, each regular expression linear or
run on at most MAX_ANSWER_CHARS characters.
"""

from __future__ import annotations

import re

from rewards.textutil import ANSWER_CLOSE, ANSWER_OPEN

MAX_ANSWER_CHARS = 512
"""A final answer longer than this is not an answer (bounds all later work on hostile text)."""
BLOCK_SLACK = 64
"""An answer block may be this much longer than MAX_ANSWER_CHARS (whitespace, a lead-in) before it is refused."""

_BOX_OPENERS = ("\\boxed{", "\\fbox{")


# --------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} with balanced braces (at most MAX_ANSWER_CHARS)."""
    start = max(text.rfind(opener) for opener in _BOX_OPENERS)
    if start < 0:
        return None
    start = text.index("{", start) + 1
    depth = 1
    end = min(len(text), start + MAX_ANSWER_CHARS + 1)
    for i in range(start, end):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def last_answer_block(text: str) -> str | None:
    """The content of the last closed <answer>...</answer> block (not stripped), or None when there is none."""
    end = text.rfind(ANSWER_CLOSE)
    while end >= 0:
        start = text.rfind(ANSWER_OPEN, 0, end)
        if start >= 0:
            return text[start + len(ANSWER_OPEN) : end]
        return None  # a closing tag with no opening tag before it: no block
    return None


def final_answer(text: str) -> str | None:
    """The final answer of a completion by the precedence rule in the module doc, stripped; None if none."""
    if not isinstance(text, str):
        return None
    block = last_answer_block(text)
    if block is not None:
        boxed = last_boxed(block)
        if boxed is None:
            if len(block) > MAX_ANSWER_CHARS + BLOCK_SLACK:
                return None
            boxed = block
    else:
        boxed = last_boxed(text)
        if boxed is None:
            return None
    answer = boxed.strip()
    return answer if answer and len(answer) <= MAX_ANSWER_CHARS else None


# --------------------------------------------------------------------------------------------------
# Clean-up
# --------------------------------------------------------------------------------------------------

_UNICODE = {
    "\u2212": "-",  # minus sign
    "\u00b7": " \\cdot ",
    "\u22c5": " \\cdot ",
    "\u00d7": " \\times ",
    "\u221a": "\\sqrt",
    "\u03c0": "\\pi ",
    "\u221e": "\\infty ",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u2002": " ",
    "\u2003": " ",
}
_UNICODE_TABLE = str.maketrans(_UNICODE)

_CODE_SPAN = re.compile(r"^(`{1,3})(?:[a-z]*\n)?(.+?)\1$", re.DOTALL)
# Emphasis marks at word boundaries: "**73**" and "the *only* one", not "2**10", "x**2 + y**2" or "a_1_2".
_STRONG = re.compile(r"(?<![\w*\\])(\*\*|__)(?=\S)(.+?)(?<=\S)\1(?![\w*])", re.DOTALL)
_EMPHASIS = re.compile(r"(?<![\w*\\])([*_])(?=[^\s*_])(.+?)(?<=[^\s*_\\])\1(?![\w*])", re.DOTALL)
_LEAD_IN = re.compile(
    r"^(?:[#>*\-\s]*)(?:(?:so|thus|therefore|hence|then)\s*,?\s+)?"
    r"(?:(?:the|my|our)\s+)?(?:final\s+)?(?:answer|result)(?:\s+is\b|\s*[:=]|[ \t]*\n)\s*:?\s*",
    re.IGNORECASE,
)
_HOPE = re.compile(r"\.?\s*I hope it is correct\.?\s*$", re.IGNORECASE)
_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"), ("\\boxed{", "}"), ("\\fbox{", "}"))
_CURRENCY = re.compile(r"^([+-]?)\\\$\s*")
_ROMAN_E = re.compile(r"\\(?:mathrm|text|textrm|textit|mathit|operatorname|rm)\s*\{\s*e\s*\}")
_SQRT_PAREN = re.compile(r"\\sqrt\s*(\[[^\[\]{}]{0,32}\])?\s*\(")
_SEPARATOR = r"(?:\{,\}|,\\!\s?|,|\\[,;: !]|~| )"
_GROUPED_NUMBER = re.compile(
    rf"(?<![\w.,{{}}()\[\]\\])([+-]?)([1-9]\d{{0,2}})((?:{_SEPARATOR}\d{{3}})+)(\.\d+)?(?![\w.]|,\d|\{{,\}})"
)
_ONE_SEPARATOR = re.compile(_SEPARATOR)
_LIST_COMMA = re.compile(r"(?<=\d),(?=\d)")
_TRAILING = " \t\r\n.;,"


def _strip_wrappers(answer: str) -> str:
    """Remove whole-answer wrappers (inline math, code spans, emphasis) until none is left (bounded)."""
    for _ in range(6):
        before = answer
        answer = answer.strip().rstrip(".;,").rstrip()
        match = _CODE_SPAN.match(answer)
        if match:
            answer = match.group(2)
        for opener, closer in _DELIMITERS:
            if len(answer) > len(opener) + len(closer) and answer.startswith(opener) and answer.endswith(closer):
                inner = answer[len(opener) : -len(closer)]
                if opener == "$" and "$" in inner:
                    continue  # "$3$ or $5$": two math spans, not one wrapped answer
                if closer == "}" and not _balanced(inner):
                    continue  # "\\boxed{1} + \\boxed{2}": not one box around the whole answer
                answer = inner
                break
        if answer == before:
            break
    return answer.strip()


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += 1 if c == "{" else -1 if c == "}" else 0
        if depth < 0:
            return False
    return depth == 0


def _fix_sqrt_parens(answer: str) -> str:
    """\\sqrt(x) -> \\sqrt{x} when "(x)" is one balanced group (left for malformed_reason otherwise)."""
    out = []
    pos = 0
    for _ in range(16):
        match = _SQRT_PAREN.search(answer, pos)
        if match is None:
            break
        depth, i = 1, match.end()
        while i < len(answer) and depth:
            c = answer[i]
            if c in "{}":
                break  # braces inside the parentheses: not one clean group
            depth += 1 if c == "(" else -1 if c == ")" else 0
            i += 1
        if depth:
            out.append(answer[pos : match.end()])
            pos = match.end()
            continue
        index = match.group(1) or ""
        out.append(answer[pos : match.start()] + "\\sqrt" + index + "{" + answer[match.end() : i - 1] + "}")
        pos = i
    out.append(answer[pos:])
    return "".join(out)


def _join_groups(match: re.Match) -> str:
    sign, head, groups, decimals = match.group(1), match.group(2), match.group(3), match.group(4) or ""
    separators = {s.strip() or " " for s in _ONE_SEPARATOR.findall(groups)}
    if len(separators) != 1:
        return match.group(0)  # "1,234 567": mixed separators, not one number
    return sign + head + re.sub(r"\D", "", groups) + decimals


def clean_answer(answer: str) -> str:
    """The answer with its form removed (see module doc); "" for a non-string. Never raises."""
    if not isinstance(answer, str):
        return ""
    answer = answer[: MAX_ANSWER_CHARS + BLOCK_SLACK].translate(_UNICODE_TABLE)
    answer = _strip_wrappers(answer)
    for _ in range(3):  # lead-ins and emphasis may nest ("**Answer:** **73**")
        before = answer
        answer = _STRONG.sub(r"\2", answer)
        answer = _EMPHASIS.sub(r"\2", answer)
        answer = _HOPE.sub("", answer)
        answer = _LEAD_IN.sub("", answer, count=1)
        answer = _strip_wrappers(answer)
        if answer == before:
            break
    answer = _CURRENCY.sub(r"\1", answer)
    answer = _ROMAN_E.sub("e", answer)
    if "\\sqrt" in answer:
        answer = _fix_sqrt_parens(answer)
    if any(c.isdigit() for c in answer):
        answer = _GROUPED_NUMBER.sub(_join_groups, answer)
        # A comma left between digits separates list items ("1,2", "0,111"); spaced, no parser reads it as
        # a decimal comma or a thousands separator.
        answer = _LIST_COMMA.sub(", ", answer)
    return answer.strip()


_FRAC_PAREN = re.compile(r"\\[dtc]?frac\s*\(")
_SPACED_NUMBERS = re.compile(r"[+-]?\d+(?:\.\d+)?(?:\s+[+-]?\d+(?:\.\d+)?)+")
_DANGLING = re.compile(r"(?:[+\-*/^_=]|\\cdot|\\times|\\div|\\pm|\\sqrt|\\frac)\s*$")
_ENVIRONMENT = re.compile(r"\\begin\s*\{")


def malformed_reason(answer: str) -> str | None:
    """Why a cleaned answer cannot be graded as written (a parser would drop part of it), or None.

    - "frac_parens": `\\frac(1)(2)`-style arguments (not guessed);
    - "sqrt_parens": `\\sqrt(` whose argument is not one balanced group (left after clean-up);
    - "line_break": a LaTeX line break `\\\\` outside a matrix/cases environment (two answers);
    - "dangling_operator": the answer ends with an operator or a command missing its argument;
    - "unbalanced": braces that do not pair up;
    - "spaced_numbers": plain numbers separated by spaces only, not a thousands grouping ("4 2": math-verify
      reads it as 4 + 2; a list or a typo, never guessed).
    """
    if _FRAC_PAREN.search(answer):
        return "frac_parens"
    if _SPACED_NUMBERS.fullmatch(answer):
        return "spaced_numbers"
    if _SQRT_PAREN.search(answer):
        return "sqrt_parens"
    if "\\\\" in answer and not _ENVIRONMENT.search(answer):
        return "line_break"
    if _DANGLING.search(answer):
        return "dangling_operator"
    depth = 0
    for c in answer:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return "unbalanced"
    if depth:
        return "unbalanced"
    return None
