"""Seeded, fast Sokoban level generator: reverse play from a solved room, as gym-sokoban does.

Steps for one level (1-3 are gym-sokoban 0.0.6's ``room_utils.generate_room``):
1. carve the room by gym-sokoban's random walk (its five 3x3 masks, direction change with
   probability 0.35, ``walk_steps`` steps, a wall ring);
2. put the player and the boxes, each box on its own target, on random floor cells;
3. play backwards from that solved room with gym-sokoban's depth-first reverse search
   (`reverse_search`: the same eight reverse actions in the same order, the same depth limit and the
   same score, tested state for state against gym-sokoban's own function), keeping the best-scoring
   room in which no box and not the player stands on a target. gym-sokoban stops after 300,000
   states (about 45 s for a 13x13 room on this machine); `GeneratorSettings.max_states` sets the stop
   here (300,000 for 7x7 rooms, whose search never gets that far, so they are exactly gym-sokoban's;
   20,000 from 10x10 up). Room states are Python integers used as bit sets instead of
   gym-sokoban's numpy copies: about 12x faster state for state;
4. solve the candidate optimally (`agents.sokoban.solve`, bounded by ``max_moves`` and by
   ``max_expansions``) and keep it when its optimal length lies in ``[min_moves, max_moves]``, the
   range MageBench's own levels of that configuration span. Candidates the solver cannot finish
   within its budget are dropped, so every level comes with an exact optimal solution and U.

Everything is drawn from one ``random.Random`` seeded with `seed` (only ``random()`` is used, whose
stream Python keeps stable), so a (config, seed) pair always gives the same level.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agents.sokoban.configs import CONFIGS, SokobanConfig, get_config
from agents.sokoban.level import Level, moves_to_lurd
from agents.sokoban.solver import MOVES, SolverBudgetExceeded, _search

# gym-sokoban's topology masks (room_utils.room_topology_generation).
_MASKS = (
    ((0, 0, 0), (1, 1, 1), (0, 0, 0)),
    ((0, 1, 0), (0, 1, 0), (0, 1, 0)),
    ((0, 0, 0), (1, 1, 0), (0, 1, 0)),
    ((0, 0, 0), (1, 1, 0), (1, 1, 0)),
    ((0, 0, 0), (0, 1, 1), (0, 1, 0)),
)
_DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))


@dataclass(frozen=True)
class GeneratorSettings:
    """Search effort of the reverse play for one configuration.

    max_states: room states the reverse search explores per candidate (gym-sokoban: 300,000).
    min_moves, max_moves: optimal lengths kept (MageBench's levels: 2 to 50).
    max_expansions: solver budget per candidate (push states); candidates past it are dropped.
    max_candidates: candidates tried before `generate_level` gives up with RuntimeError.
    """

    max_states: int = 20_000
    min_moves: int = 2
    max_moves: int = 50
    max_expansions: int = 100_000
    max_candidates: int = 10_000


GENERATOR_SETTINGS: dict[str, GeneratorSettings] = {
    # 7x7 rooms never reach gym-sokoban's 300,000 states: the search is exactly gym-sokoban's.
    "small-v0": GeneratorSettings(max_states=300_000, min_moves=2),
    "small-v1": GeneratorSettings(max_states=300_000, min_moves=6),
    "v0": GeneratorSettings(min_moves=12),
    "v1": GeneratorSettings(min_moves=14),
    "v2": GeneratorSettings(min_moves=18),
    "large-v0": GeneratorSettings(min_moves=13),
    "large-v1": GeneratorSettings(min_moves=29),
    "huge-v0": GeneratorSettings(min_moves=29),
}
"""Per configuration: the reverse search stops after 20,000 states from 10x10 up (gym-sokoban:
300,000; about 10x less time per 13x13 room, for levels about 3 moves shorter on average at
huge-v0, measured on 16 rooms), and optimal lengths are kept within the range MageBench's own
levels of that configuration span (``min_moves`` = the shortest in ``upper_bound.json``, 178 of
182 entries read; ``max_moves`` = 50 for all)."""


def _randbelow(rand, n: int) -> int:
    return int(rand() * n)


def room_topology(rng: random.Random, height: int, width: int, walk_steps: int) -> list[list[int]]:
    """gym-sokoban's room carving: 1 = floor, 0 = wall, a wall ring around."""
    rand = rng.random
    level = [[0] * width for _ in range(height)]
    direction = _DIRECTIONS[_randbelow(rand, 4)]
    r = 1 + _randbelow(rand, height - 1)
    c = 1 + _randbelow(rand, width - 1)
    for _ in range(walk_steps):
        if rand() < 0.35:
            direction = _DIRECTIONS[_randbelow(rand, 4)]
        r = max(min(r + direction[0], height - 2), 1)
        c = max(min(c + direction[1], width - 2), 1)
        mask = _MASKS[_randbelow(rand, 5)]
        for i in range(3):
            for j in range(3):
                if mask[i][j]:
                    level[r - 1 + i][c - 1 + j] = 1
    for i in range(height):
        level[i][0] = level[i][width - 1] = 0
    for j in range(width):
        level[0][j] = level[height - 1][j] = 0
    return level


def reverse_search(width: int, floor_mask: int, targets: list[int], player: int,
                   max_states: int = 300_000, ttl: int = 300):
    """gym-sokoban's reverse play (``room_utils.reverse_playing``), state for state.

    Depth-first from the solved room over the eight reverse actions in gym-sokoban's order (pull or
    move up, down, left, right, then move only), at most `ttl` - 1 deep, each room state explored
    once, stopping after `max_states` states (gym-sokoban: 300,000). A state scores
    ``pulls on the path * sum of the boxes' Manhattan distances from their own targets`` when no
    box and not the player stand on a target, else 0 (gym-sokoban counts every pull as a "box swap"
    because its recursion passes the parent's ``last_pull``). Returns
    ``((player, box_mask), best_score, states_explored)``; best_score 0 means no usable room.

    Cells are flat indices ``row * width + column``; `floor_mask` has a bit per floor cell; `targets`
    in row-major order (gym-sokoban's box order). Tested against gym-sokoban's own function.
    """
    floor_mask, player, targets = int(floor_mask), int(player), [int(t) for t in targets]
    deltas = (-width, width, -1, 1)
    target_mask = 0
    for t in targets:
        target_mask |= 1 << t
    trc = [divmod(t, width) for t in targets]
    explored: set = set()
    best = [None, -1]

    def dfs(p, boxes_mask, moved, boxes, pulls, ttl):
        ttl -= 1
        if ttl <= 0 or len(explored) >= max_states:
            return
        key = (p, boxes_mask, moved)
        if key in explored:
            return
        if boxes_mask & target_mask or (target_mask >> p) & 1:
            score = 0
        else:
            disp = 0
            for b, (tr, tc) in zip(boxes, trc):
                br, bc = divmod(b, width)
                disp += abs(br - tr) + abs(bc - tc)
            score = pulls * disp
        if score > best[1]:
            best[0], best[1] = (p, boxes_mask), score
        explored.add(key)
        if ttl <= 1:
            return  # every child would stop at its own ttl check
        for a in range(8):
            d = deltas[a & 3]
            n = p + d
            if not (floor_mask >> n) & 1 or (boxes_mask >> n) & 1:
                continue  # blocked: gym-sokoban recurses into the same, already explored, state
            behind = p - d
            if a < 4 and (boxes_mask >> behind) & 1:
                nb, nm = boxes_mask ^ (1 << behind) ^ (1 << p), (moved & ~(1 << behind)) | (1 << p)
                if (n, nb, nm) not in explored:  # an explored child returns at once in gym-sokoban too
                    i = boxes.index(behind)
                    dfs(n, nb, nm, boxes[:i] + (p,) + boxes[i + 1:], pulls + 1, ttl)
            elif (n, boxes_mask, moved) not in explored:
                dfs(n, boxes_mask, moved, boxes, pulls, ttl)

    dfs(player, target_mask, 0, tuple(targets), 0, ttl)
    return best[0], best[1], len(explored)


def _candidate(rng: random.Random, cfg: SokobanConfig, settings: GeneratorSettings):
    """One candidate level (rows, walk length bound) or None when this room fails."""
    h, w, k = cfg.height, cfg.width, cfg.boxes
    room = room_topology(rng, h, w, cfg.walk_steps)
    floor = [r * w + c for r in range(h) for c in range(w) if room[r][c]]
    if len(floor) <= k + 1:  # gym-sokoban: "Not enough free spots"
        return None
    player = floor[_randbelow(rng.random, len(floor))]
    free = [i for i in floor if i != player]
    targets = []
    for _ in range(k):
        t = free.pop(_randbelow(rng.random, len(free)))
        targets.append(t)
    floor_mask = 0
    for i in floor:
        floor_mask |= 1 << i
    targets.sort()
    found, score, _ = reverse_search(w, floor_mask, targets, player, settings.max_states)
    if score <= 0:
        return None
    p, box_mask = found
    target_set = set(targets)
    rows = []
    for r in range(h):
        row = []
        for c in range(w):
            i = r * w + c
            if not room[r][c]:
                row.append("#")
            elif i == p:
                row.append("+" if i in target_set else "@")
            elif (box_mask >> i) & 1:
                row.append("*" if i in target_set else "$")
            else:
                row.append("." if i in target_set else " ")
        rows.append("".join(row))
    return tuple(rows)


def generate_level(config: str | SokobanConfig, seed: int, *, settings: GeneratorSettings | None = None,
                   name: str = "") -> Level:
    """One level of `config` from `seed`, with its optimal solution, optimal moves and U recorded.

    Deterministic in (config, seed, settings). Raises RuntimeError when `settings.max_candidates`
    candidates in a row fail (never seen with the default settings).
    """
    cfg = config if isinstance(config, SokobanConfig) else get_config(config)
    settings = settings or GENERATOR_SETTINGS.get(cfg.name, GeneratorSettings())
    rng = random.Random(seed)
    for _ in range(settings.max_candidates):
        cand = _candidate(rng, cfg, settings)
        if cand is None:
            continue
        rows = cand
        level = Level(rows, name=name, config=cfg.name, max_steps=cfg.max_steps, seed=seed)
        try:
            out = _search(level, settings.max_moves, settings.max_expansions)
        except SolverBudgetExceeded:
            continue
        if out is None:
            continue
        dirs, pushes = out
        if not settings.min_moves <= len(dirs) <= settings.max_moves:
            continue
        moves = [MOVES[k] for k in dirs]
        return level.replace(optimal_moves=len(moves), solution=moves_to_lurd(moves, pushes))
    raise RuntimeError(f"no {cfg.name} level within {settings.max_candidates} candidates (seed {seed})")


def generate_levels(mix: dict[str, int], seed: int = 0, progress: bool = False) -> list[Level]:
    """Levels for a configuration mix such as ``{"small-v0": 50, ...}``, named ``NNN-<config>``.

    Level i of the whole list uses the seed ``seed * 1_000_003 + i`` (recorded in the level), so any
    level can be regenerated alone.
    """
    jobs = [(name, n) for name, n in mix.items()]
    for name, _ in jobs:
        get_config(name)
    total = sum(n for _, n in jobs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="levels", unit="level")
    levels, i = [], 0
    for name, n in jobs:
        for _ in range(n):
            s = seed * 1_000_003 + i
            levels.append(generate_level(name, s, name=f"{i:03d}-{name}"))
            i += 1
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return levels


__all__ = ["CONFIGS", "GENERATOR_SETTINGS", "GeneratorSettings", "generate_level", "generate_levels",
           "room_topology"]
