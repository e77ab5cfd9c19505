"""Feedback during training: metrics.jsonl, the progress bar, held-out evaluation and the curves plot.
All are `transformers.TrainerCallback`s, so they work with any algorithm and with TRL's own logging
(report_to wandb / tensorboard sees the same numbers).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path

from transformers import TrainerCallback

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "curves.png"


class MetricsLogger(TrainerCallback):
    """Appends every log (and held-out results) as one JSON line to `<run_dir>/metrics.jsonl`.

    `time` is seconds of training since the run started, continued across resumes. When training resumes
    from a checkpoint, the file is first cut back to that checkpoint's step (`rundir.truncate_metrics`),
    so a step logged after the checkpoint by the interrupted run is not logged twice."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / METRICS_FILE
        self.last: dict = {}
        self._start = time.time()

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step > 0 and state.is_world_process_zero:  # resumed from checkpoint-<global_step>
            from logicrl.training.rundir import truncate_metrics

            elapsed = truncate_metrics(self.path, state.global_step)
            self._start = time.time() - (elapsed or 0.0)

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


class ProgressBar(TrainerCallback):
    """A tqdm bar over optimizer steps (ETA by tqdm) whose postfix shows the last logged values of
    `fields`, pairs of (log key, label): RL shows reward, accuracy and loss; the warm start its loss."""

    def __init__(self, desc: str = "RL", fields=(("reward", "reward"), ("accuracy", "acc"), ("loss", "loss"))):
        self.desc = desc
        self.fields = tuple(fields)
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.desc, unit="step",
                            dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs:
            shown = {label: f"{logs[key]:.3f}" for key, label in self.fields if isinstance(logs.get(key), (int, float))}
            if shown:
                self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class HeldoutEvalCallback(TrainerCallback):
    """Greedy accuracy on held-out puzzles by number of people before training (step 0), every N steps
    and at the end, through `logicrl.eval.heldout.evaluate_kk`; results go to metrics.jsonl as
    `heldout/acc_n<k>`, `heldout/acc`, `heldout/format_rate` and `heldout/mean_reward`."""

    def __init__(self, tokenizer, puzzles, every_n_steps: int, logger: MetricsLogger, eval_kwargs: dict,
                 at_start: bool = True):
        self.tokenizer = tokenizer
        self.at_start = at_start
        self.puzzles = puzzles
        self.every = every_n_steps
        self.logger = logger
        self.eval_kwargs = eval_kwargs
        self.results: list[dict] = []
        self.metric_sink = None
        """`fn(name, value)` adding to the trainer's metrics of the current step (set once the trainer
        exists): that step's log line (metrics.jsonl, wandb, tensorboard) then carries the results."""
        self.route: str | None = None
        """Routed adapters: the route (adapter) the held-out puzzles go through; None: the model as it is."""
        self.trained_adapters: list[str] = []
        self._last_step = -1

    def evaluate(self, model, step: int, is_main: bool = True, direct: bool = False) -> dict:
        from logicrl.eval.heldout import evaluate_kk

        was_training = model.training
        model.eval()
        try:
            if self.route is None:
                outcome = evaluate_kk(model, self.tokenizer, self.puzzles, **self.eval_kwargs)
            else:
                from logicrl.training.adapters import use_route

                with use_route(model, self.route, self.trained_adapters):
                    outcome = evaluate_kk(model, self.tokenizer, self.puzzles, **self.eval_kwargs)
        finally:
            if was_training:
                model.train()
        record = {"step": step, **flatten_heldout(outcome)}
        self.results.append(record)
        if self.metric_sink is not None and not direct:
            for key, value in record.items():
                if key != "step":
                    self.metric_sink(key, value)
        else:  # before the first step or after the last: no step log line to join
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
        if state.global_step < state.max_steps:  # stopped early (SIGTERM): no final evaluation
            return
        if self.every and state.global_step != self._last_step and model is not None:
            self.evaluate(_unwrap(model), state.global_step, state.is_world_process_zero, direct=True)


def flatten_heldout(outcome: dict) -> dict:
    """`heldout/acc_n<k>`, `heldout/acc`, `heldout/format_rate`, `heldout/mean_reward` from the result of
    `logicrl.eval.heldout.evaluate_kk`."""
    record = {f"heldout/acc_n{int(n)}": float(s["accuracy"]) for n, s in outcome["by_people"].items()}
    overall = outcome["overall"]
    record["heldout/acc"] = float(overall["accuracy"])
    record["heldout/format_rate"] = float(overall["format_rate"])
    record["heldout/mean_reward"] = float(overall["mean_reward"])
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
        ("Reward", keys(lambda k: k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))
                        or (k.startswith("adapters/") and k.endswith("/reward")))),  # routed: per adapter
        ("Reward components", keys(lambda k: "/" in k and not k.startswith(("rewards/", "accuracy", "heldout",
                                                                               "completions", "ppo", "sampling",
                                                                               "curriculum", "clip_ratio", "batch",
                                                                               "entropy", "train", "adapters"))
                                                   and not k.endswith("/length"))),
        ("Training accuracy", keys(lambda k: k == "accuracy" or k.startswith("accuracy/n")
                                   or (k.startswith("adapters/") and k.endswith("/accuracy")))),
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
