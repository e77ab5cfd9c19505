"""Sokoban as a tool-calling environment, for trainers that drive an episode through tool calls
(TRL's `GRPOTrainer(environment_factory=SokobanToolEnv)`: public methods are the tools, `reset`
starts an episode from the dataset row, `get_reward` scores it).

This is for models with a tool-calling chat template: each move is a call of the `move` tool and the
tool's answer is the new scene as a text grid. It is not MageBench's Online protocol (one
``# action`` reply per turn; `agents.loop.run_online`), so its scores are not comparable with
MageBench's; the score itself is MageBench's formula on the episode's rewards.
"""

from __future__ import annotations

from agents.sokoban.agent import SokobanEpisode
from agents.sokoban.level import Level
from agents.sokoban.prompts import MOVES, TEXT_OBSERVATION_HEADER


class SokobanToolEnv:
    """One Sokoban episode behind a `move` tool.

    `reset(level=XSB text, **other columns)` starts the row's level (its optimal moves recorded, as
    `Level.to_xsb` writes them) and returns the scene; `move(direction)` plays one move and returns
    the scene after it; `get_reward()` is the episode's MageBench score so far, optionally scaled
    (`scale="unit"`: 0 doing nothing, 1 optimal; `"fraction"`: score / 100).
    """

    def __init__(self, scale: str = "score", max_steps: int | None = None):
        if scale not in ("score", "unit", "fraction"):
            raise ValueError(f"scale must be 'score', 'unit' or 'fraction', got {scale!r}")
        self._scale = scale
        self._max_steps = max_steps
        self._episode: SokobanEpisode | None = None

    def reset(self, level: str | Level | None = None, **row) -> str:
        if level is None:
            raise ValueError("SokobanToolEnv.reset needs the row's 'level' column (XSB text)")
        lv = level if isinstance(level, Level) else Level.from_xsb(level)
        self._episode = SokobanEpisode(lv, max_steps=self._max_steps)
        return self._scene("Use the move tool to push every box onto a target.")

    def _scene(self, note: str) -> str:
        return f"{note}\n{TEXT_OBSERVATION_HEADER}\n{self._episode.env.text()}"

    def move(self, direction: str) -> str:
        """Move the character one cell, pushing the box in front of it if there is one.

        Args:
            direction: The move: "Up", "Down", "Left" or "Right".

        Returns:
            The game scene after the move, as a text grid.
        """
        if self._episode is None:
            raise RuntimeError("call reset() first")
        if direction not in MOVES:
            raise ValueError(f"direction must be one of {', '.join(MOVES)}")
        if self._episode.done:
            return "The episode has ended; no more moves are taken."
        ended = self._episode.act(direction)
        if ended:
            return self._scene("Solved: every box is on a target." if self._episode.env.solved
                               else "The step limit is reached: the episode has ended.")
        return self._scene("Moved.")

    def get_reward(self) -> float:
        if self._episode is None:
            return 0.0
        r = self._episode.result()
        return scale_score(r["score"], r["do_nothing_score"], self._scale)

    def _result(self) -> dict | None:
        """The episode's result (`SokobanEpisode.result()`), None before `reset` (not a tool: private)."""
        return None if self._episode is None else self._episode.result()


def scale_score(score: float, do_nothing: float, scale: str = "score") -> float:
    """A MageBench score as a reward: ``"score"`` as is; ``"unit"`` ``(score - do_nothing) /
    (100 - do_nothing)``, 0 for doing nothing and 1 for optimal play (scores never fall below doing
    nothing); ``"fraction"`` ``score / 100``."""
    if scale == "score":
        return float(score)
    if scale == "fraction":
        return float(score) / 100.0
    if scale == "unit":
        gap = 100.0 - do_nothing
        return (float(score) - do_nothing) / gap if gap > 0 else 1.0
    raise ValueError(f"scale must be 'score', 'unit' or 'fraction', got {scale!r}")
