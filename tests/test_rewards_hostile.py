"""Hostile completions: every reward returns a float for any input, never raises, never runs the text.

Speed on hostile input is measured by benchmarks/bench_rewards.py (the <= 50 ms per 100 kB call figure);
here a coarse 2 s bound only catches catastrophic (super-linear) behaviour.
"""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rewards

GT = "(1) Zoey is a knight\n(2) Oliver is a knave"
REWARDS = {
    "format": rewards.get("format"),
    "kk_logic_rl": rewards.get("kk"),
    "kk_partial": rewards.get("kk", preset="partial"),
    "kk_strict_logic_rl": rewards.get("kk", format_check="strict", parser="strict"),
    "math": rewards.get("math", timeout_s=1.0),
    "combined": rewards.combine(["format", {"name": "kk", "preset": "partial", "weight": 0.5}]),
}
PROMPTS = [None, "User: q Assistant: <think>", [{"role": "user", "content": "q"}]]


def score_all(completion, prompt=None):
    out = {}
    for name, reward in REWARDS.items():
        out[name] = reward([prompt], [completion], solution_text_format=[GT], answer=["25"])
    return out


def assert_floats(results):
    for name, values in results.items():
        assert len(values) == 1 and isinstance(values[0], float), (name, values)


TAGS = ["<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "{", "}", "Assistant:", "<|im_start|>assistant"]
WORDS = ["Zoey", "Oliver", "is a", "knight", "knave", "(1)", "\n", " ", "25", "\\frac{1}{2}", "not"]
junk = st.lists(
    st.sampled_from(TAGS + WORDS) | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    max_size=60,
).map("".join)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completion=junk, prompt=st.sampled_from(PROMPTS))
def test_fuzz_every_reward_returns_a_float(completion, prompt):
    assert_floats(score_all(completion, prompt))


HOSTILE = {
    "empty": "",
    "one_megabyte": "a" * 1_000_000,
    "control_and_unicode": "".join(chr(c) for c in range(0, 0x3000, 7)) + "\x00\ufeff\u202e<think>\u0130\u212a",
    "nested_think_tags": "<think>" * 5000 + "x" + "</think>" * 5000 + "<answer>Zoey is a knight</answer>",
    "many_answer_blocks": "<think>r</think>" + "<answer>Zoey is a knight</answer>" * 5000,
    "open_tags_only": "<answer>" * 20000,
    "nested_boxed": "\\boxed{" * 20000 + "1" + "}" * 20000,
    "unclosed_braces": "\\boxed{" + "{" * 100_000,
    "name_then_whitespace": "<think>r</think><answer>" + ("Zoey " + " " * 1000) * 100 + "</answer>",
    "is_a_repeated": "<think>r</think><answer>Zoey" + " is a" * 20000 + " knight, Oliver is a knave</answer>",
    "regex_bait": "<think>" + "(1) " * 30000 + "</think><answer>" + "Zoey is a " * 10000 + "</answer>",
    "huge_good_answer": "<think>" + "reason " * 20000 + "</think><answer>" + "filler " * 10000 + "Zoey is a knight, Oliver is a knave</answer>",
    "lone_surrogates": "\ud800<think>\udfff</think><answer>\\boxed{\ud800 25}</answer>\udc00",
    "code_injection": "<answer>\\boxed{__import__('os').system('touch /tmp/rewards_pwned')}</answer>",
    # bait for the K&K reader and the math clean-up
    "capitalised_words": "<think>r</think><answer>" + "Abc Zoey is a knight, " * 180 + "</answer>",
    "names_in_lists": "<think>r</think><answer>Knaves: Oliver, " + "Bob, " * 800 + "</answer>",
    "negations_and_hedges": "<think>r</think><answer>" + "not or neither nor Zoey knight " * 120 + "</answer>",
    "emphasis_bait": "<think>r</think><answer>" + "**a_" * 128 + "</answer>",
    "separator_bait": "<think>r</think><answer>\\boxed{" + "1 000 " * 80 + "}</answer>",
    "sqrt_paren_bait": "<think>r</think><answer>" + "\\sqrt(" * 80 + "</answer>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("prompt", PROMPTS, ids=["none", "base", "chat"])
def test_hostile_inputs(name, prompt):
    start = time.monotonic()
    assert_floats(score_all(HOSTILE[name], prompt))
    assert time.monotonic() - start < 2.0 * len(REWARDS)


@pytest.mark.parametrize("completion", [None, 42, {"content": None}, [{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}], [object()], b"bytes"])
def test_non_text_completions_score_as_failures(completion):
    results = score_all(completion)
    assert_floats(results)
    assert results["kk_logic_rl"] == [-3.0]


def test_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        f"\\boxed{{__import__('os').system('touch {marker}')}}",
        f"<answer>exec(\"open('{marker}', 'w')\")</answer>",
        f"\\boxed{{eval(compile(\"open('{marker}','w')\", 'x', 'exec'))}}",
    ]
    values = REWARDS["math"]([None] * 3, payloads, answer=["0"] * 3)
    assert values == [0.0, 0.0, 0.0]
    assert not marker.exists()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=junk,
    names=st.lists(st.sampled_from(["Zoey", "Oliver", "is", "a", "knight", "Ä", "x" * 70]) | st.text(max_size=5), max_size=4),
    roles=st.tuples(st.sampled_from(["knight", "angel", "", "a"]), st.sampled_from(["knave", "devil", "is"])),
)
def test_fuzz_parsers_never_raise(text, names, roles):
    from rewards.format import check_format
    from rewards.kk import logic_rl_format, logic_rl_parse, parse_answer, parse_ground_truth
    from rewards.math import extract_answer

    result = parse_answer(text, names, roles)
    assert result is None or set(result) == set(names) or len({n.lower() for n in names}) < len(names)
    assert isinstance(check_format(text, think_prefilled=True).ok, bool)
    ok, answer = logic_rl_format(text)
    assert isinstance(ok, bool) and (answer is None or isinstance(answer, str))
    logic_rl_parse(text, tuple(n for n in names if n), roles)
    parse_ground_truth(text)
    extracted = extract_answer(text)
    assert extracted is None or len(extracted) <= 512
