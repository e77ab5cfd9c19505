"""The bit-parallel solver against an independent brute-force evaluator."""

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kk_reference import brute_eval

from puzzles import MAX_PEOPLE, count_solutions, solve_kk
from puzzles.solver import compile_statement, tables
from puzzles.statements import parse_statements, validate_statements


def brute_solutions(statements):
    n = len(statements)
    out = []
    # Ordered as the solver's bit order: assignment a has person i a knight iff bit i of a is set.
    for a in range(1 << n):
        world = [bool((a >> i) & 1) for i in range(n)]
        if all(brute_eval(s, world) == world[i] for i, s in enumerate(statements)):
            out.append(tuple(world))
    return out


def statement_strategy(n):
    leaf = st.tuples(st.sampled_from(["telling-truth", "lying"]), st.integers(0, n - 1))

    def extend(children):
        return st.one_of(
            st.tuples(st.just("not"), children),
            st.lists(children, min_size=2, max_size=4).map(lambda xs: ("and", *xs)),
            st.lists(children, min_size=2, max_size=4).map(lambda xs: ("or", *xs)),
            st.tuples(st.just("->"), children, children),
            st.tuples(st.just("<=>"), children, children),
        )

    return st.recursive(leaf, extend, max_leaves=10)


@st.composite
def statement_and_n(draw):
    n = draw(st.integers(2, 6))
    return n, draw(statement_strategy(n))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statement_and_n())
def test_compiled_truth_table_matches_brute_force(case):
    n, stmt = case
    mask = compile_statement(stmt, n)
    for a in range(1 << n):
        world = [bool((a >> i) & 1) for i in range(n)]
        assert bool((mask >> a) & 1) == brute_eval(stmt, world), (stmt, world)


@st.composite
def puzzle_statements(draw):
    n = draw(st.integers(2, 6))
    return tuple(draw(statement_strategy(n)) for _ in range(n))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(puzzle_statements())
def test_solve_kk_matches_brute_force(statements):
    expected = brute_solutions(statements)
    assert solve_kk(statements) == expected
    assert count_solutions(statements) == len(expected)


def _random_statement(rng, n, depth):
    if depth <= 1 or rng.random() < 0.3:
        return (rng.choice(["telling-truth", "lying"]), rng.randrange(n))
    op = rng.choice(["not", "and", "or", "->", "<=>"])
    if op == "not":
        return ("not", _random_statement(rng, n, depth - 1))
    k = rng.randint(2, 3) if op in ("and", "or") else 2
    return (op, *(_random_statement(rng, n, depth - 1) for _ in range(k)))


def test_thousands_of_random_statement_sets_up_to_eight_people():
    # 4,000 puzzles = about 20,000 random statements, each set solved both ways.
    rng = random.Random(7)
    for _ in range(4000):
        n = rng.randint(2, 8)
        statements = tuple(_random_statement(rng, n, rng.randint(1, 4)) for _ in range(n))
        assert solve_kk(statements) == brute_solutions(statements), statements


def test_thousands_of_random_truth_tables():
    rng = random.Random(11)
    for _ in range(3000):
        n = rng.randint(2, 7)
        stmt = _random_statement(rng, n, rng.randint(1, 5))
        mask = compile_statement(stmt, n)
        for a in range(1 << n):
            assert bool((mask >> a) & 1) == brute_eval(stmt, [bool((a >> i) & 1) for i in range(n)]), stmt


def test_known_public_example():
    # From the public K&K generator's own unit test.
    statements = (("lying", 1), ("and", ("telling-truth", 0), ("telling-truth", 1)))
    assert solve_kk(statements) == [(True, False)]


def test_paradox_has_no_solution_and_self_claim_gives_two():
    assert solve_kk((("lying", 0), ("telling-truth", 1))) == []
    # "I am a knight" is consistent either way; the second person's claim then decides themselves.
    assert solve_kk((("telling-truth", 0), ("lying", 0))) == [(True, False), (False, True)]


def test_knight_masks_are_the_bit_patterns():
    for n in (2, 5, 9):
        knight, knave, full = tables(n)
        for i in range(n):
            for a in range(1 << n):
                assert bool((knight[i] >> a) & 1) == bool((a >> i) & 1)
            assert knight[i] ^ knave[i] == full


def test_more_than_max_people_or_fewer_than_two_is_refused():
    with pytest.raises(ValueError, match="number of people"):
        solve_kk(tuple(("telling-truth", 0) for _ in range(MAX_PEOPLE + 1)))
    with pytest.raises(ValueError, match="number of people"):
        solve_kk((("telling-truth", 0),))


@pytest.mark.parametrize("bad, msg", [
    ((("telling-truth", 5), ("lying", 0)), "out of range"),
    ((("maybe", 0), ("lying", 0)), "unknown statement operator"),
    ((("and", ("lying", 0)), ("lying", 0)), "at least two"),
    ((("->", ("lying", 0), ("lying", 1), ("lying", 1)), ("lying", 0)), "takes two"),
    ((("telling-truth", True), ("lying", 0)), "one person index"),
    ((("telling-truth", 0),), "expected"),
])
def test_validation_rejects_malformed_statements(bad, msg):
    n = 2
    with pytest.raises(ValueError, match=msg):
        validate_statements(bad, n)


def test_parse_statements_uses_literals_only():
    text = "(('lying', 1), ('and', ('telling-truth', 0), ('telling-truth', 1)))"
    assert parse_statements(text) == (("lying", 1), ("and", ("telling-truth", 0), ("telling-truth", 1)))
    # JSON-style lists are accepted and turned into tuples.
    assert parse_statements([["lying", 1], ["telling-truth", 0]]) == (("lying", 1), ("telling-truth", 0))
    for hostile in ["__import__('os').system('true')", "(('lying', 1),) + ()", "[1] * 10**9", "x" * 300_000]:
        with pytest.raises(ValueError):
            parse_statements(hostile)


def test_itertools_and_bit_order_agree():
    statements = (("or", ("lying", 1), ("telling-truth", 2)), ("telling-truth", 0), ("<=>", ("lying", 0), ("lying", 1)))
    expected = [w for w in itertools.product([False, True], repeat=3)
                if all(brute_eval(s, w) == w[i] for i, s in enumerate(statements))]
    assert sorted(solve_kk(statements)) == sorted(expected)
