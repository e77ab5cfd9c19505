"""Batched reward scoring on a pool of Ray actors.

A batch is split into one contiguous chunk per actor (never one task per completion: Ray's per-task
overhead would dwarf a cheap reward). A killed actor is restarted by Ray (`max_restarts`) and its chunk
is retried on the restarted actor, first by Ray itself (`max_task_retries`) and, should that give up,
once more here, so no sample is lost and the scores come back in the batch's order.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence

from logicrl.ray.settings import RaySettings

logger = logging.getLogger(__name__)

RewardFn = Callable[..., list]

# Keyword arguments TRL passes that belong to the trainer process (bound methods, live objects): they are
# not sent to the actors. `trainer_state` (a plain dataclass) is.
_LOCAL_ONLY = ("log_metric", "log_extra", "environments")


class _RewardActor:
    """Holds the reward functions; scores one chunk of one function per call."""

    def __init__(self, reward_funcs: Sequence[RewardFn]):
        self.reward_funcs = list(reward_funcs)

    def score(self, index: int, prompts: list, completions: list, columns: dict) -> list:
        return list(self.reward_funcs[index](prompts, completions, **columns))

    def pid(self) -> int:
        import os

        return os.getpid()


def chunk_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """Split range(n) into at most `parts` contiguous, near-equal, non-empty [start, stop) slices."""
    parts = max(1, min(parts, n))
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _slice_columns(columns: dict, start: int, stop: int, n: int) -> dict:
    # Per-sample columns (lists as long as the batch) are sliced; anything else (trainer_state, ...)
    # is passed whole.
    return {k: (v[start:stop] if isinstance(v, (list, tuple)) and len(v) == n else v) for k, v in columns.items()}


class RewardActorPool:
    """`num_actors` Ray actors, each holding all the reward functions."""

    def __init__(self, reward_funcs: Sequence[RewardFn], num_actors: int, max_restarts: int = 3,
                 num_cpus: float = 1.0, retries: int = 3):
        import ray

        from logicrl.ray.cluster import connect

        connect()
        total = ray.cluster_resources().get("CPU", 0.0)
        if num_actors * num_cpus > total:
            from logicrl.errors import UserError

            raise UserError(f"config field ray.reward_actors: {num_actors} actors x {num_cpus} CPUs "
                            f"(ray.reward_actor_cpus) exceed the cluster's {total:g} CPUs")
        self.retries = retries
        actor_cls = ray.remote(num_cpus=num_cpus, max_restarts=max_restarts,
                               max_task_retries=max_restarts)(_RewardActor)
        self.actors = [actor_cls.remote(list(reward_funcs)) for _ in range(num_actors)]

    def score(self, index: int, prompts: list, completions: list, columns: dict) -> list:
        """Scores of reward function `index` for the whole batch, in order."""
        import ray
        from ray.exceptions import RayActorError

        n = len(completions)
        if n == 0:
            return []
        bounds = chunk_bounds(n, len(self.actors))
        args = [(prompts[a:b], completions[a:b], _slice_columns(columns, a, b, n)) for a, b in bounds]
        pending = {i: self.actors[i].score.remote(index, *args[i]) for i in range(len(bounds))}
        results: dict[int, list] = {}
        attempts = dict.fromkeys(pending, 0)
        while pending:
            i, ref = next(iter(pending.items()))
            try:
                results[i] = ray.get(ref)
                del pending[i]
            except RayActorError as exc:  # the actor died and Ray's own retries are spent
                attempts[i] += 1
                if attempts[i] > self.retries:
                    raise
                logger.warning("reward actor %d failed (%s); retrying its chunk", i, type(exc).__name__)
                pending[i] = self.actors[i].score.remote(index, *args[i])
        out: list = []
        for i, (a, b) in enumerate(bounds):
            chunk = results[i]
            if len(chunk) != b - a:
                raise ValueError(f"reward actor returned {len(chunk)} scores for {b - a} completions")
            out.extend(chunk)
        return out

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


def wrap_rewards(reward_funcs: Sequence[RewardFn], settings: RaySettings) -> list[RewardFn]:
    """TRL-style reward functions that score on a shared actor pool; same signature and `__name__`."""
    if settings.reward_actors <= 0:
        return list(reward_funcs)
    pool = RewardActorPool(reward_funcs, settings.reward_actors, max_restarts=settings.reward_max_restarts,
                           num_cpus=settings.reward_actor_cpus)
    return [_remote_reward(pool, i, fn) for i, fn in enumerate(reward_funcs)]


def _remote_reward(pool: RewardActorPool, index: int, fn: RewardFn) -> RewardFn:
    @functools.wraps(fn)
    def remote_reward(prompts, completions, **columns):
        shipped = {k: v for k, v in columns.items() if k not in _LOCAL_ONLY and not callable(v)}
        return pool.score(index, list(prompts), list(completions), shipped)

    remote_reward.pool = pool
    if hasattr(fn, "breakdown"):  # per-sample components stay local: they are for logging only
        remote_reward.breakdown = fn.breakdown
    return remote_reward
