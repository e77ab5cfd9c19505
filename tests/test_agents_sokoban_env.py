"""SokobanEnv rules on hand-made levels (pushes, walls, box into box, box off target), episode ends,
observations and the Gymnasium API. Parity with gym-sokoban itself: test_agents_sokoban_parity.py."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from agents.sokoban import ACTIONS, Level, SokobanEnv, generate_level

U, D, L, R = (ACTIONS[m] for m in ("Up", "Down", "Left", "Right"))


def env_of(text, **kw):
    return SokobanEnv(Level.from_xsb(text), **kw)


def play(env, actions):
    out = []
    for a in actions:
        _obs, r, term, trunc, _info = env.step(a)
        out.append((r, term, trunc))
    return out


def test_action_space_is_gym_sokoban_push_codes():
    env = env_of("#####\n#@$.#\n#####\n")
    assert env.action_space.n == 4 and env.action_space.start == 1
    assert ACTIONS == {"Up": 1, "Down": 2, "Left": 3, "Right": 4}


def test_push_onto_target_solves_with_exact_rewards():
    env = env_of("#######\n#@$ . #\n#######\n", observation="text")
    obs, r, term, trunc, info = env.step(R)
    assert (r, term, trunc) == (-0.1, False, False)
    assert obs == "#######\n# @$. #\n#######"
    assert info["action.moved_player"] and info["action.moved_box"]
    obs, r, term, trunc, info = env.step(R)
    assert r == -0.1 + 1 + 10 and (term, trunc) == (True, False)
    assert obs == "#######\n#  @* #\n#######" and info["solved"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(R)
    env.reset()
    assert env.text() == "#######\n#@$ . #\n#######" and env.steps == 0


def test_box_on_and_off_target_rewards():
    env = env_of("########\n#@$.  .#\n#   $  #\n########\n", observation="text")
    assert [r for r, *_ in play(env, [R, R, R, R])] == [-0.1 + 1, -0.1 - 1, -0.1, -0.1 + 1]
    assert env.text().split("\n")[1] == "#  . @*#"
    assert env.boxes_on_target == 1 and not env.solved


def test_walls_and_box_into_box_block_without_moving():
    env = env_of("#######\n#@$$. #\n#   . #\n#######\n", observation="text")
    before = env.text()
    obs, r, _term, _trunc, info = env.step(R)   # box into box
    assert r == -0.1 and obs == before and not info["action.moved_player"]
    obs, r, *_ , info = env.step(U)           # into a wall
    assert r == -0.1 and obs == before and not info["action.moved_player"]
    env.step(D)
    env.step(R)
    env.step(R)                                # player walks under the second box
    obs, r, *_ = env.step(U)                   # push it into the wall above: blocked
    assert obs.split("\n")[1:3] == ["# $$. #", "#  @. #"] and r == -0.1
    # box pushed into a wall from the side
    env2 = env_of("######\n#  @$#\n#  . #\n######\n", observation="text")
    obs, r, *_ = env2.step(R)
    assert obs == "######\n#  @$#\n#  . #\n######" and r == -0.1


def test_player_on_target_and_moves():
    env = env_of("######\n#@.$ #\n#    #\n######\n", observation="text")
    obs, r, *_ = env.step(R)
    assert obs.split("\n")[1] == "# +$ #" and r == -0.1
    obs, *_ = env.step(L)
    assert obs.split("\n")[1] == "#@.$ #"


def test_step_limit_truncates_and_a_last_step_solve_terminates():
    env = env_of("#######\n#@$ . #\n#######\n", max_steps=3)
    assert [t[1:] for t in play(env, [L, L, L])] == [(False, False), (False, False), (False, True)]
    assert env.ended
    env = env_of("#######\n#@$ . #\n#######\n", max_steps=2)
    assert [t[1:] for t in play(env, [R, R])] == [(False, False), (True, False)]
    # config defaults: v1 has 120 steps, others 200/300; a level's own max_steps wins.
    lv = generate_level("v1", 0)
    assert SokobanEnv(lv).max_steps == 120 and SokobanEnv(lv.replace(max_steps=9)).max_steps == 9
    assert SokobanEnv(Level.from_xsb("#####\n#@$.#\n#####\n")).max_steps == 200


def test_first_step_counts_boxes_already_on_targets_like_gym_sokoban():
    # gym-sokoban's box counter starts at 0 after reset: a level starting with a box on a target
    # earns +1 on its first step, whatever that step does.
    env = env_of("########\n#@ *$ .#\n########\n")
    r, term, _trunc = play(env, [L])[0]
    assert r == -0.1 + 1 and not term


def test_bad_actions_are_refused():
    env = env_of("#####\n#@$.#\n#####\n")
    for bad in (0, 5, -1, 1.0, "Up", True, None):
        with pytest.raises(ValueError, match="integer 1-4"):
            env.step(bad)
    env.step(np.int64(4))  # numpy integers, as action_space.sample() returns, are fine


def test_observations_and_rendering():
    lv = generate_level("large-v0", 1)  # 13 rows x 11 columns
    env = SokobanEnv(lv, render_mode="rgb_array")
    obs, _info = env.reset()
    assert obs.shape == (13 * 16, 11 * 16, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert np.array_equal(env.render(), obs)
    img = Image.open(io.BytesIO(env.png(640)))
    assert img.size == (541, 640)  # MageBench's resize: long side 640, the other int(176 * 640 / 208)
    assert Image.open(io.BytesIO(env.png())).size == (176, 208)
    for mode in ("text", "state"):
        e = SokobanEnv(lv, observation=mode)
        assert e.observation_space.contains(e.reset()[0]) and e.observation_space.contains(e.step(1)[0])
    state = SokobanEnv(lv, observation="state").reset()[0]
    assert state.shape == (13, 11) and np.array_equal(state, lv.to_arrays()[1])
    assert SokobanEnv(lv, observation="text", render_mode="ansi").render() == lv.text_grid()
    assert env.current_level().rows == lv.rows
    # tiles differ per code, and the player on a target differs from the player on floor
    from agents.sokoban.render import ATLAS
    assert len({t.tobytes() for t in ATLAS}) == 7


def test_gymnasium_env_checker_and_generated_mode():
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(SokobanEnv(generate_level("small-v0", 3)), skip_render_check=True)
    env = SokobanEnv(config="small-v1", observation="text")
    a = env.reset(seed=5)[0]
    b = env.reset(seed=5)[0]
    c = env.reset(seed=6)[0]
    assert a == b and a != c and env.level.config == "small-v1" and env.level.optimal_moves
    other = generate_level("small-v0", 9)
    assert env.reset(options={"level": other})[0] == other.text_grid()


def test_bad_arguments():
    lv = generate_level("small-v0", 0)
    with pytest.raises(ValueError, match="observation"):
        SokobanEnv(lv, observation="pixels")
    with pytest.raises(ValueError, match="max_steps"):
        SokobanEnv(lv, max_steps=0)
    with pytest.raises(ValueError, match="level or a config"):
        SokobanEnv()
    with pytest.raises(ValueError, match="unknown Sokoban configuration"):
        SokobanEnv(config="tiny")

