"""Sokoban speed against gym-sokoban 0.0.6 in one run: level generation per size, solver time per
level, environment steps per second; and the generated levels' difficulty against MageBench's.

    .venv/bin/python benchmarks/bench_sokoban.py                   # all eight configurations
    .venv/bin/python benchmarks/bench_sokoban.py --configs small-v0,huge-v0 --seconds 5
    .venv/bin/python benchmarks/bench_sokoban.py --no-gym          # without .venv-sokoban

Times are CPU seconds of one process (``time.process_time``), so other work on a shared machine
slows the wall clock but not the figures. gym-sokoban runs in .venv-sokoban through
scripts/sokoban_reference.py (scripts/setup_sokoban_ref.sh builds it), generating rooms with its own
``generate_room``; it takes about 45 s per 13x13 room, so it gets few samples there (--gym-samples).

Columns, per configuration:
- ``rooms/s``: our candidate rooms per second (carving + placement + reverse search): the same job
  as gym-sokoban's ``generate_room``, whose rate is ``gym rooms/s``; ``x gym`` is their ratio
  (target: >= 100x at 13x13);
- ``levels/s``: our finished levels per second (rooms solved optimally and kept within MageBench's
  range of optimal lengths, so each has an exact U; gym-sokoban has no equivalent);
- ``solve ms``: mean solver CPU time per candidate room;
- ``moves``: mean optimal moves of the finished levels, beside MageBench's for the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from agents.sokoban import CONFIGS, SokobanEnv, generate_level
from agents.sokoban.generate import GENERATOR_SETTINGS, _candidate
from agents.sokoban.level import Level
from agents.sokoban.solver import SolverBudgetExceeded, _search

REPO = Path(__file__).resolve().parents[1]
GYM_PY = Path(os.environ.get("LOGICRL_SOKOBAN_VENV", REPO / ".venv-sokoban")) / "bin" / "python"
DEFAULT_GYM_SAMPLES = {"small-v0": 40, "small-v1": 30, "v0": 5, "v1": 4, "v2": 4, "large-v0": 3,
                       "large-v1": 3, "huge-v0": 3}


def gym(request: dict) -> dict:
    out = subprocess.run([str(GYM_PY), str(REPO / "scripts" / "sokoban_reference.py")], input=json.dumps(request),
                         capture_output=True, text=True, check=False, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"bench_sokoban: gym-sokoban reference failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def ours(config: str, seconds: float, seed: int = 1) -> dict:
    """Candidate rooms and finished levels per CPU second, solver time, mean optimal moves."""
    cfg, settings = CONFIGS[config], GENERATOR_SETTINGS[config]
    rng = random.Random(seed)
    rooms = kept = 0
    t_rooms = t_solve = 0.0
    moves = []
    while t_rooms + t_solve < seconds or kept < 3:
        c0 = time.process_time()
        rows = _candidate(rng, cfg, settings)
        t_rooms += time.process_time() - c0
        if rows is None:
            continue
        rooms += 1
        c0 = time.process_time()
        try:
            out = _search(Level(rows), settings.max_moves, settings.max_expansions)
        except SolverBudgetExceeded:
            out = None
        t_solve += time.process_time() - c0
        if out is not None and settings.min_moves <= len(out[0]) <= settings.max_moves:
            kept += 1
            moves.append(len(out[0]))
    return {"rooms_per_s": rooms / t_rooms, "levels_per_s": kept / (t_rooms + t_solve),
            "solve_ms": 1000 * t_solve / rooms, "moves": statistics.fmean(moves), "rooms": rooms, "kept": kept}


def env_steps(level: Level, observation: str, n: int) -> float:
    env = SokobanEnv(level, max_steps=10**9, observation=observation)
    rng = random.Random(0)
    actions = [rng.randint(1, 4) for _ in range(n)]
    c0 = time.process_time()
    for a in actions:
        env.step(a)
    return n / (time.process_time() - c0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seconds", type=float, default=10.0, help="CPU seconds of our generator per config")
    ap.add_argument("--gym-samples", type=int, default=None, help="gym-sokoban rooms per config (default: "
                    + ", ".join(f"{k} {v}" for k, v in DEFAULT_GYM_SAMPLES.items()) + ")")
    ap.add_argument("--no-gym", action="store_true", help="skip gym-sokoban")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(f"bench_sokoban: unknown configuration {c!r}; known: {', '.join(CONFIGS)}")
    use_gym = not args.no_gym
    if use_gym and not GYM_PY.exists():
        raise SystemExit(f"bench_sokoban: {GYM_PY} missing: run scripts/setup_sokoban_ref.sh, or pass --no-gym")
    rows = []
    print("| config | rooms/s | gym rooms/s | x gym | levels/s | solve ms | moves | MageBench moves |")
    print("|---|---|---|---|---|---|---|---|")
    for c in configs:
        cfg = CONFIGS[c]
        r = ours(c, args.seconds)
        g = None
        if use_gym:
            n = args.gym_samples or DEFAULT_GYM_SAMPLES[c]
            ans = gym({"op": "generate", "dim": [cfg.height, cfg.width], "boxes": cfg.boxes,
                       "walk_steps": cfg.walk_steps, "count": n, "seed": 1})
            g = n / ans["cpu_seconds"]
        r.update(config=c, gym_rooms_per_s=g, magebench_moves=cfg.magebench_mean_moves)
        rows.append(r)
        ratio = f"{r['rooms_per_s'] / g:.0f}x" if g else "-"
        gtxt = f"{g:.3g}" if g else "-"
        print(f"| {c} | {r['rooms_per_s']:.3g} | {gtxt} | {ratio} | {r['levels_per_s']:.3g} | {r['solve_ms']:.0f} |"
              f" {r['moves']:.1f} | {cfg.magebench_mean_moves} |", flush=True)
    big = generate_level("huge-v0", 0)
    steps = {"state": env_steps(big, "state", 200_000), "rgb": env_steps(big, "rgb", 20_000),
             "text": env_steps(big, "text", 50_000)}
    print(f"\nenv steps per CPU second on a 13x13 level: observation='state' {steps['state']:,.0f}, "
          f"'text' {steps['text']:,.0f}, 'rgb' {steps['rgb']:,.0f}")
    if use_gym:
        fixed, state = big.to_arrays()
        gs = {m: gym({"op": "steps", "fixed": fixed.tolist(), "state": state.tolist(), "n": n,
                      "mode": m})["steps_per_cpu_second"] for m, n in (("tiny_rgb_array", 20_000), ("rgb_array", 2_000))}
        print(f"gym-sokoban on the same level: tiny_rgb_array {gs['tiny_rgb_array']:,.0f}, "
              f"rgb_array {gs['rgb_array']:,.0f}")
        steps.update(gym_tiny_rgb=gs["tiny_rgb_array"], gym_rgb=gs["rgb_array"])
    if args.json:
        args.json.write_text(json.dumps({"configs": rows, "env_steps_per_s": steps,
                                         "cpu": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
