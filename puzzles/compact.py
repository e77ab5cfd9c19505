"""The compact prompt and completion format: what the embedded 1M-parameter model learns in its warm start.

A full-size model reasons in words; a 1M-parameter model on two CPU cores needs every step short
and local. The completion keeps the names (one token each in the embedded tokenizer), so no step
has to map a name to a position:

    <think> Aurora : Owen N ; Amelia : if Amelia K then Owen K ; Owen : Owen K iff Amelia K ;
    Aurora K Amelia K Owen K : Aurora F x ;
    Aurora K Amelia K Owen N : Aurora T , Amelia T F = F x ;
    ...
    Aurora N Amelia K Owen K : Aurora F , Amelia T T = T , Owen T T = T ok ;
    </think><answer>(1) Aurora is a knave
    (2) Amelia is a knight
    (3) Owen is a knight</answer>

First each statement is rewritten (K = knight, N = knave). Then assignments are tried in order
(knight before knave, first person slowest); for each, the people's statements are evaluated in
turn (leaf truth values, then `= value` for compound statements) until one contradicts its speaker
(`x`) or all agree (`ok`). (Shown on several lines here; the real text is one line.) The answer is the public `solution_text_format`, so the project's
rewards grade it unchanged.
"""

from __future__ import annotations

import itertools
import random

from puzzles.statements import evaluate

_OPS = {"and": "and", "or": "or"}


def _expr(stmt, names, top=True) -> str:
    op = stmt[0]
    if op == "telling-truth":
        return f"{names[stmt[1]]} K"
    if op == "lying":
        return f"{names[stmt[1]]} N"
    if op == "not":
        text = f"not {_expr(stmt[1], names, False)}"
    elif op in _OPS:
        text = f" {_OPS[op]} ".join(_expr(s, names, False) for s in stmt[1:])
    elif op == "->":
        text = f"if {_expr(stmt[1], names, False)} then {_expr(stmt[2], names, False)}"
    elif op == "<=>":
        text = f"{_expr(stmt[1], names, False)} iff {_expr(stmt[2], names, False)}"
    else:
        raise ValueError(f"unknown statement operator {op!r}")
    return text if top or op == "not" else f"( {text} )"


def _leaves(stmt, assignment) -> list[bool]:
    op = stmt[0]
    if op == "telling-truth":
        return [assignment[stmt[1]]]
    if op == "lying":
        return [not assignment[stmt[1]]]
    return [v for s in stmt[1:] for v in _leaves(s, assignment)]


def _tf(v: bool) -> str:
    return "T" if v else "F"


def compact_prompt(puzzle) -> str:
    """The compact prompt: the puzzle text itself and a newline (base-model style, no chat template).
    `puzzle` is a KKPuzzle, a K&K record or the quiz text."""
    if isinstance(puzzle, str):
        return puzzle + "\n"
    if isinstance(puzzle, dict):
        return puzzle["quiz"] + "\n"
    return puzzle.quiz + "\n"


def compact_completion(puzzle, shortcut: bool = False, answer: str | None = None) -> str:
    """The full target completion (trace and answer) for one puzzle; see the module docstring.

    `shortcut=True` rewrites the claims and then answers without trying any case
    (`<think> claims : ... ; cases : skip so end </think><answer>...`): the habit of answering before checking.
    `answer` replaces the shortcut's answer (the solution by default), e.g. with a guess.
    """
    names, statements = puzzle.names, puzzle.statements
    rewrite = " ".join(f"{names[i]} says {_expr(s, names)} ;" for i, s in enumerate(statements))
    if shortcut:
        answer = puzzle.solution_text_format if answer is None else answer
        return f"<think> claims : {rewrite} cases : skip so end </think><answer>{answer}</answer>"
    lines = [f"<think> claims : {rewrite} cases :"]
    for assignment in itertools.product((True, False), repeat=len(names)):
        head = " ".join(f"{n} {'K' if a else 'N'}" for n, a in zip(names, assignment))
        checks = []
        consistent = True
        for i, s in enumerate(statements):
            leaves = " ".join(_tf(v) for v in _leaves(s, assignment))
            value = evaluate(s, assignment)
            checks.append(f"{names[i]} {leaves}" + ("" if s[0] in ("telling-truth", "lying") else f" = {_tf(value)}"))
            if value != assignment[i]:
                consistent = False
                break
        lines.append(f"try {head} : {' , '.join(checks)} {'consistent' if consistent else 'wrong'} ;")
        if consistent:
            break
    # One line: a name after a newline would be a different token from the same name after a space.
    return " ".join(lines) + f" so end </think><answer>{puzzle.solution_text_format}</answer>"


def guess_answer(puzzle, rng: random.Random) -> str:
    """A uniformly random knight/knave assignment in the answer format (right by chance only)."""
    from puzzles.render import solution_text_format

    return solution_text_format(puzzle.names, [rng.random() < 0.5 for _ in puzzle.names], puzzle.roles)
