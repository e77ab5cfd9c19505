"""Step-by-step reasoning traces: assume, derive, contradiction, backtrack, conclusion.

The search is a depth-first case analysis over people (the order follows who mentions whom, as
the public benchmark's chain of thought does). Trying a role for a person is rejected when some
already-placed person's claim can no longer have the truth value their role requires, whatever
the remaining people are; the tables of `puzzles.solver` make each such check a few int ANDs.
Every sentence of the trace is a true statement about the puzzle, and it ends at the solution.

`reasoning_tape` gives the steps as data (tested against brute force); `trace_parts` words them.
"""

from __future__ import annotations

from puzzles.render import DEFAULT_ROLES, solution_text, statement_text, with_article
from puzzles.solver import compile_statement, tables
from puzzles.statements import mentioned_people

COT_HEAD = ("Let's think step by step, by considering whether each person is lying "
            "and if that leads to contradiction.")
COT_FOOT = "This leads to a feasible solution."

# Step kinds of a tape.
ASSUME = "assume"      # (ASSUME, person, role): first role tried for the person, no contradiction
DERIVE = "derive"      # (DERIVE, person, role): the other role was refuted, so this one is forced
CONFLICT = "conflict"  # (CONFLICT, person, role, witness, witness_role): witness's claim breaks
BACKTRACK = "backtrack"  # (BACKTRACK, exhausted_people, person): go back and reconsider person
SUCCESS = "success"    # (SUCCESS, assignment)


def reasoning_tape(statements, n_people: int | None = None, constraints=None) -> list[tuple]:
    """The case analysis as a list of steps (see the step kinds above).

    `constraints[i]` (optional) is person i's constraint mask from the solver, to avoid recompiling.
    """
    n = len(statements) if n_people is None else n_people
    knight, knave, full = tables(n)
    if constraints is None:
        constraints = [compile_statement(s, n) ^ knave[i] for i, s in enumerate(statements)]
    mentions = [mentioned_people(s) for s in statements]

    consider = list(range(n))
    options = [[False, True] for _ in range(n)]  # pop() tries "knight" first
    refuted = [False] * n  # whether the person's other role was already refuted at this level
    assigned: list = [None] * n
    partial = [full]  # partial[c]: assignments agreeing with the roles of consider[:c]
    tape: list[tuple] = []
    cursor = 0
    while True:
        if cursor == n:
            low = partial[-1] & -partial[-1]
            a = low.bit_length() - 1
            tape.append((SUCCESS, tuple(bool((a >> i) & 1) for i in range(n))))
            return tape
        person = consider[cursor]
        if not options[person]:
            exhausted = []
            while cursor >= 0 and not options[consider[cursor]]:
                q = consider[cursor]
                options[q] = [False, True]
                refuted[q] = False
                exhausted.append(q)
                cursor -= 1
                partial.pop()
            if cursor < 0:
                raise ValueError("the statements have no consistent assignment")
            tape.append((BACKTRACK, tuple(exhausted), consider[cursor]))
            refuted[consider[cursor]] = True
            continue
        role = options[person].pop()
        mask = partial[cursor] & (knight[person] if role else knave[person])
        witness = None
        if not constraints[person] & mask:
            witness = person
        else:
            for q in consider[:cursor]:
                if not constraints[q] & mask:
                    witness = q
                    break
        if witness is not None:
            tape.append((CONFLICT, person, role, witness, role if witness == person else assigned[witness]))
            refuted[person] = True
            continue
        tape.append((DERIVE if refuted[person] else ASSUME, person, role))
        refuted[person] = False
        assigned[person] = role
        partial.append(mask)
        cursor += 1
        # Look next at the people this person talks about (a natural order of reasoning).
        rest = consider[cursor:]
        front = [p for p in mentions[person] if p in rest]
        if front:
            consider = consider[:cursor] + front + [p for p in rest if p not in front]


def _join_names(names) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return ", ".join(names[:-1]) + ", and " + names[-1]


def trace_parts(statements, names, roles=DEFAULT_ROLES, claims=None, constraints=None,
                tape=None) -> tuple[str, list[str], str]:
    """(cot_head, steps, cot_foot) in words; the foot ends with the conclusion.

    `claims[i]` (optional) is person i's statement already rendered by `render.statement_text`.
    """
    if claims is None:
        claims = [statement_text(s, names, roles) for s in statements]
    # Mid-sentence, "If ..." / "It is not the case ..." read lower-case (names keep their capital).
    claims = [c[0].lower() + c[1:] if c.startswith(("If ", "It ")) else c for c in claims]
    if tape is None:
        tape = reasoning_tape(statements, len(statements), constraints)
    a_role = (with_article(roles[1]), with_article(roles[0]))  # indexed by the bool role
    steps = []
    for step in tape:
        kind = step[0]
        if kind == ASSUME or kind == DERIVE:
            _, p, role = step
            lead = "Assume" if kind == ASSUME else "So"
            verb = "is" if kind == ASSUME else "must be"
            steps.append(f"{lead} {names[p]} {verb} {a_role[role]}. No contradiction is found in their "
                         f"{'' if role else 'false '}claim that {claims[p]}.")
        elif kind == CONFLICT:
            _, p, role, q, q_role = step
            if q == p:
                steps.append(f"{names[p]} cannot be {a_role[role]}, because then their own claim that "
                             f"{claims[p]} would be {'false' if role else 'true'}.")
            else:
                steps.append(f"{names[p]} cannot be {a_role[role]}, because then the claim of {names[q]} "
                             f"that {claims[q]} would be {'false' if q_role else 'true'}, which contradicts "
                             f"{names[q]} being {a_role[q_role]}.")
        elif kind == BACKTRACK:
            _, exhausted, p = step
            steps.append(f"We have exhausted all possibilities for {_join_names([names[e] for e in exhausted])}, "
                         f"so let us go back and reconsider {names[p]}.")
        elif kind == SUCCESS:
            conclusion = solution_text(names, step[1], roles)
    return COT_HEAD, steps, f"{COT_FOOT} Therefore, {conclusion}"


def join_trace(head: str, steps, foot: str) -> str:
    return "\n".join([head, *steps, foot])


def make_trace(puzzle) -> str:
    """The reasoning trace of a `KKPuzzle` (or anything with statements, names and roles)."""
    roles = getattr(puzzle, "roles", DEFAULT_ROLES)
    head, steps, foot = trace_parts(puzzle.statements, puzzle.names, roles)
    return join_trace(head, steps, foot)
