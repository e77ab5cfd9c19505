"""Sokoban as an `agents.loop.AgentEpisode`: MageBench's prompts, scenes and score for one level."""

from __future__ import annotations

from collections.abc import Sequence

from agents.loop import AgentSettings, Policy, Scene, run_episodes
from agents.sokoban.env import ACTIONS, SokobanEnv
from agents.sokoban.level import Level
from agents.sokoban.prompts import (
    GLOBAL_FORMAT_PROMPT,
    MOVES,
    ONLINE_FORMAT_PROMPT,
    SYSTEM_PROMPT,
    TEXT_OBSERVATION_HEADER,
)
from agents.sokoban.scoring import RewardTracker, do_nothing_score, require_optimal_reward


class SokobanEpisode:
    """One MageBench Sokoban episode on `level` (which must have its optimal reward U recorded)."""

    actions = MOVES
    system_prompt = SYSTEM_PROMPT
    text_observation_header = TEXT_OBSERVATION_HEADER

    def __init__(self, level: Level, max_steps: int | None = None):
        self.level = level
        self.optimal_reward = require_optimal_reward(level)
        self.env = SokobanEnv(level, max_steps=max_steps, observation="state")
        self.tracker = RewardTracker(self.optimal_reward)
        self.done = False
        self.moves: list[str] = []

    def format_prompt(self, mode: str) -> str:
        return GLOBAL_FORMAT_PROMPT if mode == "global" else ONLINE_FORMAT_PROMPT

    def scene(self, settings: AgentSettings) -> Scene:
        png = self.env.png(settings.resolution) if settings.observation in ("image", "both") else None
        text = self.env.text() if settings.observation in ("text", "both") else None
        return Scene(png=png, text=text)

    def act(self, action: str) -> bool:
        if self.done:
            raise RuntimeError("the episode has ended")
        _, reward, terminated, truncated, _ = self.env.step(ACTIONS[action])
        self.tracker.add(reward)
        self.moves.append(action)
        self.done = terminated or truncated
        return self.done

    def result(self) -> dict:
        lv = self.level
        return {
            "level": lv.name,
            "config": lv.config,
            "optimal_moves": lv.optimal_moves,
            "optimal_reward": self.optimal_reward,
            "score": self.tracker.score,
            "best_reward": self.tracker.best_reward,
            "total_reward": self.tracker.total_reward,
            "do_nothing_score": do_nothing_score(self.optimal_reward),
            "solved": self.env.solved,
            "steps": self.env.steps,
            "moves": list(self.moves),
        }


def play(levels: Sequence[Level], policy: Policy, settings: AgentSettings | None = None) -> list[dict]:
    """Play every level once with `policy` (batched across levels); one result dict per level:
    level, config, optimal_moves, optimal_reward, score, best_reward, total_reward, do_nothing_score,
    solved, steps, moves, replies, parsed, parse_failures, turns."""
    settings = settings or AgentSettings()
    return run_episodes([SokobanEpisode(lv) for lv in levels], policy, settings)
