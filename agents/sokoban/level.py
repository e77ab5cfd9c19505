"""Sokoban levels: an immutable value object read from and written to XSB text and to gym-sokoban's
two room arrays.

XSB (the standard Sokoban text format): ``#`` wall, ``@`` player, ``$`` box, ``.`` target,
``*`` box on target, ``+`` player on target, space floor. On input ``-`` and ``_`` are also read as
floor, ``p``/``P`` as player / player on target and ``b``/``B`` as box / box on target (common
variants). A line whose first character other than space, ``-`` or ``_`` is ``#`` is a map row, and
any other character in it is an error. Lines starting with ``;`` are comments; comments of the form
``; key: value`` carry a level's metadata (``name``, ``config``, ``max_steps``, ``optimal_moves``,
``optimal_reward``, ``solution``, ``seed``), which is checked: a known config, ``optimal_moves`` of
at most `MAX_OPTIMAL_MOVES`, and a solution that solves the level in ``optimal_moves`` moves. A
``Title: ...`` line right after a map names that map.

gym-sokoban arrays (``gym_sokoban/envs/sokoban_env.py``, ``room_utils.py``): ``room_fixed`` holds the
parts that never move (0 wall, 1 floor, 2 target); ``room_state`` the whole scene (0 wall, 1 floor,
2 empty target, 3 box on target, 4 box off target, 5 player, on floor or target). Both are
``(height, width)`` arrays, row 0 at the top.

A level must be closed: the player's area (the cells reachable from the player when boxes are
ignored) never touches the grid's border, and every box and target lies inside it. gym-sokoban's
rooms always are (a wall ring), so its rules and ours never differ at the border.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from agents.sokoban.configs import CONFIGS, get_config

# gym-sokoban's room codes.
WALL, FLOOR, TARGET, BOX_ON_TARGET, BOX, PLAYER = 0, 1, 2, 3, 4, 5

MAX_SIDE = 100
"""Largest height or width accepted (hostile or corrupt input is refused, not parsed forever)."""

MAX_OPTIMAL_MOVES = max(c.max_steps for c in CONFIGS.values())
"""Largest `optimal_moves` accepted: 300, the longest episode of any configuration; a longer optimal
solution could not be played out in an episode. It feeds the score through U = 10 + boxes - 0.1 *
moves (scoring.py: ``(best - U) * 5 + 100``), so U stays >= -19 and doing nothing scores at most 195
(an unbounded count once gave U = -1e22 and scores of 5e+22)."""

_CANONICAL = set("#@$.*+ ")
_ALIASES = {"-": " ", "_": " ", "p": "@", "P": "+", "b": "$", "B": "*"}
_MAP_CHARS = set("#@$.*+ -_pPbB")
META_KEYS = ("name", "config", "max_steps", "optimal_moves", "optimal_reward", "solution", "seed")
_INT_KEYS = ("max_steps", "optimal_moves", "seed")
MOVE_LETTERS = {"Up": "u", "Down": "d", "Left": "l", "Right": "r"}
LETTER_MOVES = {v: k for k, v in MOVE_LETTERS.items()}


class LevelError(ValueError):
    """A level that is malformed or not playable (one-line message)."""


def optimal_reward(n_boxes: int, moves: int) -> float:
    """MageBench's U for a level solved optimally in `moves` moves: ``10 + n_boxes - 0.1 * moves``.

    The sum of gym-sokoban's rewards along an optimal solution (``-0.1`` a step, ``+1`` per box
    placed, ``+10`` at the end) when no box starts on a target; computed in tenths so that it is
    the float nearest the decimal value (10.8, not 10.799999999999999).
    """
    return (100 + 10 * n_boxes - moves) / 10


@dataclass(frozen=True)
class Level:
    """One Sokoban level: its layout (`rows`, canonical XSB, all of one width) plus metadata.

    Metadata: `name`; `config` (one of ``agents.sokoban.CONFIGS``, or None; a ``Sokoban-`` prefix is
    dropped); `max_steps` (the episode's step limit, None = the config's or 200); `optimal_moves`
    (fewest moves that solve it, 0 to `MAX_OPTIMAL_MOVES`, None = unknown); `solution` (one optimal
    solution in LURD notation: lower case a move, upper case a push; replayed, it must solve the
    level with its last move and no move may be blocked); `seed` (the generator seed that reproduces
    it). Equality compares everything.

    Raises `LevelError` (a ValueError) when the layout is not a closed, playable level or the
    metadata is inconsistent with it.
    """

    rows: tuple[str, ...]
    name: str = ""
    config: str | None = None
    max_steps: int | None = None
    optimal_moves: int | None = None
    solution: str | None = None
    seed: int | None = None

    def __post_init__(self):
        rows = tuple(self.rows)
        object.__setattr__(self, "rows", rows)
        if not rows:
            raise LevelError("empty level")
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise LevelError("rows of a Level must all have the same width (Level.from_xsb pads them)")
        if len(rows) > MAX_SIDE or width > MAX_SIDE:
            raise LevelError(f"level is {len(rows)}x{width}; at most {MAX_SIDE}x{MAX_SIDE} is accepted")
        bad = set("".join(rows)) - _CANONICAL
        if bad:
            raise LevelError(f"unknown level characters {''.join(sorted(bad))!r}")
        flat = "".join(rows)
        n_players = flat.count("@") + flat.count("+")
        if n_players != 1:
            raise LevelError(f"a level needs exactly one player, found {n_players}")
        n_boxes = flat.count("$") + flat.count("*")
        n_targets = flat.count(".") + flat.count("*") + flat.count("+")
        if n_boxes == 0:
            raise LevelError("a level needs at least one box")
        if n_boxes != n_targets:
            raise LevelError(f"a level needs as many targets as boxes, found {n_boxes} boxes and "
                             f"{n_targets} targets")
        area = self.area
        h, w = len(rows), width
        if any(i // w in (0, h - 1) or i % w in (0, w - 1) for i in area):
            raise LevelError("level is not closed: the player can reach the border of the grid")
        outside = [i for i, ch in enumerate(flat) if ch in "$*." and i not in area]
        if outside:
            r, c = divmod(outside[0], w)
            raise LevelError(f"box or target at row {r}, column {c} lies outside the player's area")
        if self.optimal_moves is not None and (type(self.optimal_moves) is not int
                                               or not 0 <= self.optimal_moves <= MAX_OPTIMAL_MOVES):
            raise LevelError(f"optimal_moves must be an integer from 0 to {MAX_OPTIMAL_MOVES}, "
                             f"got {self.optimal_moves!r}")
        if self.config is not None:
            try:
                object.__setattr__(self, "config", get_config(str(self.config)).name)
            except ValueError as e:
                raise LevelError(str(e)) from None
        if self.max_steps is not None and (type(self.max_steps) is not int or self.max_steps < 1):
            raise LevelError(f"max_steps must be a positive integer, got {self.max_steps!r}")
        if self.solution is not None:
            if set(self.solution) - set("udlrUDLR"):
                raise LevelError("solution must be in LURD notation (letters u, d, l, r; upper case = push)")
            if self.optimal_moves is not None and len(self.solution) != self.optimal_moves:
                raise LevelError(f"solution has {len(self.solution)} moves but optimal_moves is "
                                 f"{self.optimal_moves}")
            _check_solution(self)

    # ---- geometry -----------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @cached_property
    def area(self) -> frozenset[int]:
        """Flat indices (row * width + column) the player can reach when boxes are ignored."""
        flat, w = "".join(self.rows), len(self.rows[0])
        start = next(i for i, ch in enumerate(flat) if ch in "@+")
        seen, stack = {start}, [start]
        n = len(flat)
        while stack:
            i = stack.pop()
            r, c = divmod(i, w)
            for j, ok in ((i - w, r > 0), (i + w, i + w < n), (i - 1, c > 0), (i + 1, c < w - 1)):
                if ok and j not in seen and flat[j] != "#":
                    seen.add(j)
                    stack.append(j)
        return frozenset(seen)

    def _cells(self, chars: str) -> frozenset[tuple[int, int]]:
        return frozenset((r, c) for r, row in enumerate(self.rows) for c, ch in enumerate(row) if ch in chars)

    @cached_property
    def boxes(self) -> frozenset[tuple[int, int]]:
        """(row, column) of every box."""
        return self._cells("$*")

    @cached_property
    def targets(self) -> frozenset[tuple[int, int]]:
        """(row, column) of every target."""
        return self._cells(".*+")

    @cached_property
    def walls(self) -> frozenset[tuple[int, int]]:
        return self._cells("#")

    @cached_property
    def player(self) -> tuple[int, int]:
        return next(iter(self._cells("@+")))

    @property
    def n_boxes(self) -> int:
        return len(self.boxes)

    @property
    def is_solved(self) -> bool:
        return self.boxes == self.targets

    @property
    def boxes_on_targets(self) -> int:
        return len(self.boxes & self.targets)

    @property
    def optimal_reward(self) -> float | None:
        """MageBench's U (``10 + boxes - 0.1 * optimal_moves``), or None when `optimal_moves` is unknown."""
        if self.optimal_moves is None:
            return None
        return optimal_reward(self.n_boxes, self.optimal_moves)

    def replace(self, **changes) -> Level:
        """A copy with some fields changed (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)

    # ---- XSB ----------------------------------------------------------------------------------
    @classmethod
    def from_xsb(cls, text: str, **meta) -> Level:
        """The one level in `text` (XSB, with optional ``; key: value`` metadata comments).

        Keyword arguments override metadata read from the text. Raises `LevelError` when the text
        holds no level or several (use `parse_xsb` for collections).
        """
        levels = parse_xsb(text)
        if len(levels) != 1:
            raise LevelError(f"expected one level, found {len(levels)} (use parse_xsb for collections)")
        return levels[0].replace(**meta) if meta else levels[0]

    def to_xsb(self, metadata: bool = True) -> str:
        """XSB text (trailing spaces of each row removed), preceded by ``; key: value`` metadata lines."""
        lines = []
        if metadata:
            for key in META_KEYS:
                value = self.optimal_reward if key == "optimal_reward" else getattr(self, key)
                if value is not None and value != "":
                    lines.append(f"; {key}: {value}")
        lines.extend(r.rstrip() for r in self.rows)
        return "\n".join(lines) + "\n"

    def text_grid(self) -> str:
        """The rows as one string (XSB symbols, rows joined by newlines, full width kept)."""
        return "\n".join(self.rows)

    # ---- gym-sokoban arrays -------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, room_fixed, room_state, **meta) -> Level:
        """A level from gym-sokoban's ``room_fixed`` and ``room_state`` (codes in the module docstring).

        A box is on a target when ``room_fixed`` says target there (gym-sokoban's own generator
        leaves code 4 on every box). Raises `LevelError` on shape or code mismatches.
        """
        fixed = np.asarray(room_fixed)
        state = np.asarray(room_state)
        if fixed.ndim != 2 or fixed.shape != state.shape:
            raise LevelError(f"room_fixed {fixed.shape} and room_state {state.shape} must be 2-D and "
                             "of one shape")
        if not (np.all(fixed == np.round(fixed)) and np.all(state == np.round(state))):
            raise LevelError("room arrays must hold integer codes")
        fixed = fixed.astype(np.int64)
        state = state.astype(np.int64)
        if fixed.min(initial=0) < 0 or fixed.max(initial=0) > 2:
            raise LevelError("room_fixed codes must be 0 (wall), 1 (floor) or 2 (target)")
        if state.min(initial=0) < 0 or state.max(initial=0) > 5:
            raise LevelError("room_state codes must be 0 to 5")
        rows = []
        for r in range(fixed.shape[0]):
            row = []
            for c in range(fixed.shape[1]):
                f, s = fixed[r, c], state[r, c]
                if (f == WALL) != (s == WALL):
                    raise LevelError(f"room_fixed and room_state disagree on a wall at row {r}, column {c}")
                if s in (FLOOR, TARGET) and s != f:
                    raise LevelError(f"room_state {s} over room_fixed {f} at row {r}, column {c}")
                if s == WALL:
                    row.append("#")
                elif s == PLAYER:
                    row.append("+" if f == TARGET else "@")
                elif s in (BOX, BOX_ON_TARGET):
                    row.append("*" if f == TARGET else "$")
                else:
                    row.append("." if f == TARGET else " ")
            rows.append("".join(row))
        return cls(tuple(rows), **meta)

    def to_arrays(self, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
        """``(room_fixed, room_state)`` in gym-sokoban's codes, new arrays of shape (height, width)."""
        fixed = np.empty((self.height, self.width), dtype=dtype)
        state = np.empty((self.height, self.width), dtype=dtype)
        for r, row in enumerate(self.rows):
            for c, ch in enumerate(row):
                fixed[r, c], state[r, c] = _CHAR_CODES[ch]
        return fixed, state


_CHAR_CODES = {
    "#": (WALL, WALL), " ": (FLOOR, FLOOR), ".": (TARGET, TARGET), "$": (FLOOR, BOX),
    "*": (TARGET, BOX_ON_TARGET), "@": (FLOOR, PLAYER), "+": (TARGET, PLAYER),
}


def _check_solution(level: Level) -> None:
    """Replay `level.solution` in `SokobanEnv`; LevelError unless it solves the level with its last move.

    Every move must move the player (a bump into a wall or a blocked push is no part of an optimal
    solution). Upper/lower case is not compared with pushes: solutions converted from MageBench's
    files are not known to follow that convention, and the moves alone decide the replay.
    """
    from agents.sokoban.env import ACTIONS, SokobanEnv  # env imports this module

    moves = level.solution
    env = SokobanEnv(level, max_steps=len(moves) + 1, observation="state")
    for i, ch in enumerate(moves, 1):
        if env.solved:
            raise LevelError(f"solution solves the level after {i - 1} moves but has {len(moves)}")
        info = env.step(ACTIONS[LETTER_MOVES[ch.lower()]])[4]
        if not info["action.moved_player"]:
            raise LevelError(f"solution move {i} ({ch!r}) is blocked")
    if not env.solved:
        raise LevelError(f"solution does not solve the level ({env.boxes_on_target} of {level.n_boxes} "
                         "boxes on targets after it)")


def _is_map_line(line: str) -> bool:
    s = line.rstrip()
    return bool(s) and "#" in s and set(s) <= _MAP_CHARS


def _looks_like_map(line: str) -> bool:
    """A row of a map, maybe with bad characters: its first character other than floor is a wall."""
    return line.lstrip(" -_").startswith("#")


def _meta_value(key: str, value: str, where: str):
    if key in _INT_KEYS:
        try:
            return int(value)
        except ValueError:
            raise LevelError(f"{where}: {key} must be an integer, got {value!r}") from None
    if key == "optimal_reward":
        try:
            u = float(value)
        except ValueError:
            raise LevelError(f"{where}: optimal_reward must be a number, got {value!r}") from None
        if not math.isfinite(u):
            raise LevelError(f"{where}: optimal_reward must be finite")
        return u
    return value


def _build(rows: list[str], meta: dict, where: str) -> Level:
    rows = ["".join(_ALIASES.get(ch, ch) for ch in r).rstrip() for r in rows]
    width = max(len(r) for r in rows)
    canon = tuple(r.ljust(width) for r in rows)
    u = meta.pop("optimal_reward", None)
    try:
        level = Level(canon, **meta)
    except LevelError as e:
        raise LevelError(f"{where}: {e}") from None
    if u is not None:
        moves = round((10 + level.n_boxes - u) * 10)
        if level.optimal_moves is None:
            if moves < 0 or abs(optimal_reward(level.n_boxes, moves) - u) > 1e-6:
                raise LevelError(f"{where}: optimal_reward {u} is not 10 + boxes - 0.1 * moves")
            level = level.replace(optimal_moves=moves)
        elif abs(level.optimal_reward - u) > 1e-6:
            raise LevelError(f"{where}: optimal_reward {u} does not match optimal_moves "
                             f"{level.optimal_moves} ({level.optimal_reward})")
    return level


def parse_xsb(text: str, source: str = "XSB text") -> list[Level]:
    """Every level in an XSB text (one level or a collection), in order, with its metadata.

    Metadata comments (``; key: value``) apply to the next map; a ``Title:`` line right after a map
    names it. Raises `LevelError` naming `source` and the line for anything malformed.
    """
    if not isinstance(text, str):
        raise LevelError(f"{source}: expected text, got {type(text).__name__}")
    levels: list[Level] = []
    meta: dict = {}
    rows: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        if _looks_like_map(line) and not _is_map_line(line):
            bad = next(ch for ch in line.rstrip() if ch not in _MAP_CHARS)
            if bad == "\t":
                raise LevelError(f"{source}, line {n}: tabs are not allowed in a map")
            row = n - start + 1 if rows else 1
            raise LevelError(f"{source}, line {n}: unknown character {bad!r} in line {row} of the map")
        if rows and _is_map_line(line):
            rows.append(line)
            continue
        if rows:  # the map ended
            levels.append(_build(rows, meta, f"{source}, level at line {start}"))
            rows, meta = [], {}
            if line.strip().lower().startswith("title:"):
                levels[-1] = levels[-1].replace(name=line.split(":", 1)[1].strip())
                continue
        if _is_map_line(line):
            rows, start = [line], n
        elif line.lstrip().startswith(";"):
            body = line.lstrip()[1:].strip()
            key, sep, value = body.partition(":")
            key = key.strip().lower()
            if sep and key in META_KEYS:
                meta[key] = _meta_value(key, value.strip(), f"{source}, line {n}")
        elif "\t" in line and set(line.replace("\t", "")) <= _MAP_CHARS:
            raise LevelError(f"{source}, line {n}: tabs are not allowed in a map")
    if rows:
        levels.append(_build(rows, meta, f"{source}, level at line {start}"))
    return levels


def moves_to_lurd(moves, pushes=None) -> str:
    """``["Up", "Left"]`` -> ``"ul"`` (or upper case where `pushes[i]` is true)."""
    out = []
    for i, m in enumerate(moves):
        ch = MOVE_LETTERS[m]
        out.append(ch.upper() if pushes is not None and pushes[i] else ch)
    return "".join(out)


def lurd_to_moves(lurd: str) -> list[str]:
    """``"uLd"`` -> ``["Up", "Left", "Down"]`` (case ignored)."""
    try:
        return [LETTER_MOVES[ch] for ch in lurd.lower()]
    except KeyError as e:
        raise LevelError(f"not LURD notation: {e.args[0]!r}") from None
