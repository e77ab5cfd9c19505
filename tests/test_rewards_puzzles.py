"""The K&K reward on puzzles from the `puzzles` package (its records, prompts and perturbed role pairs)."""

import pytest

import rewards

puzzles = pytest.importorskip("puzzles")

REASONING = "Suppose the first person tells the truth; following each statement in turn gives no contradiction."


def _puzzles():
    out = []
    for n in (2, 3, 5, 7):
        for p in puzzles.generate_kk(n, 2, seed=n):
            out.append(p)
            for kind in ("random_pair", "flip_role", "uncommon_name"):
                q = puzzles.perturb(p, kind, seed=n)
                if q is not None:
                    out.append(q)
    return out


PUZZLES = _puzzles()


def test_correct_answers_score_full_marks_with_the_puzzles_prompts():
    partial = rewards.get("kk", preset="partial")
    logic_rl = rewards.get("kk", preset="logic_rl")
    for p in PUZZLES:
        record = p.to_record()
        prompt = puzzles.make_prompt(p, style="base")  # "... Assistant: <think>"
        for answer in (p.solution_text_format, p.solution_text):
            completion = f"{REASONING}</think>\n<answer>{answer}</answer>"
            kw = {"solution_text_format": [record["solution_text_format"]], "knight_knave": [record["knight_knave"]]}
            assert partial([prompt], [completion], **kw) == [3.0], (p.roles, answer)
            if p.roles == ("knight", "knave") and answer is p.solution_text_format:
                assert logic_rl([prompt], [completion], **kw) == [3.0]


def test_flipping_one_person_costs_credit():
    partial = rewards.get("kk", preset="partial")
    for p in PUZZLES:
        knight, knave = p.roles
        lines = p.solution_text_format.split("\n")
        first = lines[0]
        lines[0] = first.replace(f" {knight}", f" {knave}") if f"a {knight}" in first or f"an {knight}" in first \
            else first.replace(f" {knave}", f" {knight}")
        completion = f"<think>{REASONING}</think><answer>{chr(10).join(lines)}</answer>"
        got = partial(None, [completion], solution_text_format=[p.solution_text_format], roles=[list(p.roles)])[0]
        expected = -1.5 + 3.5 * (p.n_people - 1) / p.n_people
        assert got == pytest.approx(1.0 + expected), (p.roles, lines[0])
