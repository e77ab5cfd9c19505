"""Test doubles shared by the eval tests (no tests here): scripted generators with known answers."""

from __future__ import annotations

import json


def prompt_problem_text(prompt) -> str:
    """The user's text of a prompt (chat messages or a plain string)."""
    if isinstance(prompt, str):
        return prompt
    return prompt[-1]["content"]


class ScriptedBackend:
    """A test double with the backend interface: for each prompt it returns scripted completions.

    `script` maps a key (a substring of the prompt's user text, e.g. the problem text) to the list of
    completions for samples 0, 1, 2, ...; every call returns the first `n` of them (fresh runs ask for
    all samples at once). Records each call in `calls`. `count_tokens` counts words, so lengths are known.
    """

    def __init__(self, script: dict[str, list[str]]):
        self.script = script
        self.calls: list[dict] = []
        self.generated_tokens = 0

    def _lookup(self, prompt) -> list[str]:
        text = prompt_problem_text(prompt)
        matches = [key for key in self.script if key in text]
        assert len(matches) == 1, f"prompt matches {len(matches)} scripted keys: {text[:80]!r}"
        return self.script[matches[0]]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompts, n, temperature, top_p, max_tokens, seed):
        self.calls.append({"prompts": list(prompts), "n": n, "temperature": temperature, "seed": seed})
        out = [self._lookup(p)[:n] for p in prompts]
        self.generated_tokens += sum(self.count_tokens(t) for texts in out for t in texts)
        return out


class CountingBackend:
    """A test double that answers every prompt with distinct numbered completions and can be told to
    fail (as a kill would) after a number of generate calls."""

    def __init__(self, fail_after_calls: int | None = None):
        self.fail_after_calls = fail_after_calls
        self.calls = 0
        self.requested = 0
        self.counter = 0

    def generate(self, prompts, n, temperature, top_p, max_tokens, seed):
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        self.requested += len(prompts) * n
        out = []
        for _ in prompts:
            texts = []
            for _ in range(n):
                self.counter += 1
                texts.append(f"The answer is \\boxed{{{self.counter}}}")
            out.append(texts)
        return out


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
