"""Convert MageBench's official Sokoban levels (pickled gym-sokoban environments) to XSB files.

    .venv-sokoban/bin/python scripts/convert_magebench_sokoban.py MageBench/resources/Sokoban OUT_DIR \
        [--only MageBench/resources/Sokoban_mini.json]

WARNING: unpickling runs code. Run this only on files you trust (MageBench's own release), and only
in the separate gym-sokoban environment (scripts/setup_sokoban_ref.sh builds .venv-sokoban), which
is the only place that can unpickle them anyway. The project itself never unpickles: it loads the
XSB files this script writes, e.g. ``agents.sokoban.load_levels("OUT_DIR")``.

For each ``<id>-Sokoban-<config>.pkl`` it writes ``OUT_DIR/<id>-Sokoban-<config>.xsb`` with the
level (gym-sokoban's ``room_fixed`` / ``room_state``), its config, step limit and, from
``upper_bound.json`` in the same folder, MageBench's optimal moves, U and solution (LURD). Standalone
on purpose: it imports neither the project nor gymnasium. Files are written atomically.
"""

import argparse
import json
import os
import pickle
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

SYMBOL = {(0, 0): "#", (1, 1): " ", (2, 2): ".", (1, 4): "$", (2, 4): "*", (2, 3): "*", (1, 3): "$",
          (1, 5): "@", (2, 5): "+"}


def die(msg: str) -> None:
    print(f"convert_magebench_sokoban: {msg}", file=sys.stderr)
    sys.exit(2)


def to_rows(fixed, state) -> list[str]:
    rows = []
    for r in range(len(fixed)):
        row = []
        for c in range(len(fixed[r])):
            key = (int(fixed[r][c]), int(state[r][c]))
            if key not in SYMBOL:
                raise ValueError(f"cell ({r}, {c}) has room_fixed/room_state codes {key}")
            row.append(SYMBOL[key])
        rows.append("".join(row).rstrip())
    return rows


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert(pkl: Path, bounds: dict) -> str:
    with open(pkl, "rb") as f:
        env = pickle.load(f)  # trusted files only: see the module docstring
    name = pkl.stem
    config = name.split("Sokoban-", 1)[1] if "Sokoban-" in name else None
    if getattr(env, "num_env_steps", 0):
        raise ValueError(f"{pkl.name}: the pickled environment has already taken {env.num_env_steps} steps")
    rows = to_rows(env.room_fixed.tolist(), env.room_state.tolist())
    meta = [f"; name: {name}"]
    if config:
        meta.append(f"; config: {config}")
    meta.append(f"; max_steps: {int(env.max_steps)}")
    entry = bounds.get(name)
    if entry is not None:
        boxes = sum(row.count("$") + row.count("*") for row in rows)
        u = float(entry["reward"])
        steps = int(entry["steps"])
        if abs(u - (10 + boxes - 0.1 * steps)) > 1e-6:
            print(f"warning: {name}: U {u} is not 10 + {boxes} boxes - 0.1 * {steps} steps; U kept",
                  file=sys.stderr)
            meta.append(f"; optimal_reward: {u}")
        else:
            meta.append(f"; optimal_moves: {steps}")
            meta.append(f"; optimal_reward: {u}")
            meta.append(f"; solution: {''.join(entry['actions'])}")
    return "\n".join(meta + rows) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="folder with <id>-Sokoban-<config>.pkl files (and upper_bound.json)")
    ap.add_argument("out", type=Path, help="folder for the .xsb files")
    ap.add_argument("--only", type=Path, help="JSON list of level paths to convert (e.g. Sokoban_mini.json)")
    args = ap.parse_args(argv)
    if not args.src.is_dir():
        die(f"{args.src}: not a folder")
    pkls = sorted(args.src.glob("*.pkl"))
    if args.only is not None:
        try:
            wanted = {Path(p).stem for p in json.loads(args.only.read_text())}
        except (OSError, ValueError) as e:
            die(f"{args.only}: {e}")
        pkls = [p for p in pkls if p.stem in wanted]
    if not pkls:
        die(f"{args.src}: no .pkl files to convert")
    bounds = {}
    ub = args.src / "upper_bound.json"
    if ub.is_file():
        bounds = json.loads(ub.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for pkl in pkls:
        try:
            text = convert(pkl, bounds)
        except (ValueError, AttributeError, pickle.UnpicklingError, EOFError) as e:
            die(f"{pkl}: {e}")
        write_atomic(args.out / f"{pkl.stem}.xsb", text)
    print(f"convert_magebench_sokoban: wrote {len(pkls)} levels to {args.out}"
          + ("" if bounds else " (no upper_bound.json: U left out; load_levels solves them)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
