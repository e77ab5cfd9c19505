"""Turn TRL's prompts and completions (strings or chat messages) into plain text, safely.

Everything here accepts hostile input: any object, any size. Nothing raises, nothing is evaluated.
"""

from __future__ import annotations

from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"


def _content_text(content: Any) -> str:
    """The text of one message's `content`: a string, or a list of parts such as {"type": "text", "text": ...}."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    return ""


def completion_text(completion: Any) -> str:
    """The assistant's text: a string as is; for chat messages, the assistant contents joined in order.

    TRL passes conversational completions as `[{"role": "assistant", "content": "..."}]`. Anything that is
    neither a string nor messages gives "" (which every reward scores as a failure, never an error).
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        texts = []
        for message in completion:
            if isinstance(message, str):
                texts.append(message)
            elif isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                texts.append(_content_text(message.get("content")))
        return "".join(texts)
    return ""


def prompt_text(prompt: Any) -> str | None:
    """A string prompt as is; None for chat-message prompts (their rendered template is not known here)."""
    return prompt if isinstance(prompt, str) else None


def prompt_prefills_think(prompt: Any) -> bool:
    """True when the prompt ends inside an opened <think> block, so the completion starts mid-reasoning.

    A string prompt that ends with "<think>" (Logic-RL's base template: "... Assistant: <think>"), or a
    chat prompt whose last message is an assistant turn ending with "<think>" (continue_final_message).
    """
    if isinstance(prompt, str):
        return prompt[-64:].rstrip().endswith(THINK_OPEN)
    if isinstance(prompt, (list, tuple)) and prompt:
        last = prompt[-1]
        if isinstance(last, dict) and last.get("role") == "assistant":
            return _content_text(last.get("content"))[-64:].rstrip().endswith(THINK_OPEN)
    return False


def column(kwargs: dict, key: str, n: int) -> list:
    """The dataset column `key` as a list of length n (None-filled when absent; a single string is repeated)."""
    values = kwargs.get(key)
    if values is None:
        return [None] * n
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        return [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"column {key!r} has {len(values)} values for {n} completions")
    return values


def head(text: str, limit: int) -> str:
    """At most `limit` characters of `text` (a bound applied before any regular expression runs)."""
    return text if len(text) <= limit else text[:limit]
