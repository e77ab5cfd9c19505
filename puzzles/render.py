"""Natural-language rendering in the public K&K benchmark's style.

Quiz: "A very special island is inhabited only by knights and knaves. Knights always tell the
truth, and knaves always lie. You meet 3 inhabitants: A, B, and C. <one saying per person> So who
is a knight and who is a knave?"; `solution_text` is "A is a knight, B is a knave, and C is a
knight."; `solution_text_format` is "(1) A is a knight\\n(2) B is a knave\\n(3) C is a knight".
"""

from __future__ import annotations

import functools

from puzzles.statements import AND, IFF, IMPLIES, LEAF_OPS, NOT, OR, TRUTH

COMMON_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "William",
    "Mia", "James", "Charlotte", "Benjamin", "Amelia", "Lucas", "Harper", "Henry", "Evelyn",
    "Alexander", "Abigail", "Michael", "Emily", "Daniel", "Elizabeth", "Jacob", "Sofia", "Logan",
    "Avery", "Jackson", "Ella", "Sebastian", "Scarlett", "Jack", "Grace", "Aiden", "Chloe", "Owen",
    "Victoria", "Samuel", "Riley", "Matthew", "Aria", "Joseph", "Lily", "Luke", "Aurora", "David",
    "Zoey", "Oliver", "Penelope",
)
UNCOMMON_NAMES = (
    "Zephyr", "Elowen", "Caspian", "Isolde", "Osiris", "Vesper", "Thaddeus", "Ondine", "Lysander",
    "Xanthe", "Oberon", "Calliope", "Leander", "Eulalia", "Florian", "Forsythe", "Nephele",
    "Peregrine", "Ianthe", "Lazarus", "Elodie", "Cillian", "Ottoline", "Evander", "Saffron", "Caius",
    "Zora", "Cyprian", "Amaryllis", "Theron", "Perdita", "Ignatius", "Balthazar", "Melisande",
    "Zinnia", "Sylvester", "Cosima", "Leocadio", "Percival", "Oceane", "Zenobia", "Eurydice",
    "Quillan", "Aeronwen", "Thorsten", "Xiomara", "Ysolde",
)

# (truth-teller, liar). The plural is the word + "s", so every word here must pluralise that way.
DEFAULT_ROLES = ("knight", "knave")
ROLE_PAIRS = (
    ("knight", "knave"),
    ("pioneer", "laggard"),
    ("saint", "sinner"),
    ("hero", "villain"),
    ("angel", "devil"),
    ("altruist", "egoist"),
    ("sage", "fool"),
)

SAYING_TEMPLATES = (
    "{name} said that {content}.",
    "{name} told you that {content}.",
    '{name} said, "{content}."',
    '{name} stated, "{content}".',
    'According to {name}, "{content}".',
    "In {name}'s words: \"{content}\".",
    '{name} remarked, "{content}".',
    '"{content}," {name} declared.',
    '{name} was heard saying, "{content}".',
    "{name} expressed that {content}.",
    '"{content}" - {name}.',
    'As {name} put it, "{content}".',
    '{name} asserted: "{content}".',
    '"{content}," {name} mentioned.',
    '{name} commented, "{content}".',
    'In a statement by {name}: "{content}".',
    '{name} noted, "{content}".',
    '"{content}," {name} claimed.',
)

QUIZ_PREFIX = ("A very special island is inhabited only by {knight}s and {knave}s. "
               "{Knight}s always tell the truth, and {knave}s always lie. ")
QUIZ_POSTFIX = "So who is {a_knight} and who is {a_knave}?"


@functools.cache
def with_article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def knight_knave_dict(roles=DEFAULT_ROLES) -> dict[str, str]:
    """The public record's `knight_knave` field for a role pair (key order as the benchmark)."""
    knight, knave = roles
    return {"knight": knight, "knave": knave, "a_knight": with_article(knight),
            "a_knave": with_article(knave), "Knight": knight.capitalize(), "Knave": knave.capitalize()}


def roles_from_knight_knave(kk) -> tuple[str, str]:
    """Inverse of `knight_knave_dict` (accepts a dict, or None for the default pair)."""
    if not kk:
        return DEFAULT_ROLES
    if not isinstance(kk, dict) or not isinstance(kk.get("knight"), str) or not isinstance(kk.get("knave"), str):
        raise ValueError("knight_knave must be a mapping with string 'knight' and 'knave' entries")  # noqa: TRY004 (bad data is a ValueError)
    return (kk["knight"], kk["knave"])


def role_phrase(is_knight: bool, roles=DEFAULT_ROLES) -> str:
    return with_article(roles[0] if is_knight else roles[1])


def _assertion(stmt, names, a_roles, negated=False) -> str:
    is_knight = stmt[0] == TRUTH
    return f"{names[stmt[1]]} is {'not ' if negated else ''}{a_roles[0 if is_knight else 1]}"


def _clause(stmt, names, a_roles, top: bool) -> str:
    op = stmt[0]
    if op in LEAF_OPS:
        return _assertion(stmt, names, a_roles)
    if op == NOT and stmt[1][0] in LEAF_OPS:
        return _assertion(stmt[1], names, a_roles, negated=True)
    if op == NOT:
        text = "it is not the case that " + _clause(stmt[1], names, a_roles, False)
    elif op in (AND, OR):
        text = f" {op} ".join(_clause(s, names, a_roles, False) for s in stmt[1:])
    elif op == IMPLIES:
        text = f"if {_clause(stmt[1], names, a_roles, False)} then {_clause(stmt[2], names, a_roles, False)}"
        if top:
            text = "I" + text[1:]
    elif op == IFF:
        text = f"{_clause(stmt[1], names, a_roles, False)} if and only if {_clause(stmt[2], names, a_roles, False)}"
    else:
        raise ValueError(f"unknown statement operator {op!r}")
    # Compound parts inside a compound statement are bracketed so the reading is unambiguous
    # (the public benchmark only renders depth <= 2, where this never happens).
    return text if top else f"({text})"


def statement_text(stmt, names, roles=DEFAULT_ROLES) -> str:
    """One statement in words, e.g. "If Emma is a knight then Liam is a knave"."""
    a_roles = (with_article(roles[0]), with_article(roles[1]))
    text = _clause(stmt, names, a_roles, True)
    return text if stmt[0] != NOT or stmt[1][0] in LEAF_OPS else text[0].upper() + text[1:]


def solution_text(names, solution, roles=DEFAULT_ROLES) -> str:
    """"A is a knight, B is a knave, and C is a knight." (the public `solution_text`)."""
    parts = [f"{name} is {role_phrase(v, roles)}" for name, v in zip(names, solution)]
    return ", ".join(parts[:-1]) + ", and " + parts[-1] + "."


def solution_text_format(names, solution, roles=DEFAULT_ROLES) -> str:
    """"(1) A is a knight\\n(2) B is a knave" (the public `solution_text_format`)."""
    return "\n".join(f"({i + 1}) {name} is {role_phrase(v, roles)}"
                     for i, (name, v) in enumerate(zip(names, solution)))


def quiz_text(statements, names, roles=DEFAULT_ROLES, template_ids=None, order=None, claims=None) -> str:
    """The full quiz. `template_ids[i]` picks person i's saying template (default: the first);
    `order` is the order in which the sayings are told (default: person order); `claims[i]`
    (optional) is statements[i] already rendered by `statement_text`."""
    n = len(statements)
    kk = knight_knave_dict(roles)
    text = QUIZ_PREFIX.format(**kk)
    text += f"You meet {n} inhabitants: " + ", ".join(names[:-1]) + ", and " + names[-1] + "."
    ids = template_ids if template_ids is not None else (0,) * n
    for i in (order if order is not None else range(n)):
        content = claims[i] if claims is not None else statement_text(statements[i], names, roles)
        text += " " + SAYING_TEMPLATES[ids[i]].format(name=names[i], content=content)
    return text + " " + QUIZ_POSTFIX.format(**kk)
