"""The `sokoban` reward against the agent loop's own scoring (`agents.sokoban.play`), scales, Online columns,
tool environments, bad input, and that importing `rewards` does not import `agents`."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

import rewards
from agents import AgentSettings
from agents.sokoban import do_nothing_score, load_levels, lurd_to_moves, play
from agents.sokoban.tools import SokobanToolEnv, scale_score

MINI = load_levels("mini")


def random_reply(rng: random.Random) -> str:
    moves = [rng.choice(["Up", "Down", "Left", "Right", "up", "Jump", " Left "]) for _ in range(rng.randrange(0, 40))]
    head = rng.choice(["### Analyze\nhm\n### Actions\n", "", "### Actions\n", "Actions: "])
    return head + rng.choice([", ", "\n", ","]).join(moves)


@pytest.mark.parametrize("parser", ["magebench", "tolerant"])
def test_scores_equal_the_agent_loops_on_many_replies(parser):
    rng = random.Random(7)
    levels = [MINI[i % len(MINI)] for i in range(300)]
    replies = [random_reply(rng) for _ in levels]
    replies[:20] = [", ".join(lurd_to_moves(lv.solution)) for lv in levels[:20]]  # optimal plans
    answers = iter(replies)
    expected = play(levels, lambda batch: [next(answers) for _ in batch], AgentSettings(parser=parser, observation="text"))
    fn = rewards.get("sokoban", parser=parser)
    rows = fn.breakdown(None, replies, level=[lv.to_xsb() for lv in levels])
    assert [r["score"] for r in rows] == [r["score"] for r in expected]
    assert [r["reward"] for r in rows] == [r["score"] for r in expected]  # scale "score"
    assert [bool(r["solved"]) for r in rows] == [r["solved"] for r in expected]
    assert [r["steps"] for r in rows] == [r["steps"] for r in expected]
    assert all(r["score"] == 100.0 for r in rows[:20])
    assert len({r["score"] for r in rows}) > 5  # the random replies are not all alike


def test_scales_and_chat_completions():
    lv = MINI[3]
    plan = ", ".join(lurd_to_moves(lv.solution))
    dn = do_nothing_score(lv.optimal_reward)
    for scale, best, nothing in (("score", 100.0, dn), ("unit", 1.0, 0.0), ("fraction", 1.0, dn / 100)):
        fn = rewards.get("sokoban", scale=scale)
        chat = [[{"role": "assistant", "content": plan}], "no plan at all"]
        assert fn(None, chat, level=[lv.to_xsb()] * 2) == pytest.approx([best, nothing])
    half = ", ".join(lurd_to_moves(lv.solution)[:-1])  # one move short: the last box and the +10 are missing
    assert 0 < rewards.get("sokoban", scale="unit")(None, [half], level=[lv.to_xsb()])[0] < 1


def test_online_columns_and_tool_environments():
    fn = rewards.get("sokoban", scale="unit")
    out = fn.breakdown(None, ["whatever", "x"], level=[MINI[0].to_xsb()] * 2, sokoban_score=[70.0, None],
                       sokoban_do_nothing=[40.0, None], sokoban_solved=[False, None], sokoban_steps=[9, None])
    assert out[0]["reward"] == pytest.approx(0.5) and out[0]["score"] == 70.0 and out[0]["steps"] == 9
    assert out[1]["score"] == do_nothing_score(MINI[0].optimal_reward)  # no online value: the plan is replayed
    env = SokobanToolEnv(scale="unit")
    scene = env.reset(level=MINI[0].to_xsb(), prompt="ignored")
    assert MINI[0].text_grid() in scene
    for move in lurd_to_moves(MINI[0].solution):
        env.move(move)
    assert env.get_reward() == 1.0 and "ended" in env.move("Up")
    with pytest.raises(ValueError):
        env.move("Jump")
    row = fn.breakdown(None, ["x"], level=[MINI[0].to_xsb()], environments=[env])[0]
    assert row["score"] == 100.0 and row["solved"] == 1.0 and row["reward"] != row["reward"]  # None -> NaN
    assert scale_score(70.0, 40.0, "unit") == pytest.approx(0.5)


def test_bad_input():
    with pytest.raises(rewards.RewardConfigError, match="scale"):
        rewards.get("sokoban", scale="log")
    with pytest.raises(rewards.RewardConfigError, match="parser"):
        rewards.get("sokoban", parser="lenient")
    fn = rewards.get("sokoban")
    with pytest.raises(ValueError, match="level"):
        fn(None, ["Up"])
    assert fn(None, ["Up", "Up"], level=[None, MINI[0].to_xsb()])[0] is None
    hostile = ["### Actions\n" + "Up, " * 200_000, "\x00" * 1000, 12345]
    assert all(isinstance(v, float) for v in fn(None, hostile, level=[MINI[0].to_xsb()] * 3))
    # Columns that do not fit: one-line ValueErrors naming the column, never a silent None or inf.
    for kwargs, message in [({"level": [123]}, "not XSB text"),
                            ({"level": [MINI[0].to_xsb()] * 1}, "1 values for more completions"),
                            ({"sokoban_score": ["high"]}, "sokoban_score.*not a number"),
                            ({"sokoban_score": [float("inf")]}, "sokoban_score.*not finite")]:
        n = 2 if "1 values" in message else 1
        with pytest.raises(ValueError, match=message):
            fn(None, ["Up"] * n, **kwargs)


def test_importing_rewards_does_not_import_agents():
    code = ("import sys, rewards; print('agents' in sys.modules); rewards.get('sokoban'); "
            "print('gymnasium' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # Building the reward checks the parser name (agents.parsing: no gymnasium, no numpy yet).
    assert out == ["False", "False", "False"]
