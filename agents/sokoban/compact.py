"""The compact Sokoban prompt: the scene grid and an actions heading, for small models trained here.

MageBench's messages (its system prompt, the format instruction and the scene) come to about 750
tokens in the embedded model's tokenizer (trained on Knights-and-Knaves text); the scene grid alone
is one token per cell (`#`, space, `@`, `$`, `.`, newline). The compact format keeps only the grid
and the heading that MageBench's format asks the reply to start its moves with:

    #######
    #  @  #
    # $$. #
    ### ###
    ##  ###
    ###.###
    #######
    ### Actions
                        <- the prompt ends here; the completion is the plan:
    Down, Up, Left, Left, Down, Right, Right, Down, Down

The completion is MageBench's own move list, so MageBench's parser reads it unchanged (a reply
without "### Actions" is read whole). Online, the heading is ``# action`` and the completion one move.
It is a plain string (no chat template), as the K&K demo's compact format (`puzzles.compact`) is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agents.sokoban.level import Level
from agents.sokoban.prompts import TEXT_OBSERVATION_HEADER

HEADINGS = {"global": "### Actions\n", "online": "# action\n"}
"""What follows the grid in a compact prompt, per mode (MageBench's own headings)."""

_GRID_CHARS = set("#@$.*+ ")


def compact_prompt(scene: Level | str, mode: str = "global") -> str:
    """The compact prompt of a scene: its grid (a `Level` or the text grid), a newline, the heading.
    Raises ValueError for an unknown mode."""
    if mode not in HEADINGS:
        raise ValueError(f"mode must be 'global' or 'online', got {mode!r}")
    grid = scene.text_grid() if isinstance(scene, Level) else str(scene).strip("\n")
    return f"{grid}\n{HEADINGS[mode]}"


def compact_completion(moves: Iterable[str]) -> str:
    """The plan as MageBench's comma-separated move list (``Up, Left, Down``)."""
    return ", ".join(moves)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def scene_grid(messages: Sequence[dict]) -> str | None:
    """The newest text grid in a conversation built by `agents.loop` with a text observation: the grid
    lines after the last text-observation header. None when no message holds one."""
    for message in reversed(messages):
        text = _text(message.get("content"))
        at = text.rfind(TEXT_OBSERVATION_HEADER)
        if at < 0:
            continue
        lines = text[at + len(TEXT_OBSERVATION_HEADER):].split("\n")[1:]
        grid = []
        for line in lines:
            if not line or set(line) - _GRID_CHARS:
                break
            grid.append(line)
        if grid:
            return "\n".join(grid)
    return None
