"""Prompts: chat messages, chat template strings and the plain base-model form."""

import pytest

from puzzles import generate_kk, make_prompt, system_prompt


class RecordingTokenizer:
    """Stands in for a HF tokenizer: renders messages in a ChatML-like form and records the call."""

    def __init__(self):
        self.calls = []

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
        self.calls.append((messages, tokenize, add_generation_prompt))
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def test_chat_messages_require_think_and_answer_tags():
    p = generate_kk(3, 1, seed=0, roles=("saint", "sinner"))[0]
    messages = make_prompt(p)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == p.quiz
    sys_text = messages[0]["content"]
    assert "<think>" in sys_text and "</think>" in sys_text and "<answer>" in sys_text and "</answer>" in sys_text
    assert "(1) Zoey is a saint\n(2) Oliver is a sinner" in sys_text  # the example uses the puzzle's roles
    assert system_prompt() != sys_text


def test_chat_template_through_tokenizer():
    p = generate_kk(3, 1, seed=0)[0]
    tok = RecordingTokenizer()
    text = make_prompt(p, tokenizer=tok)
    (messages, tokenize, add_gen), = tok.calls
    assert tokenize is False and add_gen is True and messages == make_prompt(p)
    assert text.endswith("<|im_start|>assistant\n")
    assert make_prompt(p, tokenizer=tok, think_prefix=True).endswith("<|im_start|>assistant\n<think>")


def test_base_prompt_and_other_inputs():
    p = generate_kk(3, 1, seed=0)[0]
    text = make_prompt(p, style="base")
    assert text.endswith(f"User: {p.quiz}\nAssistant: <think>")
    assert make_prompt(p.to_record(), style="base") == text
    assert make_prompt(p.quiz, style="base") == text
    with pytest.raises(ValueError, match="prompt style"):
        make_prompt(p, style="fancy")
