"""Reasoning traces: every step is checked against brute force, and the trace ends at the answer."""

import itertools
import re

import pytest
from kk_reference import brute_eval

from puzzles import generate_kk, make_trace
from puzzles.trace import ASSUME, BACKTRACK, CONFLICT, DERIVE, SUCCESS, reasoning_tape


def completions(partial, n):
    free = [i for i in range(n) if i not in partial]
    for values in itertools.product([False, True], repeat=len(free)):
        world = [None] * n
        for i, v in partial.items():
            world[i] = v
        for i, v in zip(free, values):
            world[i] = v
        yield world


def claim_can_hold(statements, person, partial):
    """Some completion of `partial` gives `person`'s claim the truth value their role needs."""
    n = len(statements)
    return any(brute_eval(statements[person], w) == w[person] for w in completions(partial, n))


def check_tape(statements, solution):
    tape = reasoning_tape(statements)
    stack = []  # [(person, role)] placed so far, in order
    refuted_here = {}
    for step in tape:
        kind = step[0]
        if kind in (ASSUME, DERIVE):
            _, p, role = step
            partial = dict(stack)
            partial[p] = role
            for q in partial:  # no placed person's claim is contradicted yet
                assert claim_can_hold(statements, q, partial), (step, q)
            if kind == DERIVE:
                assert refuted_here.get(p) == (not role), step  # the other role was just refuted
            else:
                assert role is True and p not in refuted_here
            refuted_here.pop(p, None)
            stack.append((p, role))
        elif kind == CONFLICT:
            _, p, role, witness, witness_role = step
            partial = dict(stack)
            partial[p] = role
            assert partial[witness] == witness_role
            assert not claim_can_hold(statements, witness, partial), step
            refuted_here[p] = role
        elif kind == BACKTRACK:
            _, exhausted, p = step
            # Unwind to p: everything placed after p is dropped and p's current role is refuted.
            while stack[-1][0] != p:
                stack.pop()
            _, role = stack.pop()
            for e in exhausted:
                refuted_here.pop(e, None)
            refuted_here[p] = role
        else:
            assert kind == SUCCESS
            assert step[1] == solution
            assert dict(stack) == dict(enumerate(solution))
    assert tape[-1][0] == SUCCESS
    return tape


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_every_step_is_true_by_brute_force(n):
    kinds = set()
    for p in generate_kk(n, 40, seed=10 + n):
        kinds.update(step[0] for step in check_tape(p.statements, p.solution))
    if n >= 3:
        assert {ASSUME, CONFLICT, DERIVE, SUCCESS} <= kinds


def test_trace_text_structure_and_conclusion():
    for p in generate_kk(5, 30, seed=2, roles="random"):
        lines = p.trace.split("\n")
        assert lines[0] == p.cot_head
        assert lines[1:-1] == list(p.cot_repeat_steps)
        assert lines[-1] == p.cot_foot
        assert p.trace.endswith("Therefore, " + p.solution_text)
        assert make_trace(p) == p.trace
        knight, knave = p.roles
        for step in p.cot_repeat_steps:
            assert step.startswith(("Assume ", "So ", "We have exhausted")) or " cannot be " in step
        for role_word in re.findall(r"(?:cannot be|must be|is) an? (\w+)", " ".join(p.cot_repeat_steps)):
            assert role_word in (knight, knave)


def test_trace_wording_of_a_known_puzzle():
    # Emma: "Liam is a knave"; Liam: "Emma is a knight and Liam is a knight" -> Emma knight, Liam knave.
    from puzzles.generate import build_puzzle

    statements = (("lying", 1), ("and", ("telling-truth", 0), ("telling-truth", 1)))
    p = build_puzzle(statements, (True, False), ["Emma", "Liam"])
    assert p.cot_repeat_steps == (
        "Assume Emma is a knight. No contradiction is found in their claim that Liam is a knave.",
        ("Liam cannot be a knight, because then the claim of Emma that Liam is a knave would be false, "
         "which contradicts Emma being a knight."),
        ("So Liam must be a knave. No contradiction is found in their false claim that "
         "Emma is a knight and Liam is a knight."),
    )
    assert p.trace.endswith("This leads to a feasible solution. Therefore, Emma is a knight, and Liam is a knave.")
