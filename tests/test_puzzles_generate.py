"""Generation: uniqueness, limits, determinism and rendering."""

import re

import pytest
from kk_reference import brute_eval

from puzzles import MAX_PEOPLE, ROLE_PAIRS, generate_kk, save_kk, solve_kk
from puzzles.render import COMMON_NAMES, UNCOMMON_NAMES, statement_text
from puzzles.statements import LEAF_OPS, statement_depth, statement_width


def brute_count(statements):
    n = len(statements)
    count = 0
    for a in range(1 << n):
        world = [bool((a >> i) & 1) for i in range(n)]
        count += all(brute_eval(s, world) == world[i] for i, s in enumerate(statements))
    return count


def leaves(stmt):
    if stmt[0] in LEAF_OPS:
        yield stmt
    else:
        for s in stmt[1:]:
            yield from leaves(s)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8])
def test_every_puzzle_has_exactly_one_solution_checked_by_brute_force(n):
    puzzles = generate_kk(n, 60, seed=n)
    assert len(puzzles) == 60
    for p in puzzles:
        assert p.n_people == n == len(p.statements) == len(p.names) == len(p.solution)
        assert brute_count(p.statements) == 1
        assert solve_kk(p.statements) == [p.solution]


def test_twelve_and_max_people_are_unique():
    for p in generate_kk(12, 10, seed=1):
        assert brute_count(p.statements) == 1
        assert solve_kk(p.statements) == [p.solution]
    p = generate_kk(MAX_PEOPLE, 1, seed=0)[0]
    assert solve_kk(p.statements) == [p.solution]
    assert all(brute_eval(s, p.solution) == p.solution[i] for i, s in enumerate(p.statements))


@pytest.mark.parametrize("depth, width", [(2, 2), (2, 4), (3, 3), (4, 2)])
def test_depth_width_limits_and_no_self_paradox(depth, width):
    puzzles = generate_kk(5, 80, seed=3, depth=depth, width=width)
    seen_depths = set()
    for p in puzzles:
        for i, s in enumerate(p.statements):
            seen_depths.add(statement_depth(s))
            assert statement_depth(s) <= depth
            assert statement_width(s) <= width
            assert ("lying", i) not in list(leaves(s))  # "I am a knave" is never said
    assert max(seen_depths) == depth  # the limit is actually reached
    assert len({p.statements for p in puzzles}) == len(puzzles)  # no repeated puzzle


def test_determinism_and_prefix_stability(tmp_path):
    a = generate_kk(5, 50, seed=42, roles="random")
    b = generate_kk(5, 50, seed=42, roles="random")
    assert [p.to_record() for p in a] == [p.to_record() for p in b]
    assert [p.to_record() for p in generate_kk(5, 20, seed=42, roles="random")] == [p.to_record() for p in a[:20]]
    assert [p.statements for p in generate_kk(5, 50, seed=43)] != [p.statements for p in a]
    for ext in ("jsonl", "parquet"):
        save_kk(a, tmp_path / f"a.{ext}")
        save_kk(b, tmp_path / f"b.{ext}")
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


def test_rendering_in_benchmark_style():
    p = generate_kk(3, 1, seed=0)[0]
    assert p.quiz.startswith("A very special island is inhabited only by knights and knaves. "
                             "Knights always tell the truth, and knaves always lie. You meet 3 inhabitants: ")
    assert p.quiz.endswith("So who is a knight and who is a knave?")
    assert set(p.names) <= set(COMMON_NAMES) and len(set(p.names)) == 3
    for i, name in enumerate(p.names):
        assert statement_text(p.statements[i], p.names) in p.quiz
    lines = p.solution_text_format.split("\n")
    assert len(lines) == 3
    for i, (line, name, v) in enumerate(zip(lines, p.names, p.solution)):
        assert line == f"({i + 1}) {name} is {'a knight' if v else 'a knave'}"
    assert p.solution_text.endswith(".") and ", and " in p.solution_text
    assert p.to_record()["knight_knave"] == {"knight": "knight", "knave": "knave", "a_knight": "a knight",
                                             "a_knave": "a knave", "Knight": "Knight", "Knave": "Knave"}


def test_statement_text_examples():
    names = ["Zoey", "Oliver", "Emma"]
    assert statement_text(("->", ("telling-truth", 0), ("lying", 1)), names) == \
        "If Zoey is a knight then Oliver is a knave"
    assert statement_text(("<=>", ("lying", 1), ("telling-truth", 0)), names) == \
        "Oliver is a knave if and only if Zoey is a knight"
    assert statement_text(("not", ("lying", 2)), names) == "Emma is not a knave"
    assert statement_text(("and", ("lying", 2), ("telling-truth", 0), ("lying", 1)), names) == \
        "Emma is a knave and Zoey is a knight and Oliver is a knave"
    # Deeper statements are bracketed so that the reading is unambiguous.
    assert statement_text(("or", ("and", ("lying", 0), ("lying", 1)), ("not", ("->", ("lying", 2), ("lying", 0)))),
                          names, ("saint", "sinner")) == \
        "(Zoey is a sinner and Oliver is a sinner) or (it is not the case that (if Emma is a sinner then Zoey is a sinner))"


def test_role_pairs_names_and_options():
    puzzles = generate_kk(4, 40, seed=5, roles="random")
    used = {p.roles for p in puzzles}
    assert len(used) > 2 and used <= set(ROLE_PAIRS)
    for p in puzzles:
        knight, knave = p.roles
        assert f"{knight}s always tell the truth" in p.quiz.lower()
        assert all(re.fullmatch(rf"\(\d\) \w+ is an? ({knight}|{knave})", line) for line in p.solution_text_format.split("\n"))
    flipped = generate_kk(4, 5, seed=5, flip_roles=True)
    assert all(p.roles == ("knave", "knight") for p in flipped)
    assert all("Knaves always tell the truth" in p.quiz for p in flipped)
    uncommon = generate_kk(4, 5, seed=5, uncommon_names=True)
    assert all(set(p.names) <= set(UNCOMMON_NAMES) for p in uncommon)
    custom = generate_kk(3, 5, seed=5, roles=("saint", "sinner"))
    assert all("(1) " in p.solution_text_format and ("saint" in p.solution_text or "sinner" in p.solution_text)
               for p in custom)


@pytest.mark.parametrize("kwargs, msg", [
    ({"n_people": 1, "count": 1}, "number of people"),
    ({"n_people": MAX_PEOPLE + 1, "count": 1}, "number of people"),
    ({"n_people": 3, "count": -1}, "count"),
    ({"n_people": 3, "count": 1, "depth": 1}, "depth"),  # bare claims never give a unique answer
    ({"n_people": 3, "count": 1, "width": 1}, "width"),
    ({"n_people": 3, "count": 1, "roles": "nope"}, "roles"),
    ({"n_people": 3, "count": 1, "seed": "x"}, "seed"),
])
def test_bad_arguments_raise_value_error(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        generate_kk(**kwargs)


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, puzzles; puzzles.generate_kk(3, 2); "
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'logicrl') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_same_bytes_across_processes_with_different_hash_seeds(tmp_path):
    import os
    import subprocess
    import sys

    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}.parquet"
        code = f"import puzzles; puzzles.save_kk(puzzles.generate_kk(6, 40, seed=3, roles='random'), {str(out)!r})"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_asking_for_more_distinct_puzzles_than_exist_fails_cleanly():
    with pytest.raises(RuntimeError, match="found only \\d+ distinct puzzles with 2 people"):
        generate_kk(2, 100_000, seed=0)


@pytest.mark.parametrize("names, msg", [
    (["Mary Ann", "Bob", "Carl"], "one word of letters"),   # the graders read a name as one word
    (["Alice", "alice", "Bob"], "twice"),                   # two people the answer cannot tell apart
    (["", "Bob", "Carl"], "one word of letters"),
    (["Knightley", "Bob", "Carl"], "role word"),            # Logic-RL's parser counts role words
    (["Al", "Bo"], "need 3 names"),
])
def test_with_names_refuses_names_the_graders_cannot_read(names, msg):
    """A correct answer told with such names scores as wrong or unparseable (measured: -1 instead of 3), so the
    puzzle is refused instead of silently training on unreadable answers."""
    import rewards
    from puzzles import with_names

    p = generate_kk(3, 1, seed=0)[0]
    with pytest.raises(ValueError, match=msg):
        with_names(p, names)
    good = with_names(p, ["Al", "Bo", "Cy"])
    completion = f"<think>{'we check every case of the claims in turn here ' * 3}</think><answer>{good.solution_text_format}</answer>"
    for preset in ("logic_rl", "partial"):
        assert rewards.get("kk", preset=preset)([good.quiz], [completion], solution_text_format=[good.solution_text_format],
                                                roles=[list(good.roles)]) == [3.0]


def test_generated_names_never_hold_the_puzzles_role_words():
    """The uncommon pool has "Theron", which holds "hero": with hero/villain roles a correct answer scored -1
    under Logic-RL's scorer (it counts role words). Such a name is swapped for a clean one from the pool; the
    other puzzles of the set stay exactly as they were."""
    import rewards

    made = generate_kk(4, 200, seed=1, roles=("hero", "villain"), uncommon_names=True)
    knights = generate_kk(4, 200, seed=1, uncommon_names=True)  # the same draws: only the role words differ
    assert [p.statements for p in made] == [p.statements for p in knights]
    swapped = 0
    for hero, knight in zip(made, knights):
        swapped += "Theron" in knight.names
        assert [h for h, k in zip(hero.names, knight.names) if k != "Theron"] == \
            [k for k in knight.names if k != "Theron"]  # only the name holding "hero" is replaced
    assert swapped > 0
    assert all("hero" not in n.lower() and "villain" not in n.lower() for p in made for n in p.names)
    assert all(len(set(p.names)) == p.n_people for p in made)
    kk = rewards.get("kk", preset="logic_rl")
    reasoning = "we check every case of the claims in turn here " * 3
    for p in made:
        completion = f"<think>{reasoning}</think><answer>{p.solution_text_format}</answer>"
        assert kk([p.quiz], [completion], solution_text_format=[p.solution_text_format], roles=[list(p.roles)]) == [3.0]
