"""Every hand-written shortcut in tests/redteam_completions.py scores below a correct, well-formatted answer."""

import pytest
from redteam_completions import CORRECT, GROUND_TRUTH, REDTEAM

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
@pytest.mark.parametrize("name, completion, _catches", REDTEAM, ids=[r[0] for r in REDTEAM])
def test_shortcut_scores_below_correct(label, name, completion, _catches):
    reward = STRICT_REWARDS[label]
    assert score(reward, completion) < score(reward, CORRECT), name


@pytest.mark.parametrize("name, completion, catches", REDTEAM, ids=[r[0] for r in REDTEAM])
def test_logic_rl_preset_catches_what_logic_rl_catches(name, completion, catches):
    """The exact Logic-RL scheme penalises the marked ones; the rest are its known gaps (full marks)."""
    logic_rl = rewards.get("kk", preset="logic_rl")
    if catches:
        assert score(logic_rl, completion) < 3.0, name
    else:
        assert score(logic_rl, completion) == 3.0, name


def test_format_reward_flags_every_format_shortcut():
    fmt = rewards.get("format")
    answer_only = {"extra_name", "two_roles_for_one_person", "missing_person", "every_role_for_everyone",
                   "both_roles_listed", "wrong_answer", "prompt_injection"}
    for name, completion, _ in REDTEAM:
        expected = 1.0 if name in answer_only else -1.0
        assert score(fmt, completion) == expected, name
