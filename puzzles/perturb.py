"""Perturbations for memorisation studies (as in "On Memorization of LLMs in Logical Reasoning").

Math-level (the answer must change, and stay unique):
    statement  re-sample one person's whole statement
    leaf       replace one assertion ("X is a knight/knave") inside one statement
Wording-level (the answer is kept; only the text changes):
    random_pair        another role pair (saint/sinner, pioneer/laggard, ...)
    flip_role          swap the role words (truth-tellers are called knaves)
    uncommon_name      names from the uncommon-name pool
    reorder_statement  tell the sayings in another order

`perturb(puzzle, kind, seed)` returns a new `KKPuzzle`, or None when a math-level perturbation
finds no valid variant within `max_retry` tries (can happen with 2-3 people).
New kinds plug in with the `@register_perturbation(name)` decorator.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from puzzles.generate import StatementSampler, build_puzzle, pick_names
from puzzles.puzzle import KKPuzzle
from puzzles.render import ROLE_PAIRS, SAYING_TEMPLATES, statement_text
from puzzles.solver import compile_statement, tables
from puzzles.statements import LEAF_OPS, statement_depth, statement_width

PERTURBATIONS: dict[str, Callable] = {}
MATH_KINDS = ("statement", "leaf")
WORDING_KINDS = ("random_pair", "flip_role", "uncommon_name", "reorder_statement")


def register_perturbation(name: str):
    """Register `fn(puzzle, rng, max_retry) -> KKPuzzle | None` under `name`."""

    def deco(fn):
        PERTURBATIONS[name] = fn
        return fn

    return deco


def perturb(puzzle: KKPuzzle, kind: str, seed: int = 0, max_retry: int = 1000) -> KKPuzzle | None:
    """Apply the perturbation `kind` (see the module doc) with a seeded random generator."""
    if kind not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[kind](puzzle, random.Random(seed), max_retry)


def recover_wording(puzzle: KKPuzzle) -> tuple[tuple[int, ...], list[int]] | None:
    """(template_ids, order) of a quiz read from a file, found by matching each rendered saying in
    the text; None when some saying is not found (e.g. another generator's wording)."""
    claims = [statement_text(s, puzzle.names, puzzle.roles) for s in puzzle.statements]
    ids, positions = [], []
    for i, claim in enumerate(claims):
        for t, template in enumerate(SAYING_TEMPLATES):
            at = puzzle.quiz.find(" " + template.format(name=puzzle.names[i], content=claim))
            if at >= 0:
                ids.append(t)
                positions.append(at)
                break
        else:
            return None
    return tuple(ids), sorted(range(len(claims)), key=positions.__getitem__)


def _rebuild(puzzle: KKPuzzle, rng: random.Random, statements=None, solution=None, names=None,
             roles=None, order=None) -> KKPuzzle:
    n = puzzle.n_people
    template_ids = puzzle.template_ids
    if template_ids is None:  # read from a file: recover the wording from the quiz, else draw one
        found = recover_wording(puzzle)
        if found is not None:
            template_ids = found[0]
            if order is None and found[1] != list(range(n)):
                order = found[1]
        else:
            template_ids = tuple(rng.randrange(len(SAYING_TEMPLATES)) for _ in range(n))
    return build_puzzle(
        statements if statements is not None else puzzle.statements,
        solution if solution is not None else puzzle.solution,
        names if names is not None else puzzle.names,
        roles if roles is not None else puzzle.roles,
        template_ids, order, index=puzzle.index, depth=puzzle.depth, width=puzzle.width)


def _sampler(puzzle: KKPuzzle, rng: random.Random) -> StatementSampler:
    depth = puzzle.depth or max(statement_depth(s) for s in puzzle.statements)
    width = puzzle.width or max(2, max(statement_width(s) for s in puzzle.statements))
    return StatementSampler(rng, puzzle.n_people, depth, width)


def _unique_new_solution(puzzle: KKPuzzle, statements, masks) -> tuple[bool, ...] | None:
    n = puzzle.n_people
    _, knave, full = tables(n)
    acc = full
    for i, m in enumerate(masks):
        acc &= m ^ knave[i]
    if acc.bit_count() != 1:
        return None
    a = acc.bit_length() - 1
    solution = tuple(bool((a >> i) & 1) for i in range(n))
    return None if solution == tuple(puzzle.solution) else solution


def _math_perturb(puzzle: KKPuzzle, rng: random.Random, max_retry: int, resample) -> KKPuzzle | None:
    n = puzzle.n_people
    sampler = _sampler(puzzle, rng)
    masks = [compile_statement(s, n) for s in puzzle.statements]
    for _ in range(max_retry):
        person = rng.randrange(n)
        new_stmt = resample(sampler, person, puzzle.statements[person])
        if new_stmt == puzzle.statements[person]:
            continue
        statements = puzzle.statements[:person] + (new_stmt,) + puzzle.statements[person + 1:]
        new_masks = masks[:person] + [compile_statement(new_stmt, n)] + masks[person + 1:]
        solution = _unique_new_solution(puzzle, statements, new_masks)
        if solution is not None:
            return _rebuild(puzzle, rng, statements=statements, solution=solution)
    return None


@register_perturbation("statement")
def perturb_statement(puzzle: KKPuzzle, rng: random.Random, max_retry: int = 1000) -> KKPuzzle | None:
    """Replace one person's statement by a fresh random one; the unique solution must change."""
    return _math_perturb(puzzle, rng, max_retry, lambda sampler, person, old: sampler.sample(person)[0])


def _replace_random_leaf(stmt, rng: random.Random, new_leaf):
    if stmt[0] in LEAF_OPS:
        return new_leaf()
    k = rng.randrange(1, len(stmt))
    return stmt[:k] + (_replace_random_leaf(stmt[k], rng, new_leaf),) + stmt[k + 1:]


@register_perturbation("leaf")
def perturb_leaf(puzzle: KKPuzzle, rng: random.Random, max_retry: int = 1000) -> KKPuzzle | None:
    """Replace one assertion inside one statement; the unique solution must change."""

    def resample(sampler, person, old):
        new = _replace_random_leaf(old, rng, lambda: sampler.leaf(person)[0])
        # Keep the "no repeated part under one operator" rule of the generator.
        return old if _has_repeated_parts(new) else new

    return _math_perturb(puzzle, rng, max_retry, resample)


def _has_repeated_parts(stmt) -> bool:
    if stmt[0] in LEAF_OPS:
        return False
    parts = stmt[1:]
    if len(set(parts)) < len(parts):
        return True
    return any(_has_repeated_parts(p) for p in parts)


@register_perturbation("random_pair")
def perturb_role_pair(puzzle: KKPuzzle, rng: random.Random, max_retry: int = 1000) -> KKPuzzle:
    """Re-word with another (truth-teller, liar) pair; the solution is unchanged."""
    choices = [p for p in ROLE_PAIRS if p != tuple(puzzle.roles)]
    return _rebuild(puzzle, rng, roles=choices[rng.randrange(len(choices))])


@register_perturbation("flip_role")
def perturb_flip_role(puzzle: KKPuzzle, rng: random.Random, max_retry: int = 1000) -> KKPuzzle:
    """Swap the role words: truth-tellers are now called by the liar word (solution unchanged)."""
    return _rebuild(puzzle, rng, roles=(puzzle.roles[1], puzzle.roles[0]))


@register_perturbation("uncommon_name")
def perturb_uncommon_names(puzzle: KKPuzzle, rng: random.Random, max_retry: int = 1000) -> KKPuzzle:
    """Rename everyone from the uncommon-name pool (solution unchanged)."""
    return _rebuild(puzzle, rng, names=pick_names(rng, puzzle.n_people, uncommon=True))


@register_perturbation("reorder_statement")
def perturb_reorder(puzzle: KKPuzzle, rng: random.Random, max_retry: int = 1000) -> KKPuzzle:
    """Tell the sayings in a different order (solution and statements unchanged)."""
    order = list(range(puzzle.n_people))
    while order == sorted(order):
        rng.shuffle(order)
    return _rebuild(puzzle, rng, order=order)
