"""Perturbations: math-level ones change the unique answer, wording-level ones keep it."""

import pytest

from puzzles import PERTURBATIONS, generate_kk, load_kk, perturb, save_kk, solve_kk
from puzzles.render import ROLE_PAIRS, UNCOMMON_NAMES, statement_text
from puzzles.statements import LEAF_OPS


def shape(stmt):
    """The statement with every assertion blanked out (what a leaf perturbation must keep)."""
    return "leaf" if stmt[0] in LEAF_OPS else (stmt[0], *(shape(s) for s in stmt[1:]))


def leaf_list(stmt):
    return [stmt] if stmt[0] in LEAF_OPS else [x for s in stmt[1:] for x in leaf_list(s)]


@pytest.mark.parametrize("kind", ["statement", "leaf"])
def test_math_perturbations_change_the_unique_solution(kind):
    made = 0
    for p in generate_kk(5, 30, seed=4):
        q = perturb(p, kind, seed=p.index)
        if q is None:
            continue
        made += 1
        assert solve_kk(q.statements) == [q.solution]
        assert q.solution != p.solution
        changed = [i for i in range(5) if q.statements[i] != p.statements[i]]
        assert len(changed) == 1
        if kind == "leaf":
            i = changed[0]
            assert shape(q.statements[i]) == shape(p.statements[i])
            diffs = [a != b for a, b in zip(leaf_list(q.statements[i]), leaf_list(p.statements[i]))]
            assert sum(diffs) == 1
        # Same people and wording; the answer text follows the new solution.
        assert q.names == p.names and q.roles == p.roles and q.index == p.index
        assert statement_text(q.statements[changed[0]], q.names) in q.quiz
        assert q.trace.endswith(q.solution_text)
    assert made >= 25  # with 5 people nearly every puzzle has such a variant


def test_math_perturbation_is_deterministic_and_works_on_loaded_puzzles(tmp_path):
    p = generate_kk(4, 1, seed=9)[0]
    assert perturb(p, "statement", seed=3) == perturb(p, "statement", seed=3)
    (loaded,) = load_kk(save_kk([p], tmp_path / "one.jsonl"))
    assert loaded.template_ids is None  # not part of the record
    # Wording-level changes of a loaded puzzle keep the rest of its text: the sayings are recovered.
    assert perturb(loaded, "flip_role", seed=1).quiz == perturb(p, "flip_role", seed=1).quiz
    q = perturb(loaded, "statement", seed=1)
    assert q is not None and solve_kk(q.statements) == [q.solution] and q.solution != p.solution
    assert q == perturb(p, "statement", seed=1)


def test_wording_perturbations_keep_the_solution():
    for p in generate_kk(4, 10, seed=6):
        pair = perturb(p, "random_pair", seed=1)
        assert pair.roles != p.roles and pair.roles in ROLE_PAIRS
        assert f"{pair.roles[0].capitalize()}s always tell the truth" in pair.quiz
        flip = perturb(p, "flip_role", seed=1)
        assert flip.roles == ("knave", "knight")
        assert "Knaves always tell the truth" in flip.quiz
        # Truth-tellers are now called knaves in the answer.
        first = "a knave" if p.solution[0] else "a knight"
        assert flip.solution_text_format.split("\n")[0] == f"(1) {p.names[0]} is {first}"
        names = perturb(p, "uncommon_name", seed=1)
        assert set(names.names) <= set(UNCOMMON_NAMES)
        order = perturb(p, "reorder_statement", seed=1)
        assert order.quiz != p.quiz and sorted(order.quiz) == sorted(p.quiz)  # same sayings, other order
        for q in (pair, flip, names, order):
            assert q.statements == p.statements and q.solution == p.solution
            assert solve_kk(q.statements) == [q.solution]


def test_unknown_kind_and_registry():
    assert set(PERTURBATIONS) >= {"statement", "leaf", "random_pair", "flip_role", "uncommon_name",
                                  "reorder_statement"}
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb(generate_kk(3, 1)[0], "shout")
