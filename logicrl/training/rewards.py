"""The recipe's rewards as TRL reward functions: built by `rewards.from_config` (every option honoured), scored
on Ray reward actors when the recipe asks, and wrapped to log components and accuracy per step.

TRL calls each function as `fn(prompts, completions, **dataset_columns, log_metric=...)` inside
`GRPOTrainer._calculate_rewards`; the weighted sum of their scores is what the advantage estimator sees.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict

from logicrl.config import TrainConfig
from logicrl.errors import UserError, first_line


def build_rewards(config: TrainConfig) -> tuple[list, list[float]]:
    """The recipe's reward callables (with component logging) and their weights. Raises UserError naming
    the reward entry that cannot be built."""
    import rewards

    funcs, weights, task_lists = [], [], []
    for i, spec in enumerate(config.rewards):
        spec = dict(spec)
        task_lists.append(spec.pop("tasks", None))  # ours, not the reward's: see restrict_to_tasks
        try:
            (fn,), (weight,) = rewards.from_config([spec])  # registered name, entry point or "pkg.mod:fn"
        except UserError:
            raise
        except (ValueError, TypeError, ImportError, AttributeError, KeyError) as exc:
            raise UserError(f"config field rewards[{i}]: cannot build reward {spec.get('name')!r}: "
                            f"{first_line(exc)}") from None
        funcs.append(fn)
        weights.append(weight)
    remote = config.ray.reward_actors > 0
    if remote:
        from logicrl.ray.reward_pool import wrap_rewards

        funcs = wrap_rewards(funcs, config.ray)
    funcs = [fn if tasks is None else restrict_to_tasks(fn, tasks) for fn, tasks in zip(funcs, task_lists)]
    # Component curves come from the local breakdown; with reward actors the scores still come from them.
    funcs = [with_component_logging(fn, scores_from_breakdown=not remote,
                                    log_components=getattr(fn, "log_components", True)) for fn in funcs]
    return funcs, weights


def restrict_to_tasks(fn, tasks):
    """A reward that scores only the rows whose `task` column is in `tasks` (calling `fn` on those rows alone, every
    list column sliced alike) and returns None for the others, which TRL then leaves out of that reward (its
    multi-task convention). The breakdown, when `fn` has one, gives `{"reward": None}` for the other rows."""
    tasks = set(tasks)
    name = getattr(fn, "__name__", "reward")

    def split(prompts, completions, kwargs):
        n = len(completions)
        rows = [i for i, t in enumerate(kwargs.get("task") or [None] * n) if t in tasks]
        sub = {k: [v[i] for i in rows] if isinstance(v, list) and len(v) == n else v for k, v in kwargs.items()}
        return rows, [prompts[i] for i in rows], [completions[i] for i in rows], sub

    @functools.wraps(fn)
    def reward(prompts, completions, **kwargs):
        rows, p, c, sub = split(prompts, completions, kwargs)
        out = [None] * len(completions)
        for i, score in zip(rows, fn(p, c, **sub) if rows else [], strict=True):
            out[i] = score
        return out

    breakdown = getattr(fn, "breakdown", None)
    if breakdown is not None:
        def restricted_breakdown(prompts, completions, **kwargs):
            rows, p, c, sub = split(prompts, completions, kwargs)
            out = [{"reward": None} for _ in completions]
            for i, parts in zip(rows, breakdown(p, c, **sub) if rows else [], strict=True):
                out[i] = parts
            return out

        reward.breakdown = restricted_breakdown
    reward.__name__ = name
    return reward


# Keys of a reward breakdown that say whether the answer is fully right, in order of preference.
_LOG_HOOKS = ("log_metric", "log_extra")
_CORRECT_KEYS = ("correct", "is_correct", "answer_correct", "accuracy")


def is_correct(parts: dict) -> bool | None:
    """Whether a breakdown says the answer was fully correct (None when it carries no such component)."""
    for key in _CORRECT_KEYS:
        if key in parts and parts[key] is not None:
            try:
                value = float(parts[key])
            except (TypeError, ValueError):
                return None
            return None if math.isnan(value) else value >= 1.0 - 1e-9
    return None


def _is_nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def with_component_logging(fn, name: str | None = None, scores_from_breakdown: bool = True,
                           log_components: bool = True):
    """Wrap a reward function so each call also logs, through TRL's `log_metric` hook, the mean of every
    breakdown component (`<name>/<component>`; not with `log_components=False`), the fraction of fully
    correct answers (`accuracy`) and that fraction by number of people (`accuracy/n<k>`), and the mean
    number of people of the batch (`batch/n_people`). Scores are unchanged. With `scores_from_breakdown`, a
    breakdown that carries the total under "reward" (rewards.RewardFn) gives the scores too, so each batch
    is scored once."""
    name = name or getattr(fn, "__name__", "reward")
    breakdown = getattr(fn, "breakdown", None)

    @functools.wraps(fn)
    def reward(prompts, completions, **kwargs):
        log_metric = kwargs.get("log_metric")
        if log_metric is None or breakdown is None:
            return fn(prompts, completions, **kwargs)
        # One pass: the breakdown carries the total under "reward" (rewards.RewardFn); else call fn too.
        parts = breakdown(prompts, completions, **kwargs)
        if scores_from_breakdown and parts and all("reward" in row for row in parts):
            scores = [None if _is_nan(row["reward"]) else float(row["reward"]) for row in parts]
        else:  # the components are logged here: keep the hooks from the call (and from reward actors)
            scores = fn(prompts, completions, **{k: v for k, v in kwargs.items() if k not in _LOG_HOOKS})
        sums: dict[str, list[float]] = defaultdict(list)
        for row in parts:
            for key, value in row.items():
                if key != "reward" and isinstance(value, (int, float)) and math.isfinite(value):
                    sums[key].append(float(value))
        for key, values in sums.items() if log_components else ():
            log_metric(f"{name}/{key}", sum(values) / len(values))
        people = [int(n) for n in (kwargs.get("n_people") or []) if n is not None]
        if people:
            log_metric("batch/n_people", sum(people) / len(people))
        correct = [is_correct(row) for row in parts]
        if any(c is not None for c in correct):
            known = [c for c in correct if c is not None]
            log_metric("accuracy", sum(known) / len(known))
            by_n: dict[int, list[bool]] = defaultdict(list)
            for c, n in zip(correct, kwargs.get("n_people") or []):
                if c is not None and n is not None:
                    by_n[int(n)].append(c)
            for n, values in sorted(by_n.items()):
                log_metric(f"accuracy/n{n}", sum(values) / len(values))
            by_route: dict[str, list[bool]] = defaultdict(list)  # routed adapters: accuracy per adapter
            for c, route in zip(correct, kwargs.get("route") or []):
                if c is not None and route is not None:
                    by_route[str(route)].append(c)
            for route, values in sorted(by_route.items()):
                log_metric(f"adapters/{route}/accuracy", sum(values) / len(values))
        return scores

    reward.__name__ = name
    return reward




def check_reward_columns(config: TrainConfig, dataset) -> None:
    """Score one row of `dataset` (each reward's first row, among its `tasks` when it has them) with an empty
    completion, so that a reward that cannot read this data (for instance `kk` on Sokoban levels: no
    'solution_text_format' column) is a one-line UserError before the model loads, not a crash at step 1.
    Only `RewardConfigError` counts: what a reward makes of an empty completion is its own business."""
    import rewards
    from rewards.registry import RewardConfigError

    for i, spec in enumerate(config.rewards):
        spec = dict(spec)
        tasks = spec.pop("tasks", None)
        row = next((r for r in dataset if tasks is None or r.get("task") in tasks), None)  # stops at the first
        if row is None:
            continue
        (fn,), _ = rewards.from_config([spec])
        prompt = row["prompt"]
        completion = [{"role": "assistant", "content": ""}] if isinstance(prompt, list) else ""
        columns = {k: [v] for k, v in row.items() if k != "prompt"}
        try:
            fn([prompt], [completion], **columns)
        except RewardConfigError as exc:
            kind = "data.mix" if config.data.mix else f"data.kind {config.data.kind}"
            raise UserError(f"config field rewards[{i}]: reward {spec.get('name')!r} cannot score this data "
                            f"({kind}): {first_line(exc)}") from None
        except Exception:  # noqa: BLE001, S110 - any other failure on an empty completion is left to training
            pass
