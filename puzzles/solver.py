"""Exact bit-parallel solver: every assignment of n people is evaluated at once.

An assignment is an integer a in [0, 2**n): bit i of a set means person i is a knight. A truth
table over all assignments is a Python int with 2**n bits (bit a = value under assignment a).
"Person i is a knight" is a fixed periodic pattern; not/and/or/->/<=> are int bit operations.
Person i's statement S constrains the world to ``knight_i <=> S`` (a knight's claim is true, a
knave's false), and the solutions are the AND of all those constraints: popcount 1 = unique.

Limit: 2 to MAX_PEOPLE (16) people. A table has 2**n bits, so each bit operation costs O(2**n / 64)
machine words: 12 people is 4096 bits (a few hundred nanoseconds an operation), 16 people is
65,536 bits (8 KiB ints). Beyond that the tables, and the search for unique puzzles, grow too slow.
"""

from __future__ import annotations

from functools import cache

from puzzles.statements import AND, IFF, IMPLIES, LIE, NOT, OR, TRUTH, validate_statements

MIN_PEOPLE = 2
MAX_PEOPLE = 16


def check_people(n_people: int) -> int:
    """Return `n_people` if it is within the supported range, else raise ValueError."""
    if type(n_people) is not int or not MIN_PEOPLE <= n_people <= MAX_PEOPLE:
        raise ValueError(f"number of people must be an integer from {MIN_PEOPLE} to {MAX_PEOPLE}, "
                         f"got {n_people!r}")
    return n_people


@cache
def tables(n_people: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(knight masks, knave masks, full mask) for n people.

    knight[i] has bit a set iff bit i of a is set: runs of 2**i zeros then 2**i ones, repeated.
    """
    size = 1 << n_people
    full = (1 << size) - 1
    knight, knave = [], []
    for i in range(n_people):
        run = 1 << i
        period = run << 1
        block = ((1 << run) - 1) << run  # one period: `run` zeros then `run` ones
        repeat = full // ((1 << period) - 1)  # 1 at the start of every period
        mask = block * repeat
        knight.append(mask)
        knave.append(mask ^ full)
    return tuple(knight), tuple(knave), full


def compile_statement(stmt, n_people: int) -> int:
    """Truth table of `stmt` over all 2**n assignments, as an int bitmask."""
    knight, knave, full = tables(n_people)

    def comp(s):
        op = s[0]
        if op == TRUTH:
            return knight[s[1]]
        if op == LIE:
            return knave[s[1]]
        if op == NOT:
            return comp(s[1]) ^ full
        if op == AND:
            m = full
            for sub in s[1:]:
                m &= comp(sub)
            return m
        if op == OR:
            m = 0
            for sub in s[1:]:
                m |= comp(sub)
            return m
        if op == IMPLIES:
            return (comp(s[1]) ^ full) | comp(s[2])
        if op == IFF:
            return comp(s[1]) ^ comp(s[2]) ^ full
        raise ValueError(f"unknown statement operator {op!r}")

    return comp(stmt)


def constraint_mask(speaker: int, statement_mask: int, n_people: int) -> int:
    """Assignments in which `speaker` is a knight exactly when the statement is true."""
    return statement_mask ^ tables(n_people)[1][speaker]


def solution_mask(statements, n_people: int | None = None) -> int:
    """Bitmask of all consistent assignments (bit a set = assignment a is a solution)."""
    n = len(statements) if n_people is None else n_people
    check_people(n)
    validate_statements(statements, n)
    _, knave, full = tables(n)
    acc = full
    for i, stmt in enumerate(statements):
        acc &= compile_statement(stmt, n) ^ knave[i]
    return acc


def mask_to_assignments(mask: int, n_people: int) -> list[tuple[bool, ...]]:
    """Decode the set bits of a solution mask, in increasing assignment order."""
    out = []
    while mask:
        low = mask & -mask
        a = low.bit_length() - 1
        out.append(tuple(bool((a >> i) & 1) for i in range(n_people)))
        mask ^= low
    return out


def assignment_index(assignment) -> int:
    """The integer a (bit i = person i is a knight) of a tuple of bools."""
    return sum(1 << i for i, v in enumerate(assignment) if v)


def solve_kk(statements, n_people: int | None = None) -> list[tuple[bool, ...]]:
    """Every consistent assignment (True = knight / first role), in increasing bit order.

    An empty list means the statements are contradictory; one element means a unique solution.
    """
    n = len(statements) if n_people is None else n_people
    return mask_to_assignments(solution_mask(statements, n), n)


def count_solutions(statements, n_people: int | None = None) -> int:
    """Number of consistent assignments."""
    return solution_mask(statements, n_people).bit_count()
