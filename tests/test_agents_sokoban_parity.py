"""Parity with gym-sokoban 0.0.6 itself, run in its own venv (.venv-sokoban, scripts/setup_sokoban_ref.sh):
rewards, terminated/truncated and room states on many action sequences over levels gym-sokoban
generated; the generator's reverse play state for state; the MageBench pickle converter.

Skipped when .venv-sokoban is missing, unless LOGICRL_REQUIRE_SOKOBAN=1 (CI), which makes it fail.
"""

import json
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from agents.sokoban import CONFIGS, Level, SokobanEnv, load_levels, solve, solve_lurd
from agents.sokoban.generate import reverse_search
from tests.conftest import REPO

VENV = Path(os.environ.get("LOGICRL_SOKOBAN_VENV", REPO / ".venv-sokoban"))
PY = VENV / "bin" / "python"
REFERENCE = REPO / "scripts" / "sokoban_reference.py"

if not PY.exists():
    if os.environ.get("LOGICRL_REQUIRE_SOKOBAN") == "1":
        pytest.fail(f"LOGICRL_REQUIRE_SOKOBAN=1 but {PY} is missing: run scripts/setup_sokoban_ref.sh",
                    pytrace=False)
    pytest.skip(f"gym-sokoban reference venv {VENV} not built (scripts/setup_sokoban_ref.sh)",
                allow_module_level=True)


def reference(request: dict) -> dict:
    out = subprocess.run([str(PY), str(REFERENCE)], input=json.dumps(request), capture_output=True, check=False,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def gym_levels(config: str, count: int, seed: int) -> list[Level]:
    cfg = CONFIGS[config]
    ans = reference({"op": "generate", "dim": [cfg.height, cfg.width], "boxes": cfg.boxes,
                     "walk_steps": cfg.walk_steps, "count": count, "seed": seed})
    return [Level.from_arrays(lv["fixed"], lv["state"]) for lv in ans["levels"]]


def sequences(level: Level, rng: random.Random) -> list[tuple[int, list[int]]]:
    """(max_steps, actions): random walks, the optimal solution ending on the last allowed step,
    and solution prefixes followed by random play (boxes pushed on and off targets)."""
    codes = {"Up": 1, "Down": 2, "Left": 3, "Right": 4}
    sol = [codes[m] for m in solve(level)]
    out = [(len(sol), sol), (len(sol) + 5, sol)]
    for _ in range(5):
        out.append((rng.choice([15, 40, 120]), [rng.randint(1, 4) for _ in range(rng.randint(20, 130))]))
    for _ in range(3):
        k = rng.randint(1, len(sol))
        tail = [rng.randint(1, 4) for _ in range(rng.randint(5, 40))]
        out.append((rng.choice([k + 3, 200]), sol[:k] + tail))
    return out


def test_rules_match_gym_sokoban_on_its_levels():
    rng = random.Random(0)
    levels = gym_levels("small-v0", 13, 1) + gym_levels("small-v1", 12, 2) + gym_levels("v0", 1, 3)
    episodes, ours = [], []
    for lv in levels:
        fixed, state = lv.to_arrays()
        for max_steps, actions in sequences(lv, rng):
            episodes.append({"fixed": fixed.tolist(), "state": state.tolist(), "max_steps": max_steps,
                             "actions": actions})
            ours.append((lv, max_steps, actions))
    theirs = reference({"op": "replay", "episodes": episodes})["episodes"]
    n_steps = n_solved = n_truncated = n_off = 0
    for (lv, max_steps, actions), ref in zip(ours, theirs):
        env = SokobanEnv(lv, max_steps=max_steps, observation="state")
        for a, step in zip(actions, ref["steps"]):
            obs, reward, terminated, truncated, info = env.step(a)
            assert reward == step["reward"]  # the same float, not merely close
            assert (terminated or truncated) == step["done"]
            if step["done"]:
                assert terminated == step["all_boxes_on_target"]
                assert truncated == (step["maxsteps_used"] and not step["all_boxes_on_target"])
            assert info["action.moved_player"] == step["moved_player"]
            assert info["action.moved_box"] == step["moved_box"]
            assert np.array_equal(obs, np.array(step["state"]))
            n_steps += 1
            n_off += step["reward"] < -1
            if step["done"]:
                n_solved += terminated
                n_truncated += truncated
                break
        else:
            assert len(ref["steps"]) == len(actions) and not env.ended
    # the sequences really exercised every rule
    assert n_steps > 5000 and n_solved >= 2 * len(levels) and n_truncated > 50 and n_off > 10


def test_reverse_search_matches_gym_sokoban_state_for_state():
    for config, seed in (("small-v0", 5), ("small-v1", 6)):
        cfg = CONFIGS[config]
        rooms = reference({"op": "reverse", "dim": [cfg.height, cfg.width], "boxes": cfg.boxes,
                           "walk_steps": cfg.walk_steps, "count": 15, "seed": seed})["rooms"]
        for r in rooms:
            room = np.array(r["room"])
            w = room.shape[1]
            flat = room.ravel()
            floor = sum(1 << int(i) for i in np.flatnonzero(flat))
            targets = sorted(int(i) for i in np.flatnonzero(flat == 2))
            player = int(np.flatnonzero(flat == 5)[0])
            (p, boxes), score, explored = reverse_search(w, floor, targets, player)
            best = np.array(r["best"]).ravel()
            assert (score, explored) == (r["score"], r["explored"])
            assert p == int(np.flatnonzero(best == 5)[0])
            assert boxes == sum(1 << int(i) for i in np.flatnonzero((best == 3) | (best == 4)))


def test_converter_turns_pickled_gym_envs_into_levels(tmp_path):
    src = tmp_path / "Sokoban"
    src.mkdir()
    make = (
        "import pickle, random, sys, warnings, json; warnings.filterwarnings('ignore');"
        "import numpy as np; random.seed(4); np.random.seed(4);"
        "from gym_sokoban.envs.sokoban_env import SokobanEnv;"
        "envs = [SokobanEnv(dim_room=(7, 7), max_steps=200, num_boxes=2) for _ in range(3)];"
        "[pickle.dump(e, open(sys.argv[1] + f'/{i}-Sokoban-small-v0.pkl', 'wb')) for i, e in enumerate(envs)];"
        "print(json.dumps([[e.room_fixed.tolist(), e.room_state.tolist()] for e in envs]))")
    out = subprocess.run([str(PY), "-c", make, str(src)], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    arrays = json.loads(out.stdout)
    first = Level.from_arrays(*arrays[0])
    lurd = solve_lurd(first)
    (src / "upper_bound.json").write_text(json.dumps({"0-Sokoban-small-v0": {
        "actions": list(lurd), "steps": len(lurd), "reward": round(10 + 2 - 0.1 * len(lurd), 1)}}))
    dest = tmp_path / "xsb"
    conv = subprocess.run([str(PY), str(REPO / "scripts" / "convert_magebench_sokoban.py"), str(src), str(dest)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert conv.returncode == 0, conv.stderr
    levels = load_levels(dest)
    assert [lv.name for lv in levels] == [f"{i}-Sokoban-small-v0" for i in range(3)]
    for lv, (fixed, state) in zip(levels, arrays):
        f, _s = lv.to_arrays()
        assert np.array_equal(f, fixed) and lv.rows == Level.from_arrays(fixed, state).rows
        assert lv.config == "small-v0" and lv.max_steps == 200 and lv.optimal_moves is not None
    assert levels[0].solution == lurd and levels[0].optimal_moves == len(lurd)  # from upper_bound.json
    assert levels[1].optimal_moves == len(solve(levels[1]))                      # solved on load
    bad = subprocess.run([str(PY), str(REPO / "scripts" / "convert_magebench_sokoban.py"),
                          str(tmp_path / "missing"), str(dest)], check=False, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a folder" in bad.stderr
