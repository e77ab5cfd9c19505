"""Prompts for evaluation: chat messages, a plain base-model form, or the <think>/<answer> form that the
models trained here learn.

A prompt is either a list of chat messages (the backend applies the model's chat template) or one
string (sent as is). `Prompt.prefill` is text the prompt already opened the answer with (the base
form ends in "Assistant: <think>"); graders see `prefill + completion`, as Logic-RL's reward does.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""Appended to math problems in the chat and base styles (the Qwen2.5-Math / DeepSeek-R1 wording)."""

THINK_SYSTEM_PROMPT = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and "
    "then provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here "
    "</think><answer> answer here </answer>. Now the user asks you to solve a math problem. After "
    "thinking, put the final answer within <answer> </answer> tags, e.g. <answer> 42 </answer>."
)
"""System prompt of the think style for math problems (K&K uses the puzzles package's own)."""

STYLES = ("auto", "chat", "base", "think", "think-base", "compact")
"""auto: the style the model was trained with when a LogicRL run wrote it (see `logicrl.eval.runner`),
else think for K&K and chat for math. chat: messages, the problem plus the instruction. base: one
string "Problem: ...\\n<instruction>\\nSolution:". think: a system prompt requiring <think>/<answer>
(the Logic-RL form). think-base: the same as one string ending in "Assistant: <think>". compact: the
quiz alone (K&K only), the embedded model's format (`puzzles.compact`)."""

_TRAINING_STYLES = {"kk": {"chat": "think", "base": "think-base", "compact": "compact"},
                    "math": {"chat": "chat", "base": "think-base"}}


def style_for_training(prompt_style: str, kind: str) -> str:
    """The evaluation style that builds the same prompt as a recipe's `data.prompt_style` (chat, base,
    compact) for a benchmark kind ("kk" or "math"). Raises ValueError when the pair has none."""
    try:
        return _TRAINING_STYLES[kind][prompt_style]
    except KeyError:
        raise ValueError(f"training prompt style {prompt_style!r} has no {kind} form") from None


@dataclass
class Prompt:
    """What a backend receives, and what the grader must prepend to the completion."""

    content: str | list[dict]
    """Chat messages or a plain string."""
    prefill: str = ""
    """Text the prompt put at the start of the answer (e.g. "<think>")."""


def resolve_style(style: str, kind: str) -> str:
    """The concrete style for a benchmark kind ("math" or "kk")."""
    if style not in STYLES:
        raise ValueError(f"prompt style must be one of {', '.join(STYLES)}, got {style!r}")
    if style == "auto":
        return "think" if kind == "kk" else "chat"
    return style


def build_prompt(problem, style: str = "auto", instruction: str = DEFAULT_INSTRUCTION) -> Prompt:
    """The prompt for a `benchmarks.Problem` in `style` (see STYLES)."""
    style = resolve_style(style, problem.kind)
    if problem.kind == "kk":
        from puzzles import make_prompt

        record = problem.record or {"quiz": problem.problem}
        if style == "think":
            return Prompt(make_prompt(record, style="chat"))
        if style == "think-base":
            return Prompt(make_prompt(record, style="base"), prefill="<think>")
        if style == "compact":
            return Prompt(make_prompt(record, style="compact"))
        # chat / base for K&K: the quiz plus the configurable instruction, no tag requirement
        text = f"{problem.problem}\n\n{instruction}".strip()
        return Prompt([{"role": "user", "content": text}] if style == "chat" else f"{text}\nAnswer:")
    if style == "compact":
        raise ValueError("the compact prompt style is for Knights-and-Knaves puzzles only")
    if style == "chat":
        return Prompt([{"role": "user", "content": f"{problem.problem}\n\n{instruction}".strip()}])
    if style == "base":
        return Prompt(f"Problem: {problem.problem}\n{instruction}\nSolution:")
    if style == "think":
        return Prompt([{"role": "system", "content": THINK_SYSTEM_PROMPT},
                       {"role": "user", "content": problem.problem}])
    return Prompt(f"{THINK_SYSTEM_PROMPT}\n\nUser: {problem.problem}\nAssistant: <think>", prefill="<think>")


def render_plain(messages: list[dict]) -> str:
    """Messages as plain text for a tokenizer without a chat template:
    "System: ...\\n\\nUser: ...\\nAssistant:"."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\nAssistant:"
