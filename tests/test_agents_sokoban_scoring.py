"""MageBench's score, exactly: (best running total - U) * 5 + 100, best starting at 0; baselines."""

import random

import pytest

from agents.sokoban import (
    Level,
    SokobanEnv,
    SokobanEpisode,
    baselines,
    do_nothing_score,
    generate_level,
    magebench_score,
    random_agent_scores,
    summarize,
)
from agents.sokoban.scoring import RewardTracker, mean_se

SIMPLE = "; optimal_moves: 6\n#######\n#     #\n# $@. #\n#  $  #\n#  .  #\n#######\n"


def run(level, moves):
    ep = SokobanEpisode(level)
    for m in moves:
        if ep.act(m):
            break
    return ep.result()


def test_score_arithmetic_on_a_hand_made_level():
    lv = Level.from_xsb(SIMPLE)
    assert lv.optimal_reward == 11.4
    opt = ["Down", "Left", "Left", "Up", "Right", "Right"]
    r = run(lv, opt)
    assert (r["score"], r["best_reward"], r["solved"], r["steps"]) == (100.0, 11.4, True, 6)
    r = run(lv, ["Up", "Down"] + opt)   # two wasted steps: -0.5 each
    assert r["score"] == 99.0 and r["total_reward"] == 11.2
    r = run(lv, [])                     # doing nothing
    assert r["score"] == 43.0 == do_nothing_score(11.4) == 100 - 5 * 11.4
    # best prefix: a box onto its target (+0.9) then off again (-1.1): the +0.9 prefix counts.
    r = run(lv, ["Down", "Left", "Up", "Up", "Right", "Down"])
    assert r["total_reward"] == pytest.approx(0.4) and r["best_reward"] == 0.9
    assert r["score"] == (0.9 - 11.4) * 5 + 100 == 47.5
    # a first step that loses reward: the best running total stays at 0, never below.
    r = run(lv, ["Left"])
    assert r["best_reward"] == 0.0 and r["score"] == 43.0


def test_score_matches_magebench_float_formula_on_random_play():
    rng = random.Random(0)
    for seed in range(40):
        lv = generate_level("small-v0" if seed % 2 else "small-v1", seed)
        env = SokobanEnv(lv, observation="state")
        tracker = RewardTracker(lv.optimal_reward)
        rewards = []
        for _ in range(rng.randrange(1, 60)):
            _, r, term, trunc, _ = env.step(rng.randrange(1, 5))
            tracker.add(r)
            rewards.append(r)
            if term or trunc:
                break
        # MageBench (env/sokoban_env.py): accumulate = sum(rewards); best = max(best, accumulate), from 0.0
        best = 0.0
        for i in range(1, len(rewards) + 1):
            best = max(best, sum(rewards[:i]))
        expected = (best - lv.optimal_reward) * 5 + 100
        assert tracker.score == pytest.approx(expected, abs=1e-9)
        assert tracker.score * 2 == int(tracker.score * 2)  # a multiple of 0.5, exactly


def test_solution_scores_100_on_generated_levels():
    for seed in range(10):
        lv = generate_level("v0", seed)
        from agents.sokoban import lurd_to_moves

        r = run(lv, lurd_to_moves(lv.solution))
        assert r["score"] == 100.0 and r["solved"]
        assert magebench_score(r["best_reward"], lv.optimal_reward) == 100.0


def test_random_agent_and_baselines():
    levels = [generate_level("small-v0", s) for s in range(8)]
    a = random_agent_scores(levels[0], episodes=5, seed=3)
    assert a == random_agent_scores(levels[0], episodes=5, seed=3) and len(a) == 5
    for lv in levels:
        for s in random_agent_scores(lv, episodes=4, seed=1):
            assert do_nothing_score(lv.optimal_reward) <= s <= 100
    b = baselines(levels, episodes=4)
    assert b["do_nothing_mean"] == pytest.approx(sum(100 - 5 * lv.optimal_reward for lv in levels) / 8)
    assert b["do_nothing_mean"] <= b["random_mean"] <= 100 and b["random_se"] >= 0
    with pytest.raises(ValueError, match="no optimal reward"):
        random_agent_scores(Level.from_xsb("#####\n#@$.#\n#####\n"))


def test_summarize():
    results = [
        {"score": 100.0, "solved": True, "steps": 6, "parse_failures": 0, "turns": 1, "optimal_moves": 6},
        {"score": 43.0, "solved": False, "steps": 0, "parse_failures": 1, "turns": 1, "optimal_moves": 6},
    ]
    s = summarize(results)
    assert s["episodes"] == 2 and s["score_mean"] == 71.5 and s["success_rate"] == 0.5
    assert s["score_se"] == pytest.approx(28.5)  # stdev 40.305 / sqrt(2)
    assert s["steps_mean"] == 3 and s["parse_failures"] == 1 and s["parse_failure_episodes"] == 1
    assert mean_se([5.0]) == (5.0, 0.0)
