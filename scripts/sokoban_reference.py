"""gym-sokoban side of the parity checks and the benchmark. Runs in .venv-sokoban (gym-sokoban 0.0.6,
gym 0.26.2; built by scripts/setup_sokoban_ref.sh), never in the project's environment.

Reads one JSON request on stdin, writes one JSON answer on stdout:
- {"op": "generate", "dim": [h, w], "boxes": k, "walk_steps": n, "count": c, "seed": s}
  -> {"levels": [{"fixed": [[...]], "state": [[...]]}, ...], "seconds": t}
  (gym-sokoban's own generate_room, retried on its RuntimeError/RuntimeWarning as reset() does)
- {"op": "replay", "episodes": [{"fixed", "state", "max_steps", "actions": [1-4, ...]}, ...]}
  -> {"episodes": [{"steps": [{"reward", "done", "all_boxes_on_target", "maxsteps_used",
      "moved_player", "moved_box", "state"}, ...]}, ...]}  (stops at gym-sokoban's done)
- {"op": "steps", "fixed", "state", "n", "mode": "rgb_array" | "tiny_rgb_array"}
  -> {"steps_per_cpu_second"}: random actions on one room (the benchmark)
- {"op": "reverse", "dim", "boxes", "walk_steps", "count", "seed"}
  -> {"rooms": [{"room", "best", "score", "explored"}, ...]}: gym-sokoban's topology, placement and
     reverse_playing, for checking agents.sokoban.generate.reverse_search state for state.
"""

import json
import random
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np
from gym_sokoban.envs import room_utils
from gym_sokoban.envs.sokoban_env import SokobanEnv


def generate(req):
    random.seed(req["seed"])
    np.random.seed(req["seed"])
    out, t0, c0 = [], time.perf_counter(), time.process_time()
    while len(out) < req["count"]:
        try:
            fixed, state, _ = room_utils.generate_room(dim=tuple(req["dim"]), num_steps=req["walk_steps"],
                                                       num_boxes=req["boxes"])
        except (RuntimeError, RuntimeWarning):
            continue
        out.append({"fixed": fixed.astype(int).tolist(), "state": state.astype(int).tolist()})
    return {"levels": out, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def replay(req):
    answers = []
    for ep in req["episodes"]:
        fixed, state = np.array(ep["fixed"]), np.array(ep["state"])
        env = SokobanEnv(dim_room=fixed.shape, max_steps=ep["max_steps"], num_boxes=int((fixed == 2).sum()),
                         reset=False)
        # what reset() sets, with the given room instead of a generated one
        env.room_fixed, env.room_state = fixed, state.copy()
        env.player_position = np.argwhere(env.room_state == 5)[0]
        env.num_env_steps, env.reward_last, env.boxes_on_target = 0, 0, 0
        steps = []
        for a in ep["actions"]:
            _, reward, done, info = env.step(a, observation_mode="tiny_rgb_array")
            steps.append({"reward": reward, "done": bool(done),
                          "all_boxes_on_target": bool(info.get("all_boxes_on_target", False)),
                          "maxsteps_used": bool(info.get("maxsteps_used", False)),
                          "moved_player": bool(info["action.moved_player"]),
                          "moved_box": bool(info["action.moved_box"]),
                          "state": env.room_state.astype(int).tolist()})
            if done:
                break
        answers.append({"steps": steps})
    return {"episodes": answers}


def reverse(req):
    random.seed(req["seed"])
    np.random.seed(req["seed"])
    rooms = []
    while len(rooms) < req["count"]:
        room = room_utils.room_topology_generation(tuple(req["dim"]), 0.35, req["walk_steps"])
        try:
            room = room_utils.place_boxes_and_player(room, num_boxes=req["boxes"], second_player=False)
        except RuntimeError:
            continue
        structure = np.copy(room)
        structure[structure == 5] = 1
        state = room.copy()
        state[state == 2] = 4
        best, score, _ = room_utils.reverse_playing(state, structure)
        rooms.append({"room": room.astype(int).tolist(), "best": np.asarray(best).astype(int).tolist(),
                      "score": int(score), "explored": len(room_utils.explored_states)})
    return {"rooms": rooms}


def steps(req):
    """Env steps per CPU second: random push-or-move actions, resetting to the room when done."""
    fixed, state = np.array(req["fixed"]), np.array(req["state"])
    env = SokobanEnv(dim_room=fixed.shape, max_steps=10**9, num_boxes=int((fixed == 2).sum()), reset=False)
    rng = random.Random(0)
    actions = [rng.randint(1, 4) for _ in range(req["n"])]
    c0 = time.process_time()
    env.room_fixed, env.room_state = fixed, state.copy()
    env.player_position = np.argwhere(env.room_state == 5)[0]
    env.num_env_steps, env.reward_last, env.boxes_on_target = 0, 0, 0
    for a in actions:
        env.step(a, observation_mode=req["mode"])
    return {"steps_per_cpu_second": req["n"] / (time.process_time() - c0)}


def main():
    req = json.load(sys.stdin)
    op = {"generate": generate, "replay": replay, "reverse": reverse, "steps": steps}[req["op"]]
    json.dump(op(req), sys.stdout)


if __name__ == "__main__":
    main()
