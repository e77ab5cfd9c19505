# ruff: noqa: UP006, UP035, UP045, F841  (the oracle below stays as Logic-RL wrote it)
"""Preset `logic_rl` returns the same total as Logic-RL's own reward function.

The oracle below is Logic-RL's K&K reward, copied from Unakar/Logic-RL, verl/utils/reward_score/kk.py
(the stored copy read was the fork ruoyuxie/Logic-RL at commit 681d2be; the same functions appear in many
forks), Apache-2.0. Only change: its diagnostic `print` calls are removed (they influence no value). Do
not "fix" anything in it: the point is to reproduce it exactly.

Text fed to each side: the oracle gets `rewards.kk.logic_rl_text(prompt, completion)` — for a string
prompt holding "Assistant:" / "<|im_start|>assistant" that is prompt + completion, what verl decodes —
and our reward gets (prompt, completion) as TRL passes them.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewards
from rewards.kk import logic_rl_text

# ----------------------------------------- oracle (Logic-RL) -----------------------------------------

def parse_solution_text_format(solution_text: str) -> Dict[str, str]:
    status_dict = {}
    for line in solution_text.split('\n'):
        line = line.strip()
        if not line:
            continue
        match = re.search(r'\b([A-Za-z]+)\b.*?\b(knight|knave)\b', line, re.IGNORECASE)
        if match:
            name, role = match.groups()
            status_dict[name] = role.lower()
    return status_dict


def parse_model_answer(answer_text: str, expected_names: list) -> Optional[Dict[str, str]]:
    status_dict = {}
    knight_count = answer_text.lower().count('knight')
    knave_count = answer_text.lower().count('knave')
    if knight_count + knave_count != len(expected_names):
        return None
    for name in expected_names:
        pattern = re.compile(
            rf'\b{re.escape(name)}\b\s+is\s+a\s+\b(knight|knave)\b',
            re.IGNORECASE
        )
        match = pattern.search(answer_text)
        if match:
            role = match.group(1).lower()
            status_dict[name] = role
        else:
            return None
    return status_dict


def compute_score(solution_str: str, ground_truth: Dict[str, str], format_reward: int = 1,
                  answer_reward: float = 1.0):
    solution_text = ground_truth.get('solution_text_format', '')
    gt_status = parse_solution_text_format(solution_text)
    expected_names = list(gt_status.keys())
    answer_text, processed_str = extract_solution(solution_str)
    format_correct = validate_response_structure(processed_str)
    format_score = format_reward if format_correct else -abs(format_reward)
    answer_score = 0
    if format_correct and answer_text:
        pred_status = parse_model_answer(answer_text, expected_names)
        if pred_status:
            if pred_status == gt_status:
                answer_score = 2
            else:
                answer_score = -1.5
        else:
            answer_score = -2
    else:
        answer_score = -2
    total_score = format_score + answer_score
    return total_score


def extract_solution(solution_str: str) -> Tuple[Optional[str], str]:
    if "Assistant:" in solution_str:
        processed_str = solution_str.split("Assistant:", 1)[1]
    elif "<|im_start|>assistant" in solution_str:
        processed_str = solution_str.split("<|im_start|>assistant", 1)[1]
    else:
        return None, solution_str
    answer_pattern = r'<answer>(.*?)</answer>'
    matches = list(re.finditer(answer_pattern, processed_str, re.DOTALL))
    if not matches:
        return None, processed_str
    final_answer = matches[-1].group(1).strip()
    return final_answer, processed_str


def validate_response_structure(processed_str: str) -> bool:
    validation_passed = True
    tags = {
        'think_start': ('<think>', 1),
        'think_end': ('</think>', 1),
        'answer_start': ('<answer>', 1),
        'answer_end': ('</answer>', 1)
    }
    positions = {}
    for tag_name, (tag_str, expected_count) in tags.items():
        count = processed_str.count(tag_str)
        positions[tag_name] = pos = processed_str.find(tag_str)
        if count != expected_count:
            validation_passed = False
    if (positions['think_start'] > positions['think_end'] or
            positions['think_end'] > positions['answer_start'] or
            positions['answer_start'] > positions['answer_end']):
        validation_passed = False
    return validation_passed


# ------------------------------------------------ tests ------------------------------------------------

GT2 = "(1) Zoey is a knight\n(2) Oliver is a knave"
GT3 = "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight"
SYSTEM = (
    "<|im_start|>system\nThe assistant first thinks about the reasoning process in the mind and then provides "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags.<|im_end|>\n"
)
CHAT_PREFILLED = SYSTEM + "<|im_start|>user\nWho is a knight?<|im_end|>\n<|im_start|>assistant\n<think>"
CHAT_OPEN = SYSTEM + "<|im_start|>user\nWho is a knight?<|im_end|>\n<|im_start|>assistant\n"
BASE_PREFILLED = "A conversation between User and Assistant. User: Who is a knight? Assistant: <think>"
CHAT_MESSAGES = [{"role": "user", "content": "Who is a knight?"}]
PROMPTS = [
    CHAT_PREFILLED, CHAT_OPEN, BASE_PREFILLED, CHAT_MESSAGES, "bare prompt without header <think>",
    # a header or a tag split between prompt and completion
    "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nAssist", "User: q Assistant: <thi",
]

KK = rewards.get("kk", preset="logic_rl")


def ours(prompt, completion, gt, **options):
    reward = rewards.get("kk", preset="logic_rl", **options) if options else KK
    return reward([prompt], [completion], solution_text_format=[gt])[0]


def oracle(prompt, completion, gt, think_prefilled=None):
    return compute_score(logic_rl_text(prompt, completion, think_prefilled), {"solution_text_format": gt})


GOOD_BODY = "Zoey says Oliver lies. Suppose Zoey is truthful...</think>\n<answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>"
HAND_WRITTEN = [
    # (prompt, completion, expected total)
    (CHAT_PREFILLED, GOOD_BODY, 3),
    (CHAT_PREFILLED, "<think>" + GOOD_BODY, -3),  # prefilled <think> + another one: two <think> in the turn
    (CHAT_OPEN, "<think>" + GOOD_BODY, 3),
    (CHAT_OPEN, GOOD_BODY, -3),  # no <think> at all
    (BASE_PREFILLED, GOOD_BODY, 3),
    (BASE_PREFILLED, GOOD_BODY.replace("Oliver is a knave", "Oliver is a knight"), -0.5),
    (BASE_PREFILLED, GOOD_BODY.replace("(2) Oliver is a knave", ""), -1),
    (BASE_PREFILLED, GOOD_BODY.replace("knave</answer>", "knave, Oliver is a knave</answer>"), -1),
    (BASE_PREFILLED, "</think><answer></answer>", -1),  # tags fine, empty answer: +1 - 2
    (BASE_PREFILLED, "</think><answer>Zoey is a Knight and oliver is a KNAVE.</answer>", 3),
    (BASE_PREFILLED, "</think>\n<answer>Zoey is a knight</answer>\n<answer>Oliver is a knave</answer>", -3),
    (BASE_PREFILLED, "<answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer></think>", -3),
    (BASE_PREFILLED, GOOD_BODY[:-5], -3),  # cut off mid-tag
    (BASE_PREFILLED, "</think><answer>Zoey is a knights, Oliver is a knave</answer>", -1),
    (BASE_PREFILLED, "</think><answer>Zoey is a knight. Oliver is a knave. Assistant: hi</answer>", 3),
    (BASE_PREFILLED, "x Assistant: </think><answer>Zoey is a knight, Oliver is a knave</answer>", 3),
    (CHAT_PREFILLED, "x Assistant: </think><answer>Zoey is a knight, Oliver is a knave</answer>", -3),
    (PROMPTS[5], "ant: <think>r</think><answer>Zoey is a knight, Oliver is a knave</answer>", 3),
    (PROMPTS[6], "nk>r</think><answer>Zoey is a knight, Oliver is a knave</answer>", 3),
    (CHAT_MESSAGES, [{"role": "assistant", "content": "<think>" + GOOD_BODY}], 3),
    (CHAT_MESSAGES, "<think>" + GOOD_BODY.replace("Oliver is a knave", "Oliver is a knight"), -0.5),
    ("bare prompt without header <think>", GOOD_BODY, 3),
]


@pytest.mark.parametrize("prompt, completion, expected", HAND_WRITTEN)
def test_hand_written_cases_match_logic_rl(prompt, completion, expected):
    assert oracle(prompt, completion, GT2) == expected
    assert ours(prompt, completion, GT2) == expected


def test_prefilled_think_counted_in_assistant_turn_for_chat_messages():
    prompt = CHAT_MESSAGES
    assert ours(prompt, GOOD_BODY, GT2, think_prefilled=True) == oracle(prompt, GOOD_BODY, GT2, True) == 3
    assert ours(prompt, GOOD_BODY, GT2, think_prefilled=False) == oracle(prompt, GOOD_BODY, GT2, False) == -3
    assert logic_rl_text(prompt, GOOD_BODY, True) == "<|im_start|>assistant\n<think>" + GOOD_BODY


def test_string_prompt_with_header_is_fed_whole():
    assert logic_rl_text(CHAT_PREFILLED, "abc") == CHAT_PREFILLED + "abc"
    assert logic_rl_text(BASE_PREFILLED, "abc") == BASE_PREFILLED + "abc"


FRAGMENTS = [
    "<think>", "</think>", "<answer>", "</answer>", "<answer", "</ans", "Assistant:", "<|im_start|>assistant",
    " ", "\n", "  ", "Zoey", "Oliver", "Ethan", "zoey", "OLIVER", "Zoeys", " is a ", " is an ", " is ", "is",
    " a ", "knight", "knave", "Knight", "KNAVE", "knights", "knaves", "knightly", "(1) ", "(2) ", "(3) ", ".",
    ",", " and ", "not ", "\u212anight", "\u017f", "\u0130", "é", "\t", "<think></think>", "Assistant",
]
GROUND_TRUTHS = [
    GT2, GT3, "(1) Zoey is a knave\n(2) Oliver is a knave", "", "nothing useful", "Zoey knight\nOliver KNAVE",
    "(1) Zoey is a knight\n(2) Zoey is a knave", "(1) Zoë is a knight\n(2) Oliver is a knave",
]

completions = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=40).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=st.sampled_from(PROMPTS),
    completion=completions,
    gt=st.sampled_from(GROUND_TRUTHS),
    prefilled=st.sampled_from([None, True, False]),
)
def test_generated_completions_match_logic_rl(prompt, completion, gt, prefilled):
    expected = oracle(prompt, completion, gt, prefilled)
    got = rewards.get("kk", preset="logic_rl", think_prefilled=prefilled)([prompt], [completion], solution_text_format=[gt])
    assert got == [expected]


def _structured(draw_names, roles, order, noise):
    lines = [f"({i + 1}) {n} is a {r}" for i, (n, r) in enumerate(zip(draw_names, roles))]
    return noise + "</think>" * order[0] + "\n<answer>" + "\n".join(lines) + "</answer>" * order[1]


@settings(max_examples=300, deadline=None)
@given(
    roles=st.lists(st.sampled_from(["knight", "knave", "Knight", "knaves", "KNAVE"]), min_size=3, max_size=3),
    order=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    noise=st.sampled_from(["", "reasoning ", "<think>", "Zoey is a knight "]),
    names=st.permutations(["Zoey", "Oliver", "Ethan"]),
)
def test_near_miss_answers_match_logic_rl(roles, order, noise, names):
    """Mostly well-formed answers (the region where correct/wrong/unparseable are decided)."""
    completion = _structured(names, roles, order, noise)
    for prompt in (BASE_PREFILLED, CHAT_PREFILLED):
        assert ours(prompt, completion, GT3) == oracle(prompt, completion, GT3)


def test_seeded_random_completions_cover_every_total():
    """A seeded sweep that must reach all four totals, so the parity above is not checked on one outcome."""
    import random

    rng = random.Random(0)
    seen = set()
    for _ in range(3000):
        parts = rng.choices(FRAGMENTS, k=rng.randint(0, 12))
        if rng.random() < 0.5:
            names = rng.sample(["Zoey", "Oliver"], 2)
            parts += ["</think><answer>"] + [f"{n} is a {rng.choice(['knight', 'knave'])}. " for n in names]
            parts += rng.choices(FRAGMENTS, k=rng.randint(0, 2)) + ["</answer>"]
        completion = "".join(parts)
        prompt = rng.choice(PROMPTS)
        expected = oracle(prompt, completion, GT2)
        assert ours(prompt, completion, GT2) == expected
        seen.add(expected)
    assert seen == {3, -0.5, -1, -3}


GT_PREFIXES = "(1) Ann is a knight\n(2) Anna is a knave\n(3) Annabel is a knight"
ONE_SCAN_CASES = [
    # names that are prefixes of each other, any casing, repeated mentions (the first one decides)
    (GT_PREFIXES, "Anna is a knave, Ann is a knight, Annabel is a knight"),
    (GT_PREFIXES, "ANNABEL IS A KNIGHT; ann is a knight; Anna is a knave"),
    (GT_PREFIXES, "Ann is a knave, Anna is a knave, Annabel is a knight"),
    (GT_PREFIXES, "Annabel is a knight Anna is a knave Ann is a knight"),
    (GT_PREFIXES, "Ann's friend Anna is a knave. Ann is a knight. Annabel is a knight."),
    # characters that match case-insensitively but lower-case to something else (long s, Kelvin sign)
    ("(1) Sam is a knight\n(2) Kim is a knave", "\u017fam is a knight, \u212aim is a knave"),
    ("(1) Sam is a knight\n(2) Kim is a knave", "Sam is a \u212anight, Kim is a knave"),
    # names the one-scan pattern is not used for: a name spelt "is" or "a", or a role word
    ("(1) Is is a knight\n(2) A is a knave", "Is is a knight, A is a knave"),
    ("(1) Knight is a knight\n(2) Bo is a knave", "Knight is a knight, Bo is a knave"),
]


@pytest.mark.parametrize("gt, answer", ONE_SCAN_CASES)
def test_one_scan_name_pattern_matches_logic_rl(gt, answer):
    completion = f"</think><answer>{answer}</answer>"
    for prompt in (BASE_PREFILLED, CHAT_PREFILLED):
        assert ours(prompt, completion, gt) == oracle(prompt, completion, gt)
