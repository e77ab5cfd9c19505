"""Random puzzles with exactly one solution, fast and deterministic.

Statements are sampled as the public K&K generator does (a six-sided die per node: assertion,
'not', 'and', 'or', '->', '<=>'; assertions never "I am lying"; depth and width limits; no
repeated parts under one operator), but each statement's truth table is built while it is
sampled, so checking a candidate costs a few int operations instead of 2**n evaluations.

Search: sample one statement per person, re-sampling a person's statement while it would leave no
consistent assignment at all (so there are no paradoxes); then, while more than one assignment
remains, re-sample a random person's statement and keep the change when it leaves at least one and
no more solutions than before. Identical statement sets within one call are skipped.

Everything is drawn from one ``random.Random(seed)``: the same arguments give the same puzzles.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from puzzles.puzzle import KKPuzzle
from puzzles.render import (
    COMMON_NAMES,
    DEFAULT_ROLES,
    ROLE_PAIRS,
    SAYING_TEMPLATES,
    UNCOMMON_NAMES,
    quiz_text,
    solution_text,
    solution_text_format,
    statement_text,
)
from puzzles.solver import check_people, tables
from puzzles.statements import AND, IFF, IMPLIES, LIE, NOT, OR, TRUTH
from puzzles.trace import join_trace, reasoning_tape, trace_parts

MIN_DEPTH = 2
MAX_DEPTH = 6
MAX_RESTARTS = 10_000
MAX_REPEATS = 20_000  # consecutive already-seen puzzles before giving up
MAX_WIDTH = 6
_N_TEMPLATES = len(SAYING_TEMPLATES)


class StatementSampler:
    """Samples (statement, truth-table mask) pairs for n people under depth/width limits."""

    def __init__(self, rng: random.Random, n_people: int, depth: int = 2, width: int = 2):
        check_people(n_people)
        # Depth 1 (bare "X is a knight/knave" claims) can never pin a unique answer: each claim
        # only relates two people, so flipping everyone in a group always gives a second solution.
        if type(depth) is not int or not MIN_DEPTH <= depth <= MAX_DEPTH:
            raise ValueError(f"depth must be an integer from {MIN_DEPTH} to {MAX_DEPTH}, got {depth!r}")
        if type(width) is not int or not 2 <= width <= MAX_WIDTH:
            raise ValueError(f"width must be an integer from 2 to {MAX_WIDTH}, got {width!r}")
        self.rng, self.n, self.depth, self.width = rng, n_people, depth, width
        self.knight, self.knave, self.full = tables(n_people)
        # Assertions as (statement, mask), indexed by 2 * person + (0: knight, 1: knave).
        self._leaves = []
        for p in range(n_people):
            self._leaves.append(((TRUTH, p), self.knight[p]))
            self._leaves.append(((LIE, p), self.knave[p]))

    def leaf(self, speaker: int):
        rand, leaves, bad = self.rng.random, self._leaves, 2 * speaker + 1
        n2 = 2 * self.n
        while True:
            k = int(rand() * n2)
            if k != bad:  # ('lying', speaker): "I am a knave" cannot be said by anyone
                return leaves[k]

    def sample(self, speaker: int, depth: int | None = None):
        """A random statement for `speaker` with its truth table: (stmt, mask)."""
        depth = self.depth if depth is None else depth
        rand = self.rng.random
        dice = int(rand() * 6)
        if depth <= 1 or dice == 0:
            return self.leaf(speaker)
        if dice == 1:
            s, m = self.sample(speaker, depth - 1)
            return (NOT, s), m ^ self.full
        if dice <= 3:
            count = 2 + int(rand() * (self.width - 1))
            parts = self._parts(speaker, depth, count)
            if dice == 2:
                m = self.full
                for _, pm in parts:
                    m &= pm
                return (AND, *(s for s, _ in parts)), m
            m = 0
            for _, pm in parts:
                m |= pm
            return (OR, *(s for s, _ in parts)), m
        (a, ma), (b, mb) = self._parts(speaker, depth, 2)
        if dice == 4:
            return (IMPLIES, a, b), (ma ^ self.full) | mb
        return (IFF, a, b), ma ^ mb ^ self.full

    def _parts(self, speaker, depth, count):
        parts: list = []
        seen: list = []
        while len(parts) < count:
            s, m = self.sample(speaker, depth - 1)
            if s in seen:  # no repeated part under one operator
                continue
            seen.append(s)
            parts.append((s, m))
        return parts


def sample_unique_statements(sampler: StatementSampler, max_repairs: int | None = None):
    """One statement set with exactly one solution: (statements, constraints, solution_mask)."""
    n, knave, rand = sampler.n, sampler.knave, sampler.rng.random
    max_repairs = 40 * n if max_repairs is None else max_repairs
    for _ in range(MAX_RESTARTS):
        stmts: list = [None] * n
        cons = [0] * n
        acc = sampler.full
        for i in range(n):
            for _ in range(100):
                s, m = sampler.sample(i)
                c = m ^ knave[i]
                if acc & c:
                    break
            else:
                break  # stuck: start the whole set again
            stmts[i], cons[i] = s, c
            acc &= c
        else:
            count = acc.bit_count()
            repairs = 0
            while count > 1 and repairs < max_repairs:
                repairs += 1
                j = int(rand() * n)
                others = sampler.full
                for i in range(n):
                    if i != j:
                        others &= cons[i]
                s, m = sampler.sample(j)
                c = m ^ knave[j]
                new = others & c
                new_count = new.bit_count()
                if 1 <= new_count <= count:
                    stmts[j], cons[j], acc, count = s, c, new, new_count
            if count == 1:
                return tuple(stmts), cons, acc
    raise RuntimeError(f"no unique-solution puzzle found in {MAX_RESTARTS} attempts "
                       f"({n} people, depth {sampler.depth}, width {sampler.width})")


def pick_names(rng: random.Random, n_people: int, uncommon: bool = False, pool=None) -> list[str]:
    pool = pool if pool is not None else (UNCOMMON_NAMES if uncommon else COMMON_NAMES)
    if len(pool) < n_people:
        raise ValueError(f"the name pool has {len(pool)} names, fewer than {n_people} people")
    return rng.sample(list(pool), n_people)


def _without_role_words(names: list[str], roles: tuple[str, str], uncommon: bool, pool=None) -> list[str]:
    """`names` with each one that holds a role word ("Theron" holds "hero") replaced by the first name of the
    pool that holds none and is not used yet. Logic-RL's parser counts role words in the answer, so such a
    name made a correct answer unparseable. Draws nothing from the generator's random stream."""
    def clean(name: str) -> bool:
        return not any(role.lower() in name.lower() for role in roles)

    if all(clean(n) for n in names):
        return names
    pool = pool if pool is not None else (UNCOMMON_NAMES if uncommon else COMMON_NAMES)
    spare = (n for n in pool if clean(n) and n not in names)
    try:
        return [n if clean(n) else next(spare) for n in names]
    except StopIteration:
        raise ValueError(f"the name pool has too few names without the role words {roles[0]}/{roles[1]}") from None


def _resolve_roles(rng: random.Random, roles, flip_roles: bool) -> tuple[str, str]:
    if roles == "random":
        pair = ROLE_PAIRS[int(rng.random() * len(ROLE_PAIRS))]
    elif isinstance(roles, (tuple, list)) and len(roles) == 2 and all(isinstance(r, str) and r for r in roles):
        pair = (roles[0], roles[1])
    else:
        raise ValueError(f"roles must be a (truth-teller, liar) pair of words or 'random', got {roles!r}")
    return (pair[1], pair[0]) if flip_roles else pair


def build_puzzle(statements, solution, names, roles=DEFAULT_ROLES, template_ids=None, order=None,
                 index: int = 0, depth=None, width=None, constraints=None) -> KKPuzzle:
    """Render a solved statement set into a `KKPuzzle` (quiz, solution texts and trace)."""
    n = len(statements)
    claims = [statement_text(s, names, roles) for s in statements]
    if template_ids is None:
        template_ids = (0,) * n
    quiz = quiz_text(statements, names, roles, template_ids, order, claims)
    tape = reasoning_tape(statements, n, constraints)
    head, steps, foot = trace_parts(statements, names, roles, claims=claims, tape=tape)
    return KKPuzzle(
        quiz=quiz,
        names=list(names),
        statements=tuple(statements),
        solution=tuple(solution),
        solution_text=solution_text(names, solution, roles),
        solution_text_format=solution_text_format(names, solution, roles),
        trace=join_trace(head, steps, foot),
        n_people=n,
        roles=tuple(roles),
        index=index,
        depth=depth,
        width=width,
        cot_head=head,
        cot_repeat_steps=tuple(steps),
        cot_foot=foot,
        template_ids=tuple(template_ids),
    )


def iter_kk(n_people: int, count: int, seed: int = 0, depth: int = 2, width: int = 2, *,
            roles=DEFAULT_ROLES, flip_roles: bool = False, uncommon_names: bool = False,
            names_pool=None, random_templates: bool = True, start_index: int = 0) -> Iterator[KKPuzzle]:
    """Yield `count` distinct puzzles with exactly one solution each (see `generate_kk`)."""
    if type(count) is not int or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if type(seed) is not int:
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = random.Random(seed)
    sampler = StatementSampler(rng, n_people, depth, width)
    if roles != "random":
        _resolve_roles(rng, roles, flip_roles)  # fail on bad roles before any work (draws nothing)
    seen: set = set()  # membership only: iteration order never matters
    made = 0
    repeats = 0
    while made < count:
        statements, cons, acc = sample_unique_statements(sampler)
        if statements in seen:
            repeats += 1
            if repeats > MAX_REPEATS:  # small settings (2 people) have only so many puzzles
                raise RuntimeError(f"found only {made} distinct puzzles with {n_people} people, depth {depth} "
                                   f"and width {width}; ask for fewer or use more people / a larger depth")
            continue
        repeats = 0
        seen.add(statements)
        a = acc.bit_length() - 1
        solution = tuple(bool((a >> i) & 1) for i in range(n_people))
        names = pick_names(rng, n_people, uncommon_names, names_pool)
        pair = _resolve_roles(rng, roles, flip_roles)
        names = _without_role_words(names, pair, uncommon_names, names_pool)
        template_ids = (tuple(int(rng.random() * _N_TEMPLATES) for _ in range(n_people))
                        if random_templates else None)
        yield build_puzzle(statements, solution, names, pair, template_ids, index=start_index + made,
                           depth=depth, width=width, constraints=cons)
        made += 1


def generate_kk(n_people: int, count: int, seed: int = 0, depth: int = 2, width: int = 2,
                **options) -> list[KKPuzzle]:
    """`count` distinct Knights-and-Knaves puzzles with `n_people` people and one solution each.

    depth: maximum statement depth (1 = bare assertions; the public benchmark uses 2).
    width: maximum number of parts of an 'and'/'or' (2 in the public benchmark).
    options: roles=("knight", "knave") | ("saint", "sinner") | ... | "random" (a pair per puzzle);
        flip_roles=False (truth-tellers get the second word); uncommon_names=False;
        names_pool=None (a custom list of names); random_templates=True; start_index=0.
    The same arguments give the same puzzles; a larger `count` extends a smaller one.
    """
    return list(iter_kk(n_people, count, seed, depth, width, **options))


def check_names(names, n_people: int, roles=DEFAULT_ROLES) -> None:
    """Raise ValueError (one line) unless `names` can tell `n_people` people apart in a gradable answer: at
    least `n_people` names, each one word of letters (Logic-RL's parser reads a name as `[A-Za-z]+`), no two
    equal ignoring case (the answer parsers ignore case), none containing a role word (Logic-RL's parser
    counts role words in the answer). A correct answer with "Mary Ann" or "Knightley" scores -1, not 3."""
    if len(names) < n_people:
        raise ValueError(f"{n_people} people need {n_people} names, got {len(names)}")
    seen = set()
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z]+", name):
            raise ValueError(f"a name must be one word of letters A-Z/a-z, got {name!r}")
        if name.lower() in seen:
            raise ValueError(f"the name {name!r} is given twice (ignoring case)")
        seen.add(name.lower())
        for role in roles:
            if role.lower() in name.lower():
                raise ValueError(f"the name {name!r} contains the role word {role!r}")


def with_names(puzzle: KKPuzzle, names) -> KKPuzzle:
    """The same puzzle (statements, solution, wording templates, roles) told with other names, in order:
    person i gets `names[i]`. Raises ValueError when fewer names than people are given or the names cannot
    be graded (`check_names`)."""
    check_names(names, puzzle.n_people, puzzle.roles)
    return build_puzzle(puzzle.statements, puzzle.solution, list(names[: puzzle.n_people]), puzzle.roles,
                        puzzle.template_ids, index=puzzle.index, depth=puzzle.depth, width=puzzle.width)


def parse_people(spec, check_range: bool = True) -> list[int]:
    """Numbers of people from 3, "3", "3-7" (a range), "3,5" (a list) or [3, 5]; each within
    MIN_PEOPLE..MAX_PEOPLE unless `check_range` is False (a caller with a range of its own checks it, so that
    its message names that range). The one parser of people specs (recipes, `logicrl puzzles`, `kk:N`
    benchmarks). Raises ValueError with a one-line message."""
    from puzzles.solver import MAX_PEOPLE, MIN_PEOPLE

    if isinstance(spec, bool):
        raise ValueError(f"expected people like 3, 3-7 or 3,5, got {spec!r}")  # noqa: TRY004 (one error type for callers)
    if isinstance(spec, int):
        people = [spec]
    elif isinstance(spec, (list, tuple)):
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in spec):
            raise ValueError(f"expected a list of numbers of people, got {spec!r}")
        people = list(spec)
    elif isinstance(spec, str):
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", spec)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ValueError(f"people range {spec!r} is empty (the start is larger than the end)")
            people = list(range(lo, hi + 1))
        elif re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*,?\s*", spec):
            people = [int(v) for v in spec.split(",") if v.strip()]
        else:
            raise ValueError(f"expected people like 3, 3-7 or 3,5, got {spec!r}")
    else:
        raise ValueError(f"expected people like 3, 3-7 or 3,5, got {spec!r}")  # noqa: TRY004 (one error type for callers)
    if not people:
        raise ValueError("no numbers of people given")
    bad = [n for n in people if not MIN_PEOPLE <= n <= MAX_PEOPLE]
    if bad and check_range:
        raise ValueError(f"numbers of people must be within {MIN_PEOPLE}-{MAX_PEOPLE}, got {bad[0]}")
    return people
