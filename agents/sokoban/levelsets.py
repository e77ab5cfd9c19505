"""Level sets: the shipped MageBench-mix sets, XSB files and folders of them.

Shipped (package data, generated once by ``scripts/make_sokoban_levels.py`` with seed 0 and never
changed, so every run scores the same levels):
- ``all``: 182 levels in MageBench's configuration mix (small-v0 50, small-v1 20, v0 15, v1 24,
  v2 22, large-v0 14, large-v1 18, huge-v0 19);
- ``mini``: 20 of them in MageBench's mini mix (small-v0 9, small-v1 3, v0 2, v1 1, large-v0 3,
  huge-v0 2), in each configuration the ones with the fewest optimal moves (MageBench's mini levels
  are easier than its full set: 10.3 against 25.3 optimal moves on average).
Each level records its config, step limit, optimal moves, U, one optimal solution (LURD) and the
generator seed that reproduces it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from agents.sokoban.configs import MAGEBENCH_MINI_MIX
from agents.sokoban.env import ACTIONS, SokobanEnv
from agents.sokoban.level import Level, LevelError, lurd_to_moves, moves_to_lurd, parse_xsb
from agents.sokoban.solver import DEFAULT_MAX_EXPANSIONS, MOVES, SolverBudgetExceeded, _search

DATA_DIR = Path(__file__).resolve().parent / "data"
LEVEL_SETS = {"all": DATA_DIR / "magebench-all.xsb", "mini": DATA_DIR / "magebench-mini.xsb"}
MAX_FILE_BYTES = 10_000_000


def read_xsb_file(path: str | Path) -> list[Level]:
    """Every level in one XSB file; unnamed levels are named after the file (``stem`` or ``stem-2``)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise LevelError(f"{path}: {e.strerror or e}") from None
    if size > MAX_FILE_BYTES:
        raise LevelError(f"{path}: {size} bytes; level files are at most {MAX_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LevelError(f"{path}: not UTF-8 text") from None
    levels = parse_xsb(text, source=str(path))
    out = []
    for i, lv in enumerate(levels):
        if not lv.name:
            lv = lv.replace(name=path.stem if len(levels) == 1 else f"{path.stem}-{i + 1}")
        out.append(lv)
    return out


def with_optimal(level: Level, max_expansions: int = DEFAULT_MAX_EXPANSIONS) -> Level:
    """`level` with `optimal_moves` and `solution` filled in by the solver (unchanged when known).

    Raises LevelError when the level has no solution or the solver's budget runs out.
    """
    if level.optimal_moves is not None:
        return level
    try:
        out = _search(level, None, max_expansions)
    except SolverBudgetExceeded:
        raise LevelError(f"level {level.name or '(unnamed)'}: the solver did not finish within {max_expansions} "
                         "push states; record its U in the file ('; optimal_reward: U')") from None
    if out is None:
        raise LevelError(f"level {level.name or '(unnamed)'} has no solution")
    dirs, pushes = out
    moves = [MOVES[k] for k in dirs]
    return level.replace(optimal_moves=len(moves), solution=moves_to_lurd(moves, pushes))


def load_levels(source: str | os.PathLike = "mini", *, solve_missing: bool = True,
                max_expansions: int = DEFAULT_MAX_EXPANSIONS) -> list[Level]:
    """Levels from ``"all"``, ``"mini"``, an XSB file, or a folder of ``*.xsb`` files (by file name).

    Levels without a recorded U are solved when `solve_missing` (raising when the solver cannot),
    so every returned level can be scored. Raises LevelError (a ValueError) for bad input.
    """
    key = os.fspath(source)
    if key in LEVEL_SETS:
        path = LEVEL_SETS[key]
    else:
        path = Path(key)
        if not path.exists():
            raise LevelError(f"{key}: no such level set or path (known sets: {', '.join(LEVEL_SETS)})")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xsb" and p.is_file())
        if not files:
            raise LevelError(f"{path}: no .xsb files in this folder")
        levels = [lv for f in files for lv in read_xsb_file(f)]
    else:
        levels = read_xsb_file(path)
    if not levels:
        raise LevelError(f"{path}: no levels found")
    if solve_missing:
        levels = [with_optimal(lv, max_expansions) for lv in levels]
    return levels


def save_levels(levels: Iterable[Level], path: str | os.PathLike, header: str = "") -> None:
    """Write levels as one XSB collection (metadata comments, a blank line between levels),
    atomically: a temporary file renamed into place, so no half-written file is left."""
    path = Path(path)
    parts = []
    if header:
        parts.append("".join(f"; {line}\n" if line else ";\n" for line in header.splitlines()))
    parts.extend(lv.to_xsb() for lv in levels)
    text = "\n".join(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved level file is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def replay(level: Level, moves: Iterable[str]) -> SokobanEnv:
    """A fresh environment on `level` after `moves` (names), without a step limit in the way."""
    moves = list(moves)
    env = SokobanEnv(level, max_steps=max(1, len(moves) + 1), observation="state")
    for m in moves:
        env.step(ACTIONS[m])
    return env


def check_level(level: Level) -> None:
    """Raise LevelError unless the recorded solution solves `level` in exactly `optimal_moves` moves."""
    if level.solution is None or level.optimal_moves is None:
        raise LevelError(f"level {level.name}: no recorded solution")
    env = replay(level, lurd_to_moves(level.solution))
    if not env.solved or env.steps != level.optimal_moves:
        raise LevelError(f"level {level.name}: recorded solution does not solve it in {level.optimal_moves} moves")


def mini_subset(levels: list[Level], mix: dict[str, int] = MAGEBENCH_MINI_MIX) -> list[Level]:
    """The `mix` subset of `levels`: per configuration the ones with the fewest optimal moves
    (ties: original order), kept in their original order."""
    chosen = set()
    for config, n in mix.items():
        pool = [(lv.optimal_moves, i) for i, lv in enumerate(levels) if lv.config == config]
        if len(pool) < n:
            raise ValueError(f"only {len(pool)} {config} levels for a mini subset of {n}")
        chosen.update(i for _, i in sorted(pool)[:n])
    return [lv for i, lv in enumerate(levels) if i in chosen]
