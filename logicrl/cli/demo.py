"""`logicrl demo`: the CPU demo (warm start, RL, held-out table before/after RL, reward plot); `--task sokoban`
runs the Sokoban one (`logicrl.demo_sokoban`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from logicrl.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="kk", choices=("kk", "sokoban"),
                        help="kk: Knights-and-Knaves (default); sokoban: MageBench's Sokoban, Global plans")
    parser.add_argument("--out", help="output directory (default: runs/demo; --task sokoban: runs/demo-sokoban)")
    parser.add_argument("--seed", type=int, default=0, help="seed of puzzles, training and sampling (default: 0)")
    parser.add_argument("--quick", action="store_true", help="a tiny version for tests (about a minute)")
    parser.add_argument("--update-readme", nargs="?", const="README.md", default=None, metavar="README",
                        help="rewrite the demo-results block (--task sokoban: the sokoban-demo-results block) of "
                             "README.md (or the given file) with the results")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")


def run(args) -> int:
    if args.task == "sokoban":
        from logicrl.demo_sokoban import SokobanDemoSettings as DemoSettings
        from logicrl.demo_sokoban import check_readme
        from logicrl.demo_sokoban import run_sokoban_demo as run_demo
    else:
        from logicrl.demo import DemoSettings, check_readme, run_demo

    if args.seed < 0:
        raise UserError(f"--seed must be non-negative, got {args.seed}")
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    out = Path(args.out or ("runs/demo-sokoban" if args.task == "sokoban" else "runs/demo"))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UserError(f"--out {out}: {blocking} is a file, not a directory")
    readme = None
    if args.update_readme is not None:
        readme = Path(args.update_readme)
        check_readme(readme)  # before spending minutes on training
    _quiet_libraries()
    settings = DemoSettings.quick(args.seed) if args.quick else DemoSettings.full(args.seed)
    settings.threads = args.threads
    run_demo(out, settings, readme=readme)
    return 0


def _quiet_libraries() -> None:
    """The demo prints its own phases and RL progress bar: hide the libraries' per-file progress bars and
    deprecation notices that would bury them (the command only; library users keep the defaults)."""
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
