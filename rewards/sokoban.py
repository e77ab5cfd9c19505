"""`sokoban`: MageBench's Sokoban score of a reply, as a reward (`rewards.get("sokoban", ...)`).

Single-turn (Sokoban-Global): the reply's plan is read by a reply parser (`parser`: "magebench",
MageBench's own, by default; "tolerant"; see `agents.parsing`) and replayed on the row's level, every
move in order until the episode ends, exactly as MageBench's Global loop does; the episode is scored
with MageBench's formula ``(best running total reward - U) * 5 + 100`` (`agents.sokoban.scoring`).
The level comes from the dataset column ``level``: XSB text with its optimal moves recorded (as
`agents.sokoban.Level.to_xsb` writes it; `logicrl`'s ``data.kind: sokoban`` makes such rows).

Multi-turn (Sokoban-Online) rollouts play their episodes themselves and hand the results over in
the columns ``sokoban_score`` and ``sokoban_do_nothing`` (and ``sokoban_solved``, ``sokoban_steps``,
``sokoban_parse_failures``); the reward then returns that score, scaled, without parsing anything.

`scale`: ``"score"`` (default) MageBench's score as is (100 optimal; never below doing nothing,
``100 - 5 U``, about 34 to 55); ``"unit"`` ``(score - do_nothing) / (100 - do_nothing)``, 0 for doing
nothing and 1 for optimal play, so levels of every difficulty weigh alike; ``"fraction"`` score / 100.

With TRL's ``environment_factory`` (`agents.sokoban.tools.SokobanToolEnv`), the environment's own
``get_reward`` is the reward; this one then only reports the episode's components (reward None).

Breakdown components: ``score`` (MageBench's, unscaled), ``solved`` (0/1, also logged as ``correct``,
so training logs an accuracy), ``moves`` (moves parsed), ``steps`` (moves played before the end),
``parsed`` (1 when the reply yielded at least one move / parse failures for Online).

`agents` (numpy, gymnasium) is imported on the first call, not with this module.
"""

from __future__ import annotations

import functools
import math

from rewards.registry import RewardConfigError, RewardFn, register
from rewards.textutil import completion_text

SCALES = ("score", "unit", "fraction")
ONLINE_COLUMNS = ("sokoban_score", "sokoban_do_nothing", "sokoban_solved", "sokoban_steps",
                  "sokoban_parse_failures")
"""Columns an Online rollout writes (one value per completion); `sokoban_score` present = Online."""


@functools.lru_cache(maxsize=8192)
def _level(xsb: str):
    from agents.sokoban.level import Level

    return Level.from_xsb(xsb)


def score_plan(level, reply: str, parser: str = "magebench") -> dict:
    """Play `reply`'s plan on `level` as MageBench's Global loop does: {"score", "do_nothing",
    "solved", "steps", "moves"}. `level`: a `Level` or XSB text (optimal moves recorded)."""
    from agents.parsing import get_parser
    from agents.sokoban.agent import SokobanEpisode
    from agents.sokoban.prompts import MOVES

    lv = _level(level) if isinstance(level, str) else level
    moves = get_parser(parser).plan(reply, MOVES)
    episode = SokobanEpisode(lv)
    for m in moves:
        if episode.act(m):
            break
    r = episode.result()
    return {"score": r["score"], "do_nothing": r["do_nothing_score"], "solved": bool(r["solved"]),
            "steps": r["steps"], "moves": len(moves)}


def _scaled(score: float, do_nothing: float, scale: str) -> float:
    from agents.sokoban.tools import scale_score

    return scale_score(score, do_nothing, scale)


def _value(column, i):
    if column is None:
        return None
    if i >= len(column):
        raise ValueError(f"reward 'sokoban': a dataset column has {len(column)} values for more completions")
    v = column[i]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _number(column, i, name: str) -> float | None:
    """Row i of an Online rollout's numeric column: a finite float or None. ValueError otherwise."""
    v = _value(column, i)
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"reward 'sokoban': column {name!r} row {i} is not a number: {str(v)[:40]!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"reward 'sokoban': column {name!r} row {i} is not finite: {x}")
    return x


@register("sokoban", factory=True)
def sokoban(parser: str = "magebench", scale: str = "score") -> RewardFn:
    """The `sokoban` reward (see the module docstring). Raises RewardConfigError for an unknown parser
    or scale."""
    if scale not in SCALES:
        raise RewardConfigError(f"reward 'sokoban': scale must be one of {', '.join(SCALES)}, got {scale!r}")
    from agents.parsing import get_parser

    try:
        get_parser(parser)
    except ValueError as exc:
        raise RewardConfigError(f"reward 'sokoban': {exc}") from None

    def breakdown(prompts, completions, level=None, sokoban_score=None, sokoban_do_nothing=None,
                  sokoban_solved=None, sokoban_steps=None, sokoban_parse_failures=None, environments=None,
                  **_columns):
        rows = []
        for i, completion in enumerate(completions):
            env = environments[i] if environments is not None and i < len(environments) else None
            result = env._result() if hasattr(env, "_result") else None
            if result is not None:  # TRL's environment_factory: the environment's get_reward is the reward
                rows.append({"reward": None, "score": float(result["score"]), "solved": float(result["solved"]),
                             "correct": float(result["solved"]), "steps": float(result["steps"])})
                continue
            online = _number(sokoban_score, i, "sokoban_score")
            if online is not None:
                do_nothing = _number(sokoban_do_nothing, i, "sokoban_do_nothing") or 0.0
                solved = bool(_value(sokoban_solved, i))
                failures = _number(sokoban_parse_failures, i, "sokoban_parse_failures") or 0.0
                rows.append({"reward": _scaled(online, do_nothing, scale), "score": online,
                             "solved": float(solved), "correct": float(solved),
                             "steps": _number(sokoban_steps, i, "sokoban_steps") or 0.0, "parse_failures": failures})
                continue
            xsb = _value(level, i)
            if xsb is None:
                if level is None and sokoban_score is None:
                    raise ValueError("reward 'sokoban' needs a 'level' column (XSB text) or an Online "
                                     "rollout's 'sokoban_score'")
                rows.append({"reward": None})
                continue
            if not isinstance(xsb, str):
                raise ValueError(f"reward 'sokoban': column 'level' row {i} is not XSB text but "  # noqa: TRY004 - a bad value in a dataset column
                                 f"{type(xsb).__name__}")
            r = score_plan(xsb, completion_text(completion), parser)
            rows.append({"reward": _scaled(r["score"], r["do_nothing"], scale), "score": r["score"],
                         "solved": float(r["solved"]), "correct": float(r["solved"]),
                         "steps": float(r["steps"]), "moves": float(r["moves"]), "parsed": float(r["moves"] > 0)})
        return rows

    return RewardFn("sokoban", breakdown)
