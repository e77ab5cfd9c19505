"""The eight gym-sokoban configurations MageBench draws its Sokoban levels from.

Sizes, box counts, step limits and random-walk lengths are gym-sokoban 0.0.6's
(``gym_sokoban/envs/sokoban_env_variations.py`` and ``sokoban_env.py``; the walk length defaults to
``int(1.7 * (height + width))``). One deliberate difference: ``Sokoban-large-v1`` is defined twice in
that file (4 boxes, then 5, and the second wins), but the optimal rewards MageBench recorded for its
18 large-v1 levels (``resources/Sokoban/upper_bound.json``: ``U = 10 + 4 - 0.1 * steps``) imply
4 boxes, so large-v1 here has 4.

``magebench_mean_moves`` is the mean optimal solution length of MageBench's levels of that
configuration (read from ``resources/Sokoban/upper_bound.json``, 178 of its 182 entries; their
overall mean, 25.25, matches the 25.3 of all 182): what the generator is compared with
(benchmarks/bench_sokoban.py). Every MageBench level has 2 to 50 moves.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SokobanConfig:
    """One level configuration.

    name: gym-sokoban's id without the ``Sokoban-`` prefix (``small-v0``).
    height, width: room size in cells (gym-sokoban's ``dim_room``).
    boxes: number of boxes (and targets).
    max_steps: the episode's step limit.
    walk_steps: steps of the random walk that carves the room (gym-sokoban's ``num_gen_steps``).
    magebench_mean_moves: mean optimal moves of MageBench's levels of this configuration.
    """

    name: str
    height: int
    width: int
    boxes: int
    max_steps: int
    walk_steps: int
    magebench_mean_moves: float

    @property
    def gym_id(self) -> str:
        return f"Sokoban-{self.name}"


CONFIGS: dict[str, SokobanConfig] = {c.name: c for c in (
    SokobanConfig("small-v0", 7, 7, 2, 200, 23, 10.6),
    SokobanConfig("small-v1", 7, 7, 3, 200, 23, 17.9),
    SokobanConfig("v0", 10, 10, 3, 200, 34, 23.7),
    SokobanConfig("v1", 10, 10, 4, 120, 34, 30.0),
    SokobanConfig("v2", 10, 10, 5, 200, 40, 38.0),
    SokobanConfig("large-v0", 13, 11, 3, 300, 43, 27.9),
    SokobanConfig("large-v1", 13, 11, 4, 300, 43, 38.8),
    SokobanConfig("huge-v0", 13, 13, 5, 300, 50, 37.1),
)}

DEFAULT_MAX_STEPS = 200
"""Step limit of a level with neither its own `max_steps` nor a known config."""

# MageBench's level mixes (resources/Sokoban_all.json and Sokoban_mini.json).
MAGEBENCH_MIX = {"small-v0": 50, "small-v1": 20, "v0": 15, "v1": 24, "v2": 22, "large-v0": 14,
                 "large-v1": 18, "huge-v0": 19}
MAGEBENCH_MINI_MIX = {"small-v0": 9, "small-v1": 3, "v0": 2, "v1": 1, "large-v0": 3, "huge-v0": 2}


def get_config(name: str) -> SokobanConfig:
    """The configuration called `name` (``small-v0`` or ``Sokoban-small-v0``); ValueError otherwise."""
    key = name.removeprefix("Sokoban-")
    try:
        return CONFIGS[key]
    except KeyError:
        raise ValueError(f"unknown Sokoban configuration {name!r}; known: {', '.join(CONFIGS)}") from None


def max_steps_for(level) -> int:
    """The step limit of `level`: its own, else its config's, else 200."""
    if level.max_steps is not None:
        return level.max_steps
    if level.config in CONFIGS:
        return CONFIGS[level.config].max_steps
    return DEFAULT_MAX_STEPS
