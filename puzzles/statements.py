"""The statement grammar of the public Knights-and-Knaves benchmark, as nested tuples.

A statement is one of (person indices are 0-based):

    ('telling-truth', i)        "person i is a knight"
    ('lying', i)                "person i is a knave"
    ('not', s)
    ('and', s1, s2, ...)        2 or more parts
    ('or', s1, s2, ...)         2 or more parts
    ('->', a, b)                implication
    ('<=>', a, b)               if and only if

A puzzle's `statements` is a tuple with one statement per person (person i says statements[i]).
This module validates, parses (``ast.literal_eval`` only, never ``eval``), measures and evaluates
statements one assignment at a time; the fast all-assignments evaluation lives in `puzzles.solver`.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

TRUTH = "telling-truth"
LIE = "lying"
NOT = "not"
AND = "and"
OR = "or"
IMPLIES = "->"
IFF = "<=>"

LEAF_OPS = (TRUTH, LIE)
VARIADIC_OPS = (AND, OR)
BINARY_OPS = (IMPLIES, IFF)
ALL_OPS = (TRUTH, LIE, NOT, AND, OR, IMPLIES, IFF)

# Bounds for untrusted statement strings (records read from files): the text length and the nesting.
MAX_STATEMENTS_CHARS = 200_000
MAX_DEPTH = 32


def validate_statement(stmt, n_people: int, _depth: int = 0) -> None:
    """Raise ValueError unless `stmt` is a well-formed statement about persons 0..n_people-1."""
    if _depth > MAX_DEPTH:
        raise ValueError(f"statement nested deeper than {MAX_DEPTH}")
    if not isinstance(stmt, tuple) or not stmt:
        raise ValueError(f"statement must be a non-empty tuple, got {stmt!r:.80}")
    op = stmt[0]
    if not isinstance(op, str) or op not in ALL_OPS:
        raise ValueError(f"unknown statement operator {op!r:.40}")
    if op in LEAF_OPS:
        if len(stmt) != 2 or type(stmt[1]) is not int:  # bool is not a person index
            raise ValueError(f"{op!r} takes one person index, got {stmt!r:.80}")
        if not 0 <= stmt[1] < n_people:
            raise ValueError(f"person index {stmt[1]} out of range for {n_people} people")
        return
    if op == NOT and len(stmt) != 2:
        raise ValueError(f"'not' takes one statement, got {len(stmt) - 1}")
    if op in VARIADIC_OPS and len(stmt) < 3:
        raise ValueError(f"{op!r} takes at least two statements, got {len(stmt) - 1}")
    if op in BINARY_OPS and len(stmt) != 3:
        raise ValueError(f"{op!r} takes two statements, got {len(stmt) - 1}")
    for sub in stmt[1:]:
        validate_statement(sub, n_people, _depth + 1)


def validate_statements(statements, n_people: int | None = None) -> tuple:
    """Validate a whole puzzle (one statement per person); return it as a tuple."""
    if not isinstance(statements, (tuple, list)) or not statements:
        raise ValueError("statements must be a non-empty tuple with one statement per person")
    n = len(statements) if n_people is None else n_people
    if len(statements) != n:
        raise ValueError(f"expected {n} statements (one per person), got {len(statements)}")
    for i, stmt in enumerate(statements):
        try:
            validate_statement(stmt, n)
        except ValueError as exc:
            raise ValueError(f"statement of person {i}: {exc}") from None
    return tuple(statements)


def _to_tuples(obj):
    # JSON or parquet may turn tuples into lists; the grammar is tuples all the way down.
    if isinstance(obj, list):
        return tuple(_to_tuples(x) for x in obj)
    if isinstance(obj, tuple):
        return tuple(_to_tuples(x) for x in obj)
    return obj


def parse_statements(text, n_people: int | None = None) -> tuple:
    """Parse the public record form (a Python-literal string) into validated nested tuples.

    Only ``ast.literal_eval`` is used, on a bounded string. Lists are accepted in place of tuples.
    """
    if isinstance(text, (tuple, list)):
        obj = text
    elif isinstance(text, str):
        if len(text) > MAX_STATEMENTS_CHARS:
            raise ValueError(f"statements string longer than {MAX_STATEMENTS_CHARS} characters")
        try:
            obj = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise ValueError(f"statements is not a Python literal: {type(exc).__name__}") from None
    else:
        raise ValueError(f"statements must be a string or a tuple, got {type(text).__name__}")  # noqa: TRY004 (bad data is a ValueError)
    return validate_statements(_to_tuples(obj), n_people)


def format_statements(statements) -> str:
    """The public record form: ``str`` of the nested tuple (parsed back by `parse_statements`)."""
    return str(tuple(statements))


def statement_depth(stmt) -> int:
    """Depth as the public generator counts it: a bare assertion has depth 1."""
    if stmt[0] in LEAF_OPS:
        return 1
    return 1 + max(statement_depth(s) for s in stmt[1:])


def statement_width(stmt) -> int:
    """Largest number of parts of any 'and'/'or' in the statement (1 when there is none)."""
    if stmt[0] in LEAF_OPS:
        return 1
    own = len(stmt) - 1 if stmt[0] in VARIADIC_OPS else 1
    return max([own] + [statement_width(s) for s in stmt[1:]])


def mentioned_people(stmt) -> list[int]:
    """Person indices in the statement, in order of first mention, without repeats."""
    out: list[int] = []

    def walk(s):
        if s[0] in LEAF_OPS:
            if s[1] not in out:
                out.append(s[1])
        else:
            for sub in s[1:]:
                walk(sub)

    walk(stmt)
    return out


def evaluate(stmt, assignment: Sequence[bool]) -> bool:
    """Truth of `stmt` when assignment[i] is True iff person i is a knight (one assignment)."""
    op = stmt[0]
    if op == TRUTH:
        return bool(assignment[stmt[1]])
    if op == LIE:
        return not assignment[stmt[1]]
    if op == NOT:
        return not evaluate(stmt[1], assignment)
    if op == AND:
        return all(evaluate(s, assignment) for s in stmt[1:])
    if op == OR:
        return any(evaluate(s, assignment) for s in stmt[1:])
    if op == IMPLIES:
        return (not evaluate(stmt[1], assignment)) or evaluate(stmt[2], assignment)
    if op == IFF:
        return evaluate(stmt[1], assignment) == evaluate(stmt[2], assignment)
    raise ValueError(f"unknown statement operator {op!r}")


def is_consistent(statements, assignment: Sequence[bool]) -> bool:
    """True iff every knight's statement is true and every knave's statement is false."""
    return all(evaluate(s, assignment) == bool(assignment[i]) for i, s in enumerate(statements))
