"""Strict format: exactly `<think>reasoning</think>` then `<answer>answer</answer>`, nothing else.

Rules (each failure has a reason code, see `FormatResult.reason`):
- each of <think>, </think>, <answer>, </answer> appears exactly once ("tag_count": several answer blocks,
  nested tags, output cut off mid-tag, missing tags),
- in that order ("order": answer inside the think block, answer before reasoning),
- only whitespace outside the two blocks ("text_outside"),
- neither block empty ("empty_think", "empty_answer"),
- the reasoning holds at least `min_reasoning_words` distinct words that are not in the answer
  ("short_reasoning": no reasoning, or reasoning that only restates the answer).

With `think_prefilled` the prompt already opened <think>, so the completion starts inside the block.
Tags are found in one linear regex scan that stops at the first repeated tag; the word regex runs on a
bounded prefix of the reasoning, so any input is checked in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from rewards.registry import RewardFn, register
from rewards.textutil import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    completion_text,
    prompt_prefills_think,
)

DEFAULT_MIN_REASONING_WORDS = 8
"""Distinct words in <think> that do not occur in <answer>; below this the reasoning is a restatement."""

REASONING_SCAN_CHARS = 32_768
"""Only this prefix of the reasoning is tokenised when counting its words (bounds the time per call)."""

_WORD = re.compile(r"\w+")
_TAG = re.compile(r"</?(?:think|answer)>")


@dataclass(frozen=True)
class FormatResult:
    ok: bool
    """True when the completion passes every rule."""
    reason: str
    """"" when ok, else the first rule broken (tag_count, order, text_outside, empty_think, ...)."""
    think: str = ""
    """The reasoning (content of the think block) when the tags are well placed, else ""."""
    answer: str = ""
    """The content of the answer block, stripped, when the tags are well placed, else ""."""
    reasoning_words: int = 0
    """Distinct reasoning words not in the answer, counted up to `min_reasoning_words`."""


def _novel_words(think: str, answer: str, needed: int) -> int:
    """How many distinct words of `think` are absent from `answer` (stops counting at `needed`)."""
    if needed <= 0:
        return 0
    answer_words = set(_WORD.findall(answer[:REASONING_SCAN_CHARS].lower()))
    seen: set[str] = set()
    for match in _WORD.finditer(think[:REASONING_SCAN_CHARS].lower()):
        word = match.group()
        if word not in answer_words and word not in seen:
            seen.add(word)
            if len(seen) >= needed:
                break
    return len(seen)


def check_format(
    text: str, *, think_prefilled: bool = False, min_reasoning_words: int = DEFAULT_MIN_REASONING_WORDS
) -> FormatResult:
    """Check one completion's text against the strict format (never raises for a string)."""
    if not isinstance(text, str):
        return FormatResult(False, "not_text")
    # One regex scan finds the tags (they cannot overlap, so this counts them as str.count would) and stops at
    # the first repeated one: measured 1.8 us against 4.7 us for four count and four find passes over 2 kB.
    # A prefilled <think> sits just before the text (no tag can straddle the join: "<think>" ends with ">").
    positions: dict[str, int] = {THINK_OPEN: -len(THINK_OPEN)} if think_prefilled else {}
    for match in _TAG.finditer(text):
        tag = match.group()
        if tag in positions:
            return FormatResult(False, "tag_count")
        positions[tag] = match.start()
    if len(positions) != 4:
        return FormatResult(False, "tag_count")
    think_start, think_end = positions[THINK_OPEN], positions[THINK_CLOSE]
    answer_start, answer_end = positions[ANSWER_OPEN], positions[ANSWER_CLOSE]
    if not (think_start < think_end < answer_start < answer_end):
        return FormatResult(False, "order")
    if (
        (think_start > 0 and text[:think_start].strip())
        or text[think_end + len(THINK_CLOSE) : answer_start].strip()
        or text[answer_end + len(ANSWER_CLOSE) :].strip()
    ):
        return FormatResult(False, "text_outside")
    think = text[think_start + len(THINK_OPEN) : think_end]
    answer = text[answer_start + len(ANSWER_OPEN) : answer_end].strip()
    if not think or think.isspace():
        return FormatResult(False, "empty_think", think, answer)
    if not answer:
        return FormatResult(False, "empty_answer", think, answer)
    words = _novel_words(think, answer, min_reasoning_words)
    if words < min_reasoning_words:
        return FormatResult(False, "short_reasoning", think, answer, words)
    return FormatResult(True, "", think, answer, words)


def _format_breakdown(
    prompts, completions, *, think_prefilled, min_reasoning_words, ok_score, fail_score, **_columns
) -> list[dict]:
    rows = []
    for prompt, completion in zip(prompts, completions):
        text = completion_text(completion)
        prefilled = prompt_prefills_think(prompt) if think_prefilled is None else bool(think_prefilled)
        result = check_format(text, think_prefilled=prefilled, min_reasoning_words=min_reasoning_words)
        score = ok_score if result.ok else fail_score
        rows.append(
            {"reward": score, "format": score, "reasoning_words": result.reasoning_words, "length": len(text)}
        )
    return rows


@register("format", factory=True)
def make_format_reward(
    think_prefilled: bool | None = None,
    min_reasoning_words: int = DEFAULT_MIN_REASONING_WORDS,
    ok_score: float = 1.0,
    fail_score: float = -1.0,
) -> RewardFn:
    """The strict format reward: `ok_score` when the completion passes, `fail_score` otherwise.

    think_prefilled: None detects it per prompt (a prompt ending with "<think>"); True/False forces it.
    """
    fn = partial(
        _format_breakdown,
        think_prefilled=think_prefilled,
        min_reasoning_words=int(min_reasoning_words),
        ok_score=float(ok_score),
        fail_score=float(fail_score),
    )
    return RewardFn("format", fn)
