"""`SokobanEnv`: a Gymnasium environment with gym-sokoban 0.0.6's rules, step for step.

Rules (``gym_sokoban/envs/sokoban_env.py``): actions 1-4 are push-or-move up, down, left, right
(``Discrete(4, start=1)``; MageBench maps Up=1, Down=2, Left=3, Right=4 and never uses gym-sokoban's
0 and 5-8). A step pushes the box in front when the cell beyond it is free, else moves when the cell
in front is free, else does nothing; every step costs -0.1 (a bump into a wall too). The reward adds
+1 when the number of boxes on targets went up in this step, -1 when it went down, and +10 when all
boxes are on targets. gym-sokoban's counter of boxes on targets starts at 0 on reset, so on a level
that starts with boxes already on targets the first step earns +1 (never on gym-sokoban's own levels,
which start with every target empty); this is kept for parity.

gym-sokoban has a single ``done`` (solved, or the step count reached ``max_steps``). Here
``terminated`` is True when the level is solved, also when that happens on the last allowed step,
and ``truncated`` is True when the step limit is reached unsolved. Stepping after either raises
(call `reset`). Tested against gym-sokoban itself on random action sequences
(tests/test_agents_sokoban_parity.py).

Observations (``observation=``): ``"rgb"`` (default, as gym-sokoban: (16 H, 16 W, 3) uint8),
``"text"`` (the XSB grid, rows joined by newlines) or ``"state"`` (gym-sokoban's ``room_state``
codes, (H, W) int8). `render()` gives the RGB image (``render_mode="rgb_array"``) or the grid
(``"ansi"``); `png()` gives PNG bytes resized to a long side.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.sokoban.configs import get_config, max_steps_for
from agents.sokoban.level import BOX, BOX_ON_TARGET, FLOOR, PLAYER, TARGET, WALL, Level
from agents.sokoban.render import TILE, render_rgb, to_png

ACTIONS = {"Up": 1, "Down": 2, "Left": 3, "Right": 4}
"""MageBench's move names -> gym-sokoban's push-or-move codes."""
ACTION_NAMES = {v: k for k, v in ACTIONS.items()}

_SYMBOLS = {WALL: "#", FLOOR: " ", TARGET: ".", BOX_ON_TARGET: "*", BOX: "$"}

STEP_PENALTY = -0.1
BOX_ON_REWARD = 1
BOX_OFF_PENALTY = -1
FINISH_REWARD = 10


class SokobanEnv(gym.Env):
    """One Sokoban level as a Gymnasium environment (see the module docstring for the rules).

    Args:
        level: a `Level` or XSB text; None together with `config` draws a fresh level from
            `agents.sokoban.generate_level` at every `reset` (seeded by the env's np_random).
        config: configuration name for generated levels (``"small-v0"`` ...), used when `level` is None.
        max_steps: step limit; default the level's, else its config's (200 or 300; v1 120), else 200.
        observation: ``"rgb"``, ``"text"`` or ``"state"``.
        render_mode: ``"rgb_array"``, ``"ansi"`` or None.

    Raises ValueError for a bad argument and `agents.sokoban.LevelError` for a bad level.
    """

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, level: Level | str | None = None, *, config: str | None = None,
                 max_steps: int | None = None, observation: str = "rgb", render_mode: str | None = None):
        if isinstance(level, str):
            level = Level.from_xsb(level)
        if level is None and config is None:
            raise ValueError("SokobanEnv needs a level or a config to generate levels from")
        if level is not None and not isinstance(level, Level):
            raise ValueError(f"level must be a Level or XSB text, got {type(level).__name__}")
        if config is not None:
            get_config(config)
        if observation not in ("rgb", "text", "state"):
            raise ValueError(f"observation must be 'rgb', 'text' or 'state', got {observation!r}")
        if render_mode not in (None, "rgb_array", "ansi"):
            raise ValueError(f"render_mode must be 'rgb_array', 'ansi' or None, got {render_mode!r}")
        if max_steps is not None and (type(max_steps) is not int or max_steps < 1):
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        self._config = config
        self._generating = level is None
        self._max_steps_arg = max_steps
        self.observation = observation
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(4, start=1)
        self._load(level if level is not None else self._generate(0))

    # ---- setup --------------------------------------------------------------------------------
    def _generate(self, seed: int) -> Level:
        from agents.sokoban.generate import generate_level

        return generate_level(self._config, seed)

    def _load(self, level: Level) -> None:
        self.level = level
        self.max_steps = self._max_steps_arg if self._max_steps_arg is not None else max_steps_for(level)
        h, w = level.height, level.width
        self._w = w
        self._deltas = (-w, w, -1, 1)
        fixed, state = level.to_arrays()
        self._fixed = fixed.ravel().tolist()
        self._initial = state.ravel().tolist()
        self.n_boxes = level.n_boxes
        if self.observation == "rgb":
            self.observation_space = spaces.Box(0, 255, (h * TILE, w * TILE, 3), np.uint8)
        elif self.observation == "state":
            self.observation_space = spaces.Box(0, 5, (h, w), np.int8)
        else:
            self.observation_space = spaces.Text(max_length=h * (w + 1), min_length=1,
                                                 charset=" #@$.*+\n")
        self._restart()

    def _restart(self) -> None:
        self._cells = list(self._initial)
        self._player = self._cells.index(PLAYER)
        self._on_target = sum(1 for c in self._cells if c == BOX_ON_TARGET)
        self._counted = 0  # gym-sokoban's boxes_on_target, 0 after reset
        self.steps = 0
        self._ended = False

    # ---- Gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Back to the level's start (``options={"level": Level}`` switches level; a config env draws
        a new one). Returns ``(observation, info)``."""
        super().reset(seed=seed)
        new = (options or {}).get("level")
        if new is not None:
            self._load(Level.from_xsb(new) if isinstance(new, str) else new)
        elif self._generating:
            self._load(self._generate(int(self.np_random.integers(0, 2**31 - 1))))
        else:
            self._restart()
        return self._observe(), self._info()

    def step(self, action):
        """One push-or-move (1 Up, 2 Down, 3 Left, 4 Right).

        Returns ``(observation, reward, terminated, truncated, info)``; info holds
        ``action.name``, ``action.moved_player``, ``action.moved_box`` (gym-sokoban's keys),
        ``boxes_on_target``, ``steps`` and ``solved``. Raises ValueError for an action outside the
        space and RuntimeError once the episode has ended.
        """
        if isinstance(action, bool) or not isinstance(action, (int, np.integer)) or not 1 <= action <= 4:
            raise ValueError(f"action must be an integer 1-4 (Up, Down, Left, Right), got {action!r}")
        if self._ended:
            raise RuntimeError("the episode has ended; call reset()")
        a = int(action)
        moved_player, moved_box = self._apply(a)
        reward = self._reward()
        solved = self._on_target == self.n_boxes
        terminated = solved
        truncated = not solved and self.steps >= self.max_steps
        self._ended = terminated or truncated
        info = self._info()
        info["action.name"] = ACTION_NAMES[a]
        info["action.moved_player"] = moved_player
        info["action.moved_box"] = moved_box
        return self._observe(), reward, terminated, truncated, info

    def _apply(self, a: int) -> tuple[bool, bool]:
        self.steps += 1
        cells, fixed = self._cells, self._fixed
        d = self._deltas[a - 1]
        p = self._player
        n = p + d
        target = cells[n]
        if target == BOX or target == BOX_ON_TARGET:
            b = n + d
            beyond = cells[b]
            if beyond != FLOOR and beyond != TARGET:
                return False, False
            if fixed[n] == TARGET:
                self._on_target -= 1
            if fixed[b] == TARGET:
                self._on_target += 1
                cells[b] = BOX_ON_TARGET
            else:
                cells[b] = BOX
            cells[n] = PLAYER
            cells[p] = fixed[p]
            self._player = n
            return True, True
        if target == FLOOR or target == TARGET:
            cells[n] = PLAYER
            cells[p] = fixed[p]
            self._player = n
            return True, False
        return False, False

    def _reward(self) -> float:
        # gym-sokoban's _calc_reward, operation for operation (same float results).
        reward = STEP_PENALTY
        current = self._on_target
        if current > self._counted:
            reward += BOX_ON_REWARD
        elif current < self._counted:
            reward += BOX_OFF_PENALTY
        if current == self.n_boxes:
            reward += FINISH_REWARD
        self._counted = current
        return reward

    def _info(self) -> dict:
        return {"boxes_on_target": self._on_target, "steps": self.steps,
                "solved": self._on_target == self.n_boxes}

    def _observe(self):
        if self.observation == "rgb":
            return self.rgb()
        if self.observation == "text":
            return self.text()
        return self.room_state.astype(np.int8)

    def render(self):
        if self.render_mode == "ansi":
            return self.text()
        if self.render_mode == "rgb_array":
            return self.rgb()
        return None

    # ---- views of the current scene -----------------------------------------------------------
    @property
    def room_state(self) -> np.ndarray:
        """gym-sokoban's ``room_state`` now: (H, W) int64 codes (a copy)."""
        return np.array(self._cells, dtype=np.int64).reshape(self.level.height, self._w)

    @property
    def room_fixed(self) -> np.ndarray:
        """gym-sokoban's ``room_fixed``: (H, W) int64 codes (a copy)."""
        return np.array(self._fixed, dtype=np.int64).reshape(self.level.height, self._w)

    @property
    def player_position(self) -> tuple[int, int]:
        return divmod(self._player, self._w)

    @property
    def boxes_on_target(self) -> int:
        return self._on_target

    @property
    def solved(self) -> bool:
        return self._on_target == self.n_boxes

    @property
    def ended(self) -> bool:
        """True once the episode terminated or was truncated."""
        return self._ended

    def text(self) -> str:
        """The current scene as an XSB grid (rows joined by newlines)."""
        w, fixed = self._w, self._fixed
        out = []
        for i, c in enumerate(self._cells):
            if c == PLAYER:
                out.append("+" if fixed[i] == TARGET else "@")
            else:
                out.append(_SYMBOLS[c])
            if i % w == w - 1 and i != len(self._cells) - 1:
                out.append("\n")
        return "".join(out)

    def current_level(self) -> Level:
        """The current scene as a `Level` (same name, config and step limit; no optimal data)."""
        return Level(tuple(self.text().split("\n")), name=self.level.name, config=self.level.config,
                     max_steps=self.level.max_steps)

    def rgb(self) -> np.ndarray:
        """The current scene as an RGB image, (16 H, 16 W, 3) uint8."""
        return render_rgb(self.room_state, self.room_fixed)

    def png(self, long_side: int | None = None) -> bytes:
        """PNG bytes of the current scene, resized so its longer side is `long_side` when given."""
        return to_png(self.rgb(), long_side)
