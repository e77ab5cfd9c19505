"""Prompts in the Logic-RL style: reasoning in <think>...</think>, the answer in <answer>...</answer>.

Chat models get a system prompt plus the quiz as the user turn (rendered with the tokenizer's own
chat template when a tokenizer is given); base models get one plain string that ends with
"Assistant: <think>" so the completion starts inside the reasoning.
"""

from __future__ import annotations

from puzzles.render import DEFAULT_ROLES, with_article

_EXAMPLE_NAMES = ("Zoey", "Oliver")


def _answer_example(roles) -> str:
    a, b = _EXAMPLE_NAMES
    return f"(1) {a} is {with_article(roles[0])}\n(2) {b} is {with_article(roles[1])}"


def system_prompt(roles=DEFAULT_ROLES) -> str:
    """The instruction: think in <think> tags, then state every person's role inside <answer> tags."""
    return (
        "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind "
        "and then provides the user with the answer. The reasoning process and answer are enclosed within "
        "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here "
        "</think><answer> answer here </answer>. Now the user asks you to solve a logical reasoning "
        "problem. After thinking, when you finally reach a conclusion, clearly state the identity of each "
        f"character within <answer> </answer> tags, one per line, i.e., <answer> {_answer_example(roles)} "
        "</answer>."
    )


def _quiz_and_roles(puzzle):
    if isinstance(puzzle, str):
        return puzzle, DEFAULT_ROLES
    if isinstance(puzzle, dict):
        kk = puzzle.get("knight_knave") or {}
        roles = (kk["knight"], kk["knave"]) if isinstance(kk, dict) and "knight" in kk else DEFAULT_ROLES
        return puzzle["quiz"], roles
    return puzzle.quiz, tuple(getattr(puzzle, "roles", DEFAULT_ROLES))


def chat_messages(puzzle) -> list[dict[str, str]]:
    """[{"role": "system", ...}, {"role": "user", "content": quiz}] for a puzzle, record or quiz text."""
    quiz, roles = _quiz_and_roles(puzzle)
    return [{"role": "system", "content": system_prompt(roles)}, {"role": "user", "content": quiz}]


def base_prompt(puzzle) -> str:
    """One string for base (non-chat) models, ending in "Assistant: <think>"."""
    quiz, roles = _quiz_and_roles(puzzle)
    return f"{system_prompt(roles)}\n\nUser: {quiz}\nAssistant: <think>"


PROMPT_STYLES = ("chat", "base", "compact")
"""chat: system prompt + quiz as chat messages (Logic-RL); base: the same as one string ending in
"Assistant: <think>"; compact: the quiz alone, for the embedded model's compact trace (`puzzles.compact`)."""


def make_prompt(puzzle, style: str = "chat", tokenizer=None, think_prefix: bool = False):
    """The prompt for `puzzle` (a KKPuzzle, a record dict or the quiz text); the one K&K prompt builder of
    the project (training, held-out evaluation and `logicrl eval` all call it).

    style="chat": the chat messages; with a `tokenizer`, the string from
        ``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)``
        (plus "<think>" when `think_prefix`, as Logic-RL does for instruct models).
    style="base": "<instructions>\\n\\nUser: <quiz>\\nAssistant: <think>".
    style="compact": "<quiz>\\n" (`puzzles.compact.compact_prompt`).
    Raises ValueError for another style.
    """
    if style == "base":
        return base_prompt(puzzle)
    if style == "compact":
        from puzzles.compact import compact_prompt

        return compact_prompt(puzzle)
    if style != "chat":
        raise ValueError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
    messages = chat_messages(puzzle)
    if tokenizer is None:
        return messages
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + "<think>" if think_prefix else text
