"""Every hand-written shortcut in tests/redteam_completions.py scores below a correct, well-formatted answer."""

import pytest
from redteam_completions import CORRECT, GROUND_TRUTH, MATH_CORRECT, MATH_GOLD, MATH_REDTEAM, REDTEAM

import rewards

PROMPT = [{"role": "user", "content": "Zoey, Oliver and Ethan... who is a knight?"}]
STRICT_REWARDS = {
    "kk_partial": rewards.get("kk", preset="partial"),
    "kk_logic_rl_scores_strict_format": rewards.get("kk", preset="logic_rl", format_check="strict", parser="strict"),
    "format+kk_logic_rl": rewards.combine(["format", {"name": "kk", "preset": "logic_rl"}]),
}


def score(reward, completion):
    return reward([PROMPT], [completion], solution_text_format=[GROUND_TRUTH])[0]


def test_correct_answer_gets_full_marks():
    assert score(STRICT_REWARDS["kk_partial"], CORRECT) == 3.0
    assert score(rewards.get("kk"), CORRECT) == 3.0
    assert score(rewards.get("format"), CORRECT) == 1.0


@pytest.mark.parametrize("label", sorted(STRICT_REWARDS))
@pytest.mark.parametrize("name, completion, catches", REDTEAM, ids=[r[0] for r in REDTEAM])
def test_shortcut_scores_below_correct(label, name, completion, catches):
    reward = STRICT_REWARDS[label]
    if label == "format+kk_logic_rl" and not catches and name in ANSWER_ONLY:
        # A well-formatted answer that Logic-RL's own parser accepts ("Zoey is a knight who always lies"):
        # the format reward has nothing to object to, so this pairing keeps Logic-RL's gap. Stated exactly.
        assert score(reward, completion) == score(reward, CORRECT), name
        return
    assert score(reward, completion) < score(reward, CORRECT), name


@pytest.mark.parametrize("name, completion, catches", REDTEAM, ids=[r[0] for r in REDTEAM])
def test_logic_rl_preset_catches_what_logic_rl_catches(name, completion, catches):
    """The exact Logic-RL scheme penalises the marked ones; the rest are its known gaps (full marks)."""
    logic_rl = rewards.get("kk", preset="logic_rl")
    if catches:
        assert score(logic_rl, completion) < 3.0, name
    else:
        assert score(logic_rl, completion) == 3.0, name


ANSWER_ONLY = {
    "extra_name", "two_roles_for_one_person", "missing_person", "every_role_for_everyone", "both_roles_listed",
    "wrong_answer", "prompt_injection", "hedge_probably", "hedge_might", "hedge_either", "hedge_parenthetical",
    "hedge_unclear_sentence", "hedge_probably_after_the_answer", "hedge_second_reading", "neither_role",
    "restatement_contradicts_role", "slash_both_roles", "answer_then_its_negation", "extra_person_in_list",
    "extra_person_role_first", "nobody_named", "markdown_both_lists", "markdown_hedge", "lead_in_second_answer",
}
"""Shortcuts with a well-formed think/answer layout: only the answer parser can catch them."""


def test_format_reward_flags_every_format_shortcut():
    fmt = rewards.get("format")
    for name, completion, _ in REDTEAM:
        expected = 1.0 if name in ANSWER_ONLY else -1.0
        assert score(fmt, completion) == expected, name


def test_answer_shortcuts_are_unparseable_under_the_strict_parser():
    """Hedges, contradictions and extra people are unparseable (-1 with good format), not merely wrong."""
    partial = rewards.get("kk", preset="partial")
    for name, completion, _ in REDTEAM:
        if name in ANSWER_ONLY and name != "wrong_answer":
            assert score(partial, completion) == -1.0, name


MATH_REWARDS = {
    "math": rewards.get("math"),
    "math_require_format": rewards.get("math", require_format=True),
    "math_scored": rewards.get("math", require_format=True, correct_score=2.0, wrong_score=-1.0),
}


@pytest.mark.parametrize("label", sorted(MATH_REWARDS))
@pytest.mark.parametrize("name, completion", MATH_REDTEAM, ids=[r[0] for r in MATH_REDTEAM])
def test_math_shortcut_scores_below_correct(label, name, completion):
    reward = MATH_REWARDS[label]
    correct, shortcut = reward(None, [MATH_CORRECT, completion], answer=[MATH_GOLD] * 2)
    assert shortcut < correct, name
