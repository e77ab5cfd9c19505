"""Knights-and-Knaves reward: strict answer parser, presets, role pairs, columns."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards
from rewards.kk import parse_answer, parse_ground_truth

NAMES = ("Zoey", "Oliver", "Ethan")
TRUTH = {"Zoey": "knight", "Oliver": "knave", "Ethan": "knight"}
GT = "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight"
THINK = "Zoey accuses Oliver; if Zoey were lying Ethan's statement would contradict itself, so she is truthful."


def wrap(answer, think=THINK):
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


@pytest.mark.parametrize(
    "answer",
    [
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight",
        "zoey is a KNIGHT; OLIVER is a Knave; ethan is a knight.",
        "Zoey is a knight, Oliver is a knave, and Ethan is a knight.",
        "Zoey and Ethan are knights, while Oliver is a knave.",
        "Knights: Zoey, Ethan\nKnaves: Oliver",
        "Zoey: knight\nOliver: knave\nEthan: knight",
        "The answer: Zoey is a knight. Oliver is not a knight. Oliver is a knave. Ethan is a knight.",
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight\n(1) Zoey is a knight",
        "Zoey is not a knave. Oliver is a knave. Ethan is a knight.",  # not a knave = a knight (two roles)
    ],
)
def test_strict_parser_reads_lines_and_sentences(answer):
    assert parse_answer(answer, NAMES) == TRUTH


@pytest.mark.parametrize(
    "answer",
    [
        "(1) Zoey is a knight\n(2) Oliver is a knave",  # missing person
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight\n(4) Bob is a knave",  # extra name
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight\nBob: knave",  # extra name
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight\nZoey is a knave",  # two roles
        "Zoey is a knight or a knave. Oliver is a knave. Ethan is a knight.",  # hedged
        "Knights: Zoey, Oliver, Ethan. Knaves: Zoey, Oliver, Ethan.",
        "",
        "x" * 5000,
    ],
)
def test_strict_parser_rejects(answer):
    assert parse_answer(answer, NAMES) is None


def test_ground_truth_and_role_pair_inference():
    assert parse_ground_truth(GT) == (TRUTH, ("knight", "knave"))
    assert parse_ground_truth("(1) Ann is an angel\n(2) Bo is an angel")[1] == ("angel", "devil")
    assert parse_ground_truth("(1) Ann is a pirate\n(2) Bo is a ninja")[1] == ("pirate", "ninja")
    assert parse_ground_truth("(1) Ann is a saint", ("Saint", "Sinner"))[1] == ("saint", "sinner")


def test_partial_preset_gives_credit_by_fraction():
    reward = rewards.get("kk", preset="partial")
    answers = [
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight",
        "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knave",
        "(1) Zoey is a knave\n(2) Oliver is a knight\n(3) Ethan is a knave",
        "(1) Zoey is a knight",
    ]
    got = reward(None, [wrap(a) for a in answers] + ["no format"], solution_text_format=[GT] * 5)
    assert got == pytest.approx([3.0, 1.0 - 1.5 + 3.5 * 2 / 3, -0.5, -1.0, -3.0])


def test_puzzle_role_pair_from_column_and_logic_rl_generalisation():
    gt = "(1) Ann is an angel\n(2) Bo is a devil"
    good = wrap("Ann is an angel. Bo is a devil.", think=THINK.replace("Zoey", "Ann"))
    bad = wrap("Ann is a devil. Bo is an angel.")
    partial = rewards.get("kk", preset="partial")
    assert partial(None, [good, bad], solution_text_format=[gt] * 2, roles=[["angel", "devil"]] * 2) == [3.0, -0.5]
    kk_dict = {"knight": "angel", "knave": "devil", "a_knight": "an angel", "a_knave": "a devil"}
    assert partial(None, [good, bad], solution_text_format=[gt] * 2, knight_knave=[kk_dict] * 2) == [3.0, -0.5]
    # Logic-RL's regex says "is a", so "an angel" does not read; "a devil"/"a angel" would.
    logic_rl = rewards.get("kk")
    text = "<think>x</think><answer>Ann is a angel, Bo is a devil</answer>"
    assert logic_rl(None, [text], solution_text_format=[gt], roles=[("angel", "devil")]) == [3.0]


def test_presets_and_options_validation():
    with pytest.raises(rewards.RewardConfigError, match="preset"):
        rewards.get("kk", preset="nope")
    with pytest.raises(rewards.RewardConfigError, match="parser"):
        rewards.get("kk", parser="fuzzy")
    with pytest.raises(rewards.RewardConfigError, match="solution_text_format"):
        rewards.get("kk")(None, ["x"])
    custom = rewards.get("kk", correct_score=1.0, wrong_score=0.0, unparseable_score=-1.0, format_penalty=0.0)
    assert custom(None, ["junk"], solution_text_format=[GT]) == [-1.0]


def test_missing_ground_truth_gives_none_and_nan_breakdown():
    reward = rewards.get("kk", preset="partial")
    assert reward(None, [wrap("Zoey is a knight")], solution_text_format=[None]) == [None]
    row = reward.breakdown(None, [wrap("Zoey is a knight")], solution_text_format=[None])[0]
    assert math.isnan(row["reward"])


def test_breakdown_and_trl_metric_hook():
    reward = rewards.get("kk")
    logged = {}
    completions = [wrap(GT), "junk"]
    values = reward(
        None, completions, solution_text_format=[GT, GT], log_metric=lambda k, v: logged.__setitem__(k, v),
        trainer_state=object(), completion_ids=[[1], [2]],
    )
    assert values == [3.0, -3.0]
    assert logged == {"kk/format": 0.0, "kk/answer": 0.0, "kk/correct": 0.5, "kk/length": sum(map(len, completions)) / 2}
    rows = reward.breakdown(None, completions, solution_text_format=[GT, GT])
    assert rows[0] == {"reward": 3.0, "format": 1.0, "answer": 2.0, "correct": 1.0, "length": float(len(completions[0]))}
    assert reward.__name__ == "kk"

POOL = ["Zoey", "Oliver", "Ethan", "Mia", "Liam", "Ava", "Noah", "Emma", "Sophia", "Jack"]


def render(names, roles, style, casing):
    pair = ("knight", "knave")
    if style == "lines":
        text = "\n".join(f"({i + 1}) {n} is a {r}" for i, (n, r) in enumerate(zip(names, roles)))
    elif style == "sentence":
        text = ", ".join(f"{n} is a {r}" for n, r in zip(names, roles)) + "."
    elif style == "grouped":
        parts = []
        for role in pair:
            group = [n for n, r in zip(names, roles) if r == role]
            if group:
                parts.append(f"{role.capitalize()}s: {', '.join(group)}")
        text = "\n".join(parts)
    else:  # "plural": "A and B are knights; C is a knave"
        parts = []
        for role in pair:
            group = [n for n, r in zip(names, roles) if r == role]
            if len(group) == 1:
                parts.append(f"{group[0]} is a {role}")
            elif group:
                parts.append(f"{' and '.join(group)} are {role}s")
        text = "; ".join(parts)
    return text.upper() if casing == "upper" else text.lower() if casing == "lower" else text


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.sampled_from(POOL), min_size=2, max_size=8, unique=True),
    data=st.data(),
    style=st.sampled_from(["lines", "sentence", "grouped", "plural"]),
    casing=st.sampled_from(["as is", "upper", "lower"]),
)
def test_strict_parser_reads_every_rendering(names, data, style, casing):
    roles = data.draw(st.lists(st.sampled_from(["knight", "knave"]), min_size=len(names), max_size=len(names)))
    truth = dict(zip(names, roles))
    answer = render(names, roles, style, casing)
    assert parse_answer(answer, tuple(names)) == truth
    # dropping one person's statement always makes it unparseable
    missing = render(names[1:], roles[1:], style, casing)
    assert parse_answer(missing, tuple(names)) is None


# --------------------------------------------------------------------------------------------------
# Issue 14: negation- and order-aware parsing (preset `partial`, `parser: strict`)
# --------------------------------------------------------------------------------------------------

GT2 = "(1) Zoey is a knight\n(2) Oliver is a knave"
TRUTH2 = {"Zoey": "knight", "Oliver": "knave"}
N2 = ("Zoey", "Oliver")


def test_issue_examples_score_as_right_answers():
    partial = rewards.get("kk", preset="partial")
    strict_parser = rewards.get("kk", preset="logic_rl", parser="strict")
    logic_rl = rewards.get("kk", preset="logic_rl")
    answers = ["Zoey is a knight. Oliver is a knave, not a knight.", "The knight is Zoey and the knave is Oliver."]
    completions = [wrap(a, think=THINK.replace("Ethan", "Oliver")) for a in answers]
    assert partial(None, completions, solution_text_format=[GT2] * 2) == [3.0, 3.0]
    assert strict_parser(None, completions, solution_text_format=[GT2] * 2) == [3.0, 3.0]
    # the logic_rl preset stays Logic-RL's parser: these wordings are unparseable there (-1 with good format)
    assert logic_rl(None, completions, solution_text_format=[GT2] * 2) == [-1.0, -1.0]
    # and a wrong answer in the same wordings is wrong, not unparseable
    wrong = wrap("The knight is Oliver and the knave is Zoey.", think=THINK)
    assert partial(None, [wrong], solution_text_format=[GT2]) == [-0.5]


@pytest.mark.parametrize(
    "answer",
    [
        "Zoey is a knight. Oliver is a knave, not a knight.",
        "The knight is Zoey and the knave is Oliver.",
        "The knave is Oliver; the knight is Zoey.",
        "Zoey is a knight. Oliver is not a knight.",
        "Zoey is not a knave, and Oliver is not a knight.",
        "Oliver isn't a knight, but Zoey is a knight.",
        "Zoey is a knight, not a knave; Oliver is a knave rather than a knight.",
        "Zoey is a knight who always tells the truth, and Oliver is a knave who always lies.",
        "Zoey, who always tells the truth, is a knight; Oliver, who lies, is a knave.",
        "Zoey tells the truth. Oliver lies.",
        "Zoey never lies. Oliver does not tell the truth.",
        "Zoey is truthful (a knight); Oliver is a liar (a knave).",
        "Knights: Zoey\nKnaves: Oliver",
        "Knights:\n- Zoey\nKnaves:\n- Oliver",
        "The knights are:\n1. Zoey\nThe knaves are:\n1. Oliver",
        "**Zoey**: Knight\n**Oliver**: Knave",
        "| Person | Role |\n|---|---|\n| Zoey | knight |\n| Oliver | knave |",
        "Zoey - knight, Oliver - knave",
        "Zoey is the knight and Oliver is the knave.",
        "It is not the case that Zoey is a knave. Oliver is a knave.",
        "The knight is Zoey, not Oliver.",
        "Zoey is a knight because Oliver is a knave.",
        "ZOEY IS A KNIGHT. OLIVER IS A KNAVE, NOT A KNIGHT.",
        "Oliver is no knight. Zoey is a knight.",
        "-Zoey is a 'knight'\n-Oliver is a \u2018knave\u2019",
        '"Zoey" is a knight and "Oliver" is a knave.',
        # reasoning left in the answer: a speaker is not the subject, a hypothetical clause assigns nothing
        "Zoey says Oliver is a knave. Zoey is a knight.",
        "Zoey, a knight, says that Oliver is a knave.",
        "If Zoey were a knave, Oliver would be a knight; so Zoey is a knight and Oliver is a knave.",
    ],
)
def test_strict_parser_reads_negations_and_orders(answer):
    assert parse_answer(answer, N2) == TRUTH2


@pytest.mark.parametrize(
    "answer, truth",
    [
        ("Neither Zoey nor Oliver is a knight.", {"Zoey": "knave", "Oliver": "knave"}),
        ("Zoey and Oliver are both knaves.", {"Zoey": "knave", "Oliver": "knave"}),
        ("Not Zoey but Oliver is a knight.", {"Zoey": "knave", "Oliver": "knight"}),
        ("Knights: none\nKnaves: Zoey, Oliver", {"Zoey": "knave", "Oliver": "knave"}),
    ],
)
def test_strict_parser_reads_group_negations(answer, truth):
    assert parse_answer(answer, N2) == truth


@pytest.mark.parametrize(
    "answer",
    [
        # one person given both roles, directly or by a restatement that contradicts
        "Zoey is a knight and a knave. Oliver is a knave.",
        "Zoey is a knight who always lies. Oliver is a knave.",
        "Zoey is neither a knight nor a knave. Oliver is a knave.",
        "Zoey is a knight. Oliver is a knave. Zoey is not a knight.",
        "Zoey: knight/knave. Oliver: knave.",
        "Knights: Zoey, Oliver. Knaves: Zoey, Oliver.",
        # hedges
        "Zoey is a knight or a knave. Oliver is a knave.",
        "Zoey is either a knight or a knave, and Oliver is a knave.",
        "Zoey is probably a knight. Oliver is a knave.",
        "Zoey might be a knight; Oliver is a knave.",
        "Zoey is likely a knight, Oliver is a knave.",
        "Zoey is a knight (or possibly a knave). Oliver is a knave.",
        "It is unclear whether Zoey is a knight. Oliver is a knave.",
        # a person missing, or a name not in the puzzle given a role
        "Zoey is a knight.",
        "Zoey is a knight. Oliver is not.",
        "Zoey is a knight. Oliver is a knave. Bob is a knave.",
        "The knight is Zoey. The knave is Bob. Oliver is a knave.",
        "Knights: Zoey\nKnaves: Oliver, Bob",
        "Everyone is a knave.",
        "Zoey says Oliver is a knave.",  # nothing said about Zoey (not: Zoey is a knave)
        "Zoey is a knight if Oliver is a knave, Oliver is a knave.",
    ],
)
def test_strict_parser_keeps_hedges_and_contradictions_unparseable(answer):
    assert parse_answer(answer, N2) is None


def test_negation_needs_a_two_role_puzzle():
    assert parse_answer("Ann is not an angel. Bo is an angel.", ("Ann", "Bo"), ("angel", "devil")) == {
        "Ann": "devil", "Bo": "angel"}
    assert parse_answer("Ann is not a pirate. Bo is a pirate.", ("Ann", "Bo"), ("pirate", "")) is None
    assert parse_answer("Ann tells the truth. Bo lies.", ("Ann", "Bo"), ("saint", "sinner")) == {
        "Ann": "saint", "Bo": "sinner"}


def render_more(names, roles, style):
    """Wordings beyond `render`: negations, role-first sentences, restating clauses, headings."""
    other = {"knight": "knave", "knave": "knight"}
    if style == "negated_other":
        return " ".join(f"{n} is a {r}, not a {other[r]}." for n, r in zip(names, roles))
    if style == "not_a":
        return " ".join(f"{n} is not a {other[r]}." for n, r in zip(names, roles))
    if style == "restating":
        says = {"knight": "who always tells the truth", "knave": "who always lies"}
        return " ".join(f"{n}, {says[r]}, is a {r}." for n, r in zip(names, roles))
    if style == "role_first":
        return " ".join(f"The {r} is {n}." for n, r in zip(names, roles))
    groups = {role: [n for n, r in zip(names, roles) if r == role] for role in ("knight", "knave")}
    return "\n".join(f"{role.capitalize()}s:\n" + "\n".join(f"- {n}" for n in group)
                     for role, group in groups.items() if group)  # headings over bullet lists


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.sampled_from(POOL), min_size=2, max_size=8, unique=True),
    data=st.data(),
    style=st.sampled_from(["negated_other", "not_a", "restating", "role_first", "headings"]),
)
def test_strict_parser_reads_every_richer_rendering(names, data, style):
    roles = data.draw(st.lists(st.sampled_from(["knight", "knave"]), min_size=len(names), max_size=len(names)))
    assert parse_answer(render_more(names, roles, style), tuple(names)) == dict(zip(names, roles))
    assert parse_answer(render_more(names[1:], roles[1:], style), tuple(names)) is None
    hedged = render_more(names, roles, style).replace(names[0], f"{names[0]} (or maybe not)", 1)
    assert parse_answer(hedged, tuple(names)) is None
