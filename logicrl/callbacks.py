"""Feedback during training: reward-component metrics, metrics.jsonl, progress bar, held-out evaluation
and the curves plot. All are `transformers.TrainerCallback`s (plus one reward wrapper), so they work with
any of the algorithms and with TRL's own logging (report_to wandb / tensorboard sees the same numbers).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections import defaultdict
from pathlib import Path

from transformers import TrainerCallback

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "curves.png"
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


def with_component_logging(fn, name: str | None = None, scores_from_breakdown: bool = True):
    """Wrap a reward function so each call also logs the mean of every breakdown component
    (`<name>/<component>`), the fraction of fully correct answers (`accuracy`) and that fraction by
    number of people (`accuracy/n<k>`), and the mean number of people of the batch (`batch/n_people`),
    through TRL's `log_metric` hook. Scores are unchanged. With `scores_from_breakdown`, a breakdown that
    carries the total under "reward" (rewards.RewardFn) gives the scores too, so each batch is scored once."""
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
        for key, values in sums.items():
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
        return scores

    reward.__name__ = name
    return reward


class MetricsLogger(TrainerCallback):
    """Appends every log (and held-out results) as one JSON line to `<run_dir>/metrics.jsonl`."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / METRICS_FILE
        self.last: dict = {}
        self._start = time.time()

    def write(self, record: dict, is_main: bool = True) -> None:
        clean = {k: v for k, v in record.items()
                 if isinstance(v, (int, float, str, bool)) and not (isinstance(v, float) and not math.isfinite(v))}
        self.last.update(clean)
        if is_main:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(clean) + "\n")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.write({"step": state.global_step, "time": round(time.time() - self._start, 3), **logs},
                       is_main=state.is_world_process_zero)


class RewardProgressBar(TrainerCallback):
    """A tqdm bar over optimizer steps whose postfix shows the latest reward, accuracy and loss (ETA by tqdm)."""

    def __init__(self):
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="RL", unit="step",
                            dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs:
            shown = {}
            for key, label in (("reward", "reward"), ("accuracy", "acc"), ("loss", "loss")):
                if isinstance(logs.get(key), (int, float)):
                    shown[label] = f"{logs[key]:.3f}"
            if shown:
                self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class HeldoutEvalCallback(TrainerCallback):
    """Greedy accuracy on held-out puzzles by number of people before training (step 0), every N steps
    and at the end, through
    `logicrl.heldout.evaluate_kk`; results go to metrics.jsonl as `heldout/acc_n<k>` and `heldout/acc`."""

    def __init__(self, tokenizer, puzzles, every_n_steps: int, logger: MetricsLogger, eval_kwargs: dict,
                 at_start: bool = True):
        self.tokenizer = tokenizer
        self.at_start = at_start
        self.puzzles = puzzles
        self.every = every_n_steps
        self.logger = logger
        self.eval_kwargs = eval_kwargs
        self.results: list[dict] = []
        self.trainer_metrics = None  # set to the trainer's `_metrics["train"]` once the trainer exists
        self._last_step = -1

    def evaluate(self, model, step: int, is_main: bool = True, direct: bool = False) -> dict:
        from logicrl.heldout import evaluate_kk

        was_training = model.training
        model.eval()
        try:
            outcome = evaluate_kk(model, self.tokenizer, self.puzzles, **self.eval_kwargs)
        finally:
            if was_training:
                model.train()
        record = {"step": step, **flatten_heldout(outcome)}
        self.results.append(record)
        if self.trainer_metrics is not None and not direct:
            # Into TRL's pending metrics: the step's log line (metrics.jsonl, wandb, tensorboard) carries them.
            for key, value in record.items():
                if key != "step":
                    self.trainer_metrics[key].append(value)
        else:
            self.logger.write(record, is_main=is_main)
        self._last_step = step
        return record

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.every and self.at_start and state.global_step == 0 and model is not None:
            self.evaluate(_unwrap(model), 0, state.is_world_process_zero, direct=True)  # the starting point

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step % self.every == 0 and model is not None:
            self.evaluate(_unwrap(model), state.global_step, state.is_world_process_zero)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step != self._last_step and model is not None:
            self.evaluate(_unwrap(model), state.global_step, state.is_world_process_zero, direct=True)


def flatten_heldout(outcome) -> dict:
    """`heldout/acc_n<k>` and `heldout/acc` from evaluate_kk's result (a mapping n -> accuracy, or an
    object/mapping with `by_people` and `overall`/`accuracy`)."""
    if hasattr(outcome, "__dict__") and not isinstance(outcome, dict):
        outcome = dict(vars(outcome))
    by_n = outcome.get("by_people") or outcome.get("by_n") or outcome.get("accuracy_by_people")
    if by_n is None:
        by_n = {k: v for k, v in outcome.items() if isinstance(k, int) or (isinstance(k, str) and k.isdigit())}
    record = {}
    for n, value in by_n.items():
        if isinstance(value, dict):
            value = value.get("accuracy", value.get("acc"))
        if isinstance(value, (int, float)):
            record[f"heldout/acc_n{int(n)}"] = float(value)
    overall = outcome.get("overall", outcome.get("accuracy"))
    if isinstance(overall, dict):
        for key, name in (("format_rate", "heldout/format_rate"), ("mean_reward", "heldout/mean_reward")):
            if isinstance(overall.get(key), (int, float)):
                record[name] = float(overall[key])
        overall = overall.get("accuracy")
    if isinstance(overall, (int, float)):
        record["heldout/acc"] = float(overall)
    elif record:
        record["heldout/acc"] = sum(record.values()) / len(record)
    return record


def _unwrap(model):
    while hasattr(model, "module"):
        model = model.module
    return model


class PlotCallback(TrainerCallback):
    """Writes curves.png from metrics.jsonl when training ends."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            plot_curves(self.run_dir / METRICS_FILE, self.run_dir / PLOT_FILE)


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> Path | None:
    """Four panels: total and per-function reward, reward components, training accuracy by number of
    people, held-out accuracy by number of people (and completion length on a twin axis of the first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from logicrl.fsutil import atomic_path

    rows = read_metrics(metrics_path)
    if not rows:
        return None
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        step = row.get("step")
        if step is None:
            continue
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("step", "time"):
                series[key].append((step, float(value)))

    def keys(predicate):
        return sorted(k for k in series if predicate(k))

    panels = [
        ("Reward", keys(lambda k: k == "reward" or (k.startswith("rewards/") and k.endswith("/mean")))),
        ("Reward components", keys(lambda k: "/" in k and not k.startswith(("rewards/", "accuracy", "heldout",
                                                                               "completions", "ppo", "sampling",
                                                                               "curriculum", "clip_ratio", "batch",
                                                                               "entropy", "train"))
                                                   and not k.endswith("/length"))),
        ("Training accuracy", keys(lambda k: k == "accuracy" or k.startswith("accuracy/n"))),
        ("Held-out accuracy", keys(lambda k: k.startswith("heldout/acc"))),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (title, names) in zip(axes.flat, panels):
        ax.set_title(title)
        ax.set_xlabel("step")
        for name in names:
            xs, ys = zip(*series[name])
            ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, markersize=3, label=name)
        if "accuracy" in title:
            ax.set_ylim(-0.02, 1.02)
        if names:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    # Lengths on their own axes (dashed): tokens beside the reward, characters beside the components.
    twins = [(0, ["completions/mean_length"], "completion length (tokens)"),
             (1, keys(lambda k: k.endswith("/length") and not k.startswith("completions")), "length (characters)")]
    for index, names, label in twins:
        names = [n for n in names if n in series]
        if names:
            twin = axes.flat[index].twinx()
            for name in names:
                xs, ys = zip(*series[name])
                twin.plot(xs, ys, color="grey", alpha=0.5, linestyle="--", label=name)
            twin.set_ylabel(label, color="grey")
    fig.tight_layout()
    png_path = Path(png_path)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return png_path
