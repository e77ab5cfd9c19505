"""Agent-loop throughput on Sokoban: MageBench's Global and Online loops with the embedded model through
the `hf` eval backend (the path `logicrl eval --benchmark magebench-sokoban` takes), and the same loops
with a policy that costs nothing (what the loop, the environment and the prompts cost alone).

    .venv/bin/python benchmarks/bench_sokoban_loop.py                       # 20 mini levels, text scenes
    .venv/bin/python benchmarks/bench_sokoban_loop.py --levels 8 --turns 5 --tokens 16

Times are CPU seconds of this process (all its threads: ``time.process_time``), so other work on a
shared machine slows the wall clock but not the figures; wall seconds are printed beside them.
Columns: episodes and turns (policy replies) per CPU second, the share of CPU time spent inside the
backend's ``generate``, and generated tokens per CPU second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


class Timed:
    """A policy wrapper that adds up the CPU and wall time spent in the wrapped policy."""

    def __init__(self, policy):
        self.policy, self.cpu, self.wall, self.turns = policy, 0.0, 0.0, 0

    def __call__(self, batch):
        c, w = time.process_time(), time.perf_counter()
        out = self.policy(batch)
        self.cpu += time.process_time() - c
        self.wall += time.perf_counter() - w
        self.turns += len(batch)
        return out


def measure(levels, policy, settings, backend=None) -> dict:
    from agents.sokoban import play

    timed = Timed(policy)
    tokens_before = getattr(backend, "generated_tokens", 0) if backend is not None else 0
    c, w = time.process_time(), time.perf_counter()
    results = play(levels, timed, settings)
    cpu, wall = time.process_time() - c, time.perf_counter() - w
    tokens = (backend.generated_tokens - tokens_before) if backend is not None else 0
    return {"episodes": len(results), "turns": timed.turns, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "episodes_per_cpu_s": len(results) / cpu, "turns_per_cpu_s": timed.turns / cpu,
            "policy_cpu_share": timed.cpu / cpu if cpu else 0.0, "tokens": tokens,
            "tokens_per_cpu_s": tokens / cpu if cpu else 0.0,
            "mean_score": sum(r["score"] for r in results) / len(results)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", type=int, default=20, help="mini levels (default 20)")
    ap.add_argument("--turns", type=int, default=10, help="Online turns per episode (default 10)")
    ap.add_argument("--tokens", type=int, default=32, help="reply tokens (default 32)")
    ap.add_argument("--batch-size", type=int, default=8, help="hf backend batch size (default 8)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    import torch

    from agents import AgentSettings
    from agents.sokoban import load_levels
    from logicrl.eval.agent_runner import BackendPolicy
    from logicrl.eval.backends import make_backend

    torch.set_num_threads(args.threads)
    levels = load_levels("mini")[: args.levels]
    backend = make_backend("hf", model="embedded", batch_size=args.batch_size)
    rows = {}
    for mode in ("global", "online"):
        settings = AgentSettings(mode=mode, observation="text", max_turns=args.turns, max_tokens=args.tokens)
        policy = BackendPolicy(backend, mode=mode, style="chat", temperature=0.1, top_p=0.95,
                               max_tokens=args.tokens, seed=0)
        rows[f"{mode}, embedded model (hf)"] = measure(levels, policy, settings, backend)
        rows[f"{mode}, no-cost policy"] = measure(levels, lambda batch: ["# action\nUp"] * len(batch), settings)
        image = AgentSettings(mode=mode, observation="image", max_turns=args.turns)
        rows[f"{mode}, no-cost policy, PNG scenes"] = measure(levels, lambda batch: ["# action\nUp"] * len(batch),
                                                              image)
    print(f"{'loop':40s} {'episodes':>8s} {'turns':>6s} {'CPU s':>7s} {'wall s':>7s} {'ep/CPU s':>9s} "
          f"{'turns/CPU s':>11s} {'in policy':>9s} {'tok/CPU s':>9s}")
    for name, r in rows.items():
        print(f"{name:40s} {r['episodes']:8d} {r['turns']:6d} {r['cpu_s']:7.2f} {r['wall_s']:7.2f} "
              f"{r['episodes_per_cpu_s']:9.2f} {r['turns_per_cpu_s']:11.1f} {100 * r['policy_cpu_share']:8.1f}% "
              f"{r['tokens_per_cpu_s']:9.1f}")
    print(f"load average {os.getloadavg()[0]:.1f}; torch threads {args.threads}; reply tokens {args.tokens}; "
          f"Online turns {args.turns}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
