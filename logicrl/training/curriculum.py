"""Curriculum over the number of people.

`Curriculum` holds the current level and the dataset's `n_people` column; `CurriculumSampler` is the
trainer's sampler (same repeat structure as TRL's RepeatSampler, so groups of rollouts stay intact) and
draws each new batch of prompts from the current level; `CurriculumCallback` advances the level on a step
schedule or when the logged training accuracy passes a threshold.
"""

from __future__ import annotations

import json
import random
from collections import deque
from pathlib import Path

from torch.utils.data import Sampler
from transformers import TrainerCallback

STATE_FILE = "curriculum.json"


class Curriculum:
    """Which numbers of people the trainer samples from now."""

    def __init__(self, n_people: list[int], levels: list[int], mode: str = "schedule", steps_per_level: int = 50,
                 threshold: float = 0.8, window: int = 5, mix_previous: float = 0.0):
        self.n_people = list(n_people)
        self.levels = list(levels)
        missing = [lv for lv in self.levels if lv not in set(self.n_people)]
        if missing:
            from logicrl.errors import UserError

            raise UserError(f"config field curriculum.levels: no training puzzles with {missing[0]} people")
        self.mode = mode
        self.steps_per_level = steps_per_level
        self.threshold = threshold
        self.window = window
        self.mix_previous = mix_previous
        self.index = 0
        self.history: list[tuple[int, int]] = [(0, self.levels[0])]  # (global step, level) when entered
        self._by_level = {lv: [i for i, n in enumerate(self.n_people) if n == lv] for lv in self.levels}

    @property
    def level(self) -> int:
        return self.levels[self.index]

    def advance(self, step: int) -> bool:
        if self.index + 1 >= len(self.levels):
            return False
        self.index += 1
        self.history.append((step, self.level))
        return True

    def set_index(self, index: int) -> None:
        self.index = max(0, min(index, len(self.levels) - 1))

    def pools(self) -> tuple[list[int], list[int]]:
        """Dataset indices of the current level, and of all earlier levels."""
        earlier = [i for lv in self.levels[: self.index] for i in self._by_level[lv]]
        return self._by_level[self.level], earlier

    def state_dict(self) -> dict:
        return {"index": self.index, "level": self.level, "history": self.history}

    def save(self, directory: str | Path) -> None:
        from logicrl.fsutil import atomic_write_text

        atomic_write_text(Path(directory) / STATE_FILE, json.dumps(self.state_dict()))

    def load(self, directory: str | Path) -> None:
        path = Path(directory) / STATE_FILE
        if path.is_file():
            state = json.loads(path.read_text())
            self.set_index(int(state.get("index", 0)))
            self.history = [tuple(h) for h in state.get("history", self.history)]


class CurriculumSampler(Sampler):
    """Like TRL's RepeatSampler, but each batch of distinct prompts is drawn from the current level.

    Yields, per batch: for each of `repeat_count` passes, each prompt index `mini_repeat_count` times.
    Every process builds the same sequence (same seed, same level), which keeps groups aligned.
    """

    def __init__(self, curriculum: Curriculum, mini_repeat_count: int, batch_size: int, repeat_count: int = 1,
                 seed: int = 0):
        self.curriculum = curriculum
        self.mini_repeat_count = mini_repeat_count
        self.batch_size = batch_size
        self.repeat_count = repeat_count
        self.seed = seed
        self.epoch = 0
        self.num_batches = max(len(curriculum.n_people) // batch_size, 1)

    def _draw(self, rng: random.Random, pool: list[int], k: int) -> list[int]:
        if k <= 0 or not pool:
            return []
        if k <= len(pool):
            return rng.sample(pool, k)
        return [rng.choice(pool) for _ in range(k)]

    def __iter__(self):
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        for _ in range(self.num_batches):
            current, earlier = self.curriculum.pools()  # read the level afresh for every batch
            n_earlier = round(self.batch_size * self.curriculum.mix_previous) if earlier else 0
            batch = self._draw(rng, current, self.batch_size - n_earlier) + self._draw(rng, earlier, n_earlier)
            for _ in range(self.repeat_count):
                for index in batch:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def __len__(self) -> int:
        return self.num_batches * self.batch_size * self.mini_repeat_count * self.repeat_count


class CurriculumCallback(TrainerCallback):
    """Advances the curriculum: every `steps_per_level` steps, or when the mean logged `accuracy` over the
    last `window` logs reaches `threshold` (taking effect one batch later, the dataloader's look-ahead).
    Logs `curriculum/level`; `LogicRLTrainer._save_checkpoint` saves its state with each checkpoint. The
    people count of the batches actually trained on is logged by the reward wrapper as `batch/n_people`."""

    def __init__(self, curriculum: Curriculum, accuracy_key: str = "accuracy"):
        self.curriculum = curriculum
        self.accuracy_key = accuracy_key
        self._recent: deque[float] = deque(maxlen=curriculum.window)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.curriculum.mode == "schedule":
            self.curriculum.set_index(state.global_step // self.curriculum.steps_per_level)

    def on_step_end(self, args, state, control, **kwargs):
        c = self.curriculum
        # +1: accelerate's dataloader draws one batch ahead, so the batch of step N + 1 is drawn at the
        # end of step N - 1. Advancing one step early puts step k * steps_per_level + 1 on the new level.
        if c.mode == "schedule" and (state.global_step + 1) // c.steps_per_level > c.index:
            c.advance(state.global_step + 1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        c = self.curriculum
        if logs is None:
            return
        logs["curriculum/level"] = c.level  # the level new batches are drawn from
        if c.mode != "threshold" or logs.get(self.accuracy_key) is None:
            return
        self._recent.append(float(logs[self.accuracy_key]))
        window_full = len(self._recent) == c.window
        if window_full and sum(self._recent) / c.window >= c.threshold and c.advance(state.global_step):
            self._recent.clear()

