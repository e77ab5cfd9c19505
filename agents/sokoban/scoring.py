"""MageBench's Sokoban score, its baselines, and summaries.

Score of an episode (microsoft/MageBench ``env/sokoban_env.py:76-91``):
``(best running total reward - U) * 5 + 100``, where the running total is the sum of the
environment's rewards so far, its best value over the episode starts at 0 (before any step), and
U is the level's optimal reward (``10 + boxes - 0.1 * optimal moves``). Optimal play scores 100,
each extra step -0.5, doing nothing ``100 - 5 U``; because only the best prefix counts, the score
never falls below doing nothing and mistakes after a good prefix cost nothing.

Rewards are multiples of 0.1, so sums are kept in integer tenths here: the score is exact (a multiple
of 0.5) where MageBench's float arithmetic may differ from it by ~1e-14.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence

from agents.sokoban.env import SokobanEnv
from agents.sokoban.level import Level


def tenths(x: float) -> int:
    """A reward (a multiple of 0.1, up to float noise) in integer tenths."""
    return round(x * 10)


def magebench_score(best_reward: float, optimal_reward: float) -> float:
    """``(best_reward - optimal_reward) * 5 + 100``, exactly (rewards are multiples of 0.1)."""
    return (tenths(best_reward) - tenths(optimal_reward)) / 2 + 100


def do_nothing_score(optimal_reward: float) -> float:
    """The score of an episode with no step: ``100 - 5 U``."""
    return magebench_score(0.0, optimal_reward)


class RewardTracker:
    """MageBench's per-episode bookkeeping: running total and its best value (starting at 0)."""

    def __init__(self, optimal_reward: float):
        self.optimal_reward = optimal_reward
        self.rewards: list[float] = []
        self._total = 0
        self._best = 0

    def add(self, reward: float) -> None:
        self.rewards.append(reward)
        self._total += tenths(reward)
        self._best = max(self._best, self._total)

    @property
    def total_reward(self) -> float:
        return self._total / 10

    @property
    def best_reward(self) -> float:
        return self._best / 10

    @property
    def score(self) -> float:
        return (self._best - tenths(self.optimal_reward)) / 2 + 100


def require_optimal_reward(level: Level) -> float:
    if level.optimal_reward is None:
        raise ValueError(f"level {level.name or '(unnamed)'} has no optimal reward U recorded; "
                         "solve it first (agents.sokoban.with_optimal)")
    return level.optimal_reward


def random_agent_scores(level: Level, *, n_moves: int = 50, episodes: int = 10, seed: int = 0) -> list[float]:
    """Scores of a uniformly random agent: `episodes` runs of up to `n_moves` random moves (stopping
    when the level ends), each scored like any episode. Deterministic in `seed`.

    MageBench reports a random baseline (47.4 over its 182 levels) without the code that made it;
    50 moves is the Online turn limit.
    """
    u = require_optimal_reward(level)
    rng = random.Random(seed)
    env = SokobanEnv(level, observation="state")
    scores = []
    for _ in range(episodes):
        env.reset()
        tracker = RewardTracker(u)
        for _ in range(n_moves):
            _, r, term, trunc, _ = env.step(1 + int(rng.random() * 4))
            tracker.add(r)
            if term or trunc:
                break
        scores.append(tracker.score)
    return scores


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n); 0 for fewer than 2)."""
    v = list(values)
    if not v:
        return math.nan, math.nan
    m = statistics.fmean(v)
    se = statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else 0.0
    return m, se


def baselines(levels: Sequence[Level], *, n_moves: int = 50, episodes: int = 10, seed: int = 0) -> dict:
    """Do-nothing and random-agent baselines on `levels`: means with standard errors.

    The random agent's standard error is over levels (each level's mean over `episodes` runs).
    """
    nothing = [do_nothing_score(require_optimal_reward(lv)) for lv in levels]
    rand = [statistics.fmean(random_agent_scores(lv, n_moves=n_moves, episodes=episodes, seed=seed * 7919 + i))
            for i, lv in enumerate(levels)]
    dn, dn_se = mean_se(nothing)
    rm, r_se = mean_se(rand)
    return {"do_nothing_mean": dn, "do_nothing_se": dn_se, "random_mean": rm, "random_se": r_se,
            "random_moves": n_moves, "random_episodes": episodes}


def summarize(results: Sequence[dict], levels: Sequence[Level] | None = None, *, random_moves: int = 50,
              random_episodes: int = 10, seed: int = 0) -> dict:
    """Summary of episode results (dicts from `agents.loop.run_episodes`): mean score with standard
    error, success rate, steps used, parse failures, turns; with the do-nothing and random-agent
    baselines on the same `levels` when given."""
    scores = [r["score"] for r in results]
    mean, se = mean_se(scores)
    out = {
        "episodes": len(results),
        "score_mean": mean,
        "score_se": se,
        "success_rate": statistics.fmean(1.0 if r["solved"] else 0.0 for r in results) if results else math.nan,
        "steps_mean": statistics.fmean(r["steps"] for r in results) if results else math.nan,
        "parse_failures": sum(r.get("parse_failures", 0) for r in results),
        "parse_failure_episodes": sum(1 for r in results if r.get("parse_failures", 0)),
        "turns_mean": statistics.fmean(r.get("turns", 0) for r in results) if results else math.nan,
        "optimal_moves_mean": statistics.fmean(r["optimal_moves"] for r in results) if results else math.nan,
    }
    if levels is not None:
        out.update(baselines(levels, n_moves=random_moves, episodes=random_episodes, seed=seed))
    return out
