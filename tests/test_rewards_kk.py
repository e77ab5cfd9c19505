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
