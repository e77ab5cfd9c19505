"""Solver optimality against brute force, solutions that replay, bounds and budgets; the generator."""

import random

import pytest

from agents.sokoban import (
    Level,
    SolverBudgetExceeded,
    generate_level,
    lurd_to_moves,
    solve,
    solve_brute_force,
    solve_lurd,
)
from agents.sokoban.configs import CONFIGS
from agents.sokoban.generate import GeneratorSettings, _candidate
from agents.sokoban.levelsets import replay


def small_candidates(n, seed, configs=("small-v0", "small-v1")):
    """Unfiltered reverse-play rooms (not only the ones the generator keeps), as Levels."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        cfg = CONFIGS[configs[len(out) % len(configs)]]
        rows = _candidate(rng, cfg, GeneratorSettings(max_states=3000))
        if rows is not None:
            out.append(Level(rows))
    return out


def test_solver_is_optimal_against_brute_force():
    levels = small_candidates(200, seed=1)
    # hand-made: a push that must be undone first, and a level needing a detour
    levels.append(Level.from_xsb("#######\n#.$@  #\n# $   #\n#.    #\n#######\n"))
    levels.append(Level.from_xsb("########\n#  .   #\n# #$## #\n#   @  #\n########\n"))
    for lv in levels:
        moves = solve(lv)
        assert moves is not None, lv.text_grid()
        assert len(moves) == solve_brute_force(lv, max_moves=len(moves)), lv.text_grid()
        env = replay(lv, moves)
        assert env.solved


def test_lurd_marks_pushes_and_replays():
    lv = Level.from_xsb("#######\n#     #\n# $@. #\n#  $  #\n#  .  #\n#######\n")
    assert solve_lurd(lv) == "DlluRR"
    assert lurd_to_moves("DlluRR") == solve(lv)


def test_unsolvable_bounds_and_budget():
    stuck = Level.from_xsb("#####\n#$  #\n#  @#\n# . #\n#####\n")  # box in a corner
    assert solve(stuck) is None
    assert solve_brute_force(stuck, max_moves=12) is None
    lv = Level.from_xsb("#######\n#     #\n# $@. #\n#  $  #\n#  .  #\n#######\n")
    assert solve(lv, max_moves=5) is None and solve(lv, max_moves=6) is not None
    assert solve(Level.from_xsb("#####\n#@* #\n#####\n")) == []
    with pytest.raises(SolverBudgetExceeded):
        solve(generate_level("v0", 4), max_expansions=1)


def test_generator_is_deterministic_and_records_optimal_data():
    a = generate_level("v0", 11)
    b = generate_level("v0", 11)
    assert a == b and a != generate_level("v0", 12)
    for seed in range(6):
        lv = generate_level("small-v0", seed)
        assert lv.config == "small-v0" and lv.seed == seed and lv.max_steps == 200
        assert 2 <= lv.optimal_moves <= 50 and lv.n_boxes == 2 and (lv.height, lv.width) == (7, 7)
        assert len(solve(lv)) == lv.optimal_moves
        assert replay(lv, lurd_to_moves(lv.solution)).solved
        assert lv.optimal_reward == (100 + 10 * 2 - lv.optimal_moves) / 10
        # gym-sokoban's rule: every target starts empty and the player is not on one.
        assert lv.boxes_on_targets == 0 and lv.player not in lv.targets
