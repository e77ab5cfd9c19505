"""Strict format rules (rewards.format)."""

import pytest

import rewards
from rewards.format import check_format

THINK = "Zoey accuses Oliver, so if Zoey tells the truth then Oliver lies; checking Oliver's claim confirms it."
ANSWER = "(1) Zoey is a knight\n(2) Oliver is a knave"
GOOD = f"<think>{THINK}</think>\n<answer>{ANSWER}</answer>"


@pytest.mark.parametrize(
    "text, reason",
    [
        (GOOD, ""),
        (f"  \n{GOOD}\n\n", ""),
        (f"<think>{THINK}</think><answer>{ANSWER}</answer>", ""),
        (f"<think>{THINK}</think><answer>{ANSWER}</answer><answer>{ANSWER}</answer>", "tag_count"),
        (f"<think>{THINK}<answer>{ANSWER}</answer></think>", "order"),
        (f"<answer>{ANSWER}</answer><think>{THINK}</think>", "order"),
        (f"<think>{THINK}</think><answer>{ANSWER}</answ", "tag_count"),
        (f"<think>{THINK}", "tag_count"),
        (f"Here: <think>{THINK}</think><answer>{ANSWER}</answer>", "text_outside"),
        (f"<think>{THINK}</think> so <answer>{ANSWER}</answer>", "text_outside"),
        (f"<think>{THINK}</think><answer>{ANSWER}</answer>!", "text_outside"),
        (f"<think> </think><answer>{ANSWER}</answer>", "empty_think"),
        (f"<think>{THINK}</think><answer>\n</answer>", "empty_answer"),
        (f"<think>{ANSWER}</think><answer>{ANSWER}</answer>", "short_reasoning"),
        (f"<think>Obvious: {ANSWER}</think><answer>{ANSWER}</answer>", "short_reasoning"),
        ("", "tag_count"),
    ],
)
def test_rules(text, reason):
    result = check_format(text)
    assert result.reason == reason
    assert result.ok == (reason == "")


def test_answer_and_think_are_extracted():
    result = check_format(GOOD)
    assert result.answer == ANSWER
    assert result.think == THINK
    assert result.reasoning_words == 8  # counting stops at the minimum


def test_min_reasoning_words_is_configurable():
    text = f"<think>Obvious: {ANSWER}</think><answer>{ANSWER}</answer>"
    assert check_format(text, min_reasoning_words=1).ok
    assert not check_format(text, min_reasoning_words=2).ok
    assert check_format(f"<think>{ANSWER}</think><answer>{ANSWER}</answer>", min_reasoning_words=0).ok


def test_think_prefilled():
    body = f"{THINK}</think><answer>{ANSWER}</answer>"
    assert check_format(body, think_prefilled=True).ok
    assert not check_format(body).ok
    assert check_format("<think>" + body, think_prefilled=True).reason == "tag_count"


def test_reward_detects_prefill_from_prompt_and_reads_chat_messages():
    fmt = rewards.get("format")
    body = f"{THINK}</think><answer>{ANSWER}</answer>"
    assert fmt(["User: q\nAssistant: <think>"], [body]) == [1.0]
    assert fmt(["User: q\nAssistant:"], [body]) == [-1.0]
    assert fmt([[{"role": "user", "content": "q"}]], [[{"role": "assistant", "content": GOOD}]]) == [1.0]
    forced = rewards.get("format", think_prefilled=True, ok_score=2.0, fail_score=0.0)
    assert forced([[{"role": "user", "content": "q"}]], [body]) == [2.0]
    assert forced(None, [GOOD]) == [0.0]


def test_breakdown_components():
    rows = rewards.get("format").breakdown(None, [GOOD, "junk"])
    assert rows[0] == {"reward": 1.0, "format": 1.0, "reasoning_words": 8.0, "length": float(len(GOOD))}
    assert rows[1]["format"] == -1.0 and rows[1]["length"] == 4.0
