"""Puzzle-generation speed: unique-solution puzzles per second on one core, rendering and trace included.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_puzzles.py            # 3, 5, 8, 12 people
    .venv/bin/python benchmarks/bench_puzzles.py --people 8 --seconds 5

For comparison it also times a plain brute-force generator (sample statements, evaluate each of
the 2**n assignments recursively, keep unique ones) at 8 people. Target: >= 5,000/s at 8 people.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from puzzles import generate_kk, solve_kk
from puzzles.generate import StatementSampler
from puzzles.statements import evaluate


def rate(n_people: int, seconds: float, depth: int, width: int) -> tuple[float, float, int]:
    """Generate in batches until `seconds` of CPU time have passed.

    Returns (puzzles per CPU second, puzzles per wall-clock second, puzzles made). On a shared
    machine the CPU-time figure is the one-core speed; the wall-clock one includes waiting.
    """
    made, cpu, wall, seed = 0, 0.0, 0.0, 0
    batch = 500
    while cpu < seconds:
        c0, w0 = time.process_time(), time.perf_counter()
        puzzles = generate_kk(n_people, batch, seed=seed, depth=depth, width=width)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        made += len(puzzles)
        seed += 1
    # Not timed: every puzzle of the last batch really has one solution and a trace.
    assert all(solve_kk(p.statements) == [p.solution] and p.trace for p in puzzles)
    return made / cpu, made / wall, made


def brute_force_rate(n_people: int, seconds: float) -> float:
    """The baseline: one recursive evaluation per assignment, statements sampled until unique."""
    rng = random.Random(0)
    sampler = StatementSampler(rng, n_people)
    made, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        statements = tuple(sampler.sample(i)[0] for i in range(n_people))
        found = 0
        for world in itertools.product([True, False], repeat=n_people):
            if all(evaluate(s, world) == world[i] for i, s in enumerate(statements)):
                found += 1
                if found > 1:
                    break
        made += found == 1
    return made / (time.process_time() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", default="3,5,8,12", help="comma-separated sizes [3,5,8,12]")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per size [3]")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--width", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true", help="skip the brute-force baseline")
    args = parser.parse_args()
    sizes = [int(x) for x in args.people.split(",")]
    print(f"python {platform.python_version()} on {platform.machine()}, one process, "
          f"depth {args.depth}, width {args.width}")
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    print(f"{'people':>6}  {'per CPU-s':>10}  {'per wall-s':>10}  {'puzzles':>8}")
    for n in sizes:
        per_cpu, per_wall, made = rate(n, args.seconds, args.depth, args.width)
        print(f"{n:>6}  {per_cpu:>10,.0f}  {per_wall:>10,.0f}  {made:>8,}")
    if not args.no_baseline:
        base = brute_force_rate(8, min(args.seconds, 3.0))
        print(f"baseline (brute force, 8 people, no rendering): {base:,.0f} puzzles per CPU-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
