"""Reply parsers: a model's reply -> the actions it asks for, never anything outside the vocabulary.

Two kinds, after MageBench's two settings:
- a *plan* parser (Global: one reply lists every action) returns a list of actions;
- an *action* parser (Online: one action per turn) returns one action or None.

Parsers are registered by name (`register_parser`); built in:

``magebench`` reproduces MageBench exactly (microsoft/MageBench ``Flow/GlobalPlanning.py:104-113``,
``Flow/Online_HL_FBandSB.py:24-41``), so scores are comparable with its published ones:
- plan: the text after the first ``### Actions`` (up to a second one, if any; the whole reply when
  there is none), split on ``,``, each piece stripped and kept only when it is *exactly* one of the
  actions (case-sensitive; anything else is silently dropped, so a one-per-line list is one bad
  piece and yields nothing);
- action: the text after the first ``# action`` (same rule), stripped, must equal one action.

``tolerant`` reads what a model plainly meant, and differs from ``magebench`` in these ways:
- headings in any case and level (``### Actions``, ``## actions:``, ``**Actions:**``,
  ``Actions:``); the list ends at the next markdown heading;
- actions in any case (``up``, ``UP``), separated by commas, semicolons, newlines, spaces or arrows
  (``->``, ``→``), with list markers (``-``, ``*``, ``1.``, ``2)``), quotes, backticks, bold, brackets
  and a trailing full stop removed;
- a piece (text between separators other than spaces) counts only when every word of it is an
  action, so prose such as "push the box up" adds nothing;
- Online: the first non-empty line after the action heading (or of the reply, without a heading)
  must hold exactly one action word, optionally followed by an explanation after ``(``, ``-``,
  ``:`` or ``,``.
It is not a superset of ``magebench`` in every corner (it stops at the next heading where
``magebench`` reads on), and its scores are not comparable with MageBench's.

Hostile input: replies are cut to `MAX_REPLY_CHARS` before parsing and plans to `MAX_PLAN_ACTIONS`;
no regular expression here can backtrack catastrophically.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_REPLY_CHARS = 100_000
MAX_PLAN_ACTIONS = 10_000

PlanFn = Callable[[str, Sequence[str]], list[str]]
ActionFn = Callable[[str, Sequence[str]], "str | None"]


@dataclass(frozen=True)
class Parser:
    """A named pair of parsers. `plan(reply, actions)` -> list of actions (Global);
    `action(reply, actions)` -> one action or None (Online). `actions` is the vocabulary."""

    name: str
    plan: PlanFn
    action: ActionFn


_PLAN: dict[str, PlanFn] = {}
_ACTION: dict[str, ActionFn] = {}


def register_parser(name: str, kind: str):
    """Decorator registering `fn(reply, actions)` as the ``"plan"`` or ``"action"`` parser `name`."""
    if kind not in ("plan", "action"):
        raise ValueError(f"parser kind must be 'plan' or 'action', got {kind!r}")

    def deco(fn):
        (_PLAN if kind == "plan" else _ACTION)[name] = fn
        return fn

    return deco


def parser_names() -> list[str]:
    return sorted(set(_PLAN) & set(_ACTION))


def get_parser(name: str) -> Parser:
    """The parser pair called `name`; ValueError naming the known ones otherwise."""
    if name not in _PLAN or name not in _ACTION:
        raise ValueError(f"unknown parser {name!r}; known: {', '.join(parser_names())}")
    plan, action = _PLAN[name], _ACTION[name]

    def safe_plan(reply: str, actions: Sequence[str]) -> list[str]:
        allowed = set(actions)
        out = plan(_clip(reply), actions)
        return [a for a in out if a in allowed][:MAX_PLAN_ACTIONS]

    def safe_action(reply: str, actions: Sequence[str]) -> str | None:
        out = action(_clip(reply), actions)
        return out if out in set(actions) else None

    return Parser(name, safe_plan, safe_action)


def _clip(reply) -> str:
    if not isinstance(reply, str):
        return ""
    return reply[:MAX_REPLY_CHARS]


# ---- magebench: exact reproduction ---------------------------------------------------------------
@register_parser("magebench", "plan")
def magebench_plan(reply: str, actions: Sequence[str]) -> list[str]:
    ostring = reply
    if "### Actions" in ostring:
        ostring = ostring.split("### Actions")[1].strip()
    else:
        ostring = ostring.strip()
    return [a for a in (a.strip() for a in ostring.split(",")) if a in actions]


@register_parser("magebench", "action")
def magebench_action(reply: str, actions: Sequence[str]) -> str | None:
    ostring = reply
    if "# action" in ostring:
        ostring = ostring.split("# action")[1].strip()
    ac = ostring.strip()
    return ac if ac in actions else None


# ---- tolerant -------------------------------------------------------------------------------------
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]")
_ACTIONS_HEADING = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*actions?[ \t]*(?:\*\*|__)?[ \t]*:?"
                              r"[ \t]*(?:\*\*|__)?", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,;\n]|->|→|=>")
_MARKER = re.compile(r"^(?:[-*•+]|\d{1,4}[.)]|step[ \t]*\d{1,4}[ \t]*[:.)])[ \t]*", re.IGNORECASE)
_INLINE_LABEL = re.compile(r"\bactions?[ \t]*(?:\*\*|__)?[ \t]*:", re.IGNORECASE)
_EXPLANATION = re.compile(r"[(\-:,–—]")
_STRIP = " \t\r`'\"*_[](){}<>"


def _word(w: str) -> str:
    return w.strip(_STRIP + ".!").lower()


def _after_heading(reply: str, vocab: dict[str, str]) -> str:
    """The text after the first actions heading (the rest of its line included) up to the next
    markdown heading; else after the first "Actions:" label inside a line; else the whole reply.
    A line counts as a heading when nothing, punctuation or an action follows the word (so
    "Actions speak louder" does not)."""
    lines = reply.split("\n")
    for i, line in enumerate(lines):
        m = _ACTIONS_HEADING.match(line)
        if not m:
            continue
        rest = line[m.end():].strip()
        if rest and rest[0].isalpha() and _word(rest.split()[0]) not in vocab:
            continue
        body = [line[m.end():]]
        for more in lines[i + 1:]:
            if _HEADING.match(more):
                break
            body.append(more)
        return "\n".join(body)
    m = _INLINE_LABEL.search(reply)  # "... Actions: Up, Left" inside a line
    if m:
        body = [reply[m.end():].split("\n", 1)[0]]
        for more in reply[m.end():].split("\n")[1:]:
            if _HEADING.match(more):
                break
            body.append(more)
        return "\n".join(body)
    return reply


def _clean(piece: str) -> str:
    piece = _MARKER.sub("", piece.strip(_STRIP))
    return piece.strip(_STRIP + ".!")


@register_parser("tolerant", "plan")
def tolerant_plan(reply: str, actions: Sequence[str]) -> list[str]:
    vocab = {a.lower(): a for a in actions}
    text = _after_heading(reply.replace("```", "\n"), vocab)
    out: list[str] = []
    for piece in _SEPARATORS.split(text):
        words = [_word(w) for w in _clean(piece).split()]
        if words and all(w in vocab for w in words):
            out.extend(vocab[w] for w in words)
            if len(out) >= MAX_PLAN_ACTIONS:
                break
    return out


@register_parser("tolerant", "action")
def tolerant_action(reply: str, actions: Sequence[str]) -> str | None:
    vocab = {a.lower(): a for a in actions}
    text = _after_heading(reply.replace("```", "\n"), vocab)
    for line in text.split("\n"):
        cleaned = _clean(line)
        if not cleaned:
            continue
        words = _EXPLANATION.split(cleaned, maxsplit=1)[0].split()
        if len(words) == 1 and _word(words[0]) in vocab:
            return vocab[_word(words[0])]
        return None
    return None
