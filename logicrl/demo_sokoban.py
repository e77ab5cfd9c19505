"""The Sokoban CPU demo (`logicrl demo --task sokoban`): the embedded model learns Sokoban-Global.

1. levels: generated small-v0 levels (MageBench's 7x7, 2-box configuration) from disjoint seeds for
   the warm start, RL and a held-out set; no held-out grid appears in training;
2. warm start: TRL's SFTTrainer on the solver's optimal plans (`agents.sokoban.solve`), compact prompts
   (the grid and ``### Actions``; `agents.sokoban.compact`);
3. held-out evaluation of the warm start: one plan per level (greedy, and sampled at the RL
   temperature), replayed and scored with MageBench's formula;
4. RL through `logicrl.train` (``data.kind: sokoban``, the `sokoban` reward, GRPO);
5. the same held-out evaluation after RL, compared level by level (paired difference ± its standard
   error), beside the do-nothing and random-agent baselines of the same levels.

Every figure in the results comes from the run itself; timings are wall time and the CPU time of
this process (all its threads), with the machine's load average, since wall time on a shared
machine says little.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

from logicrl.fsutil import atomic_write_text

README_START = "<!-- sokoban-demo-results:start -->"
README_END = "<!-- sokoban-demo-results:end -->"


@dataclass
class SokobanDemoSettings:
    """Sizes of the Sokoban demo. `full()` is what the README reports; `quick()` is a smoke test."""

    seed: int = 0
    """Seed of levels, warm start, RL sampling and evaluation sampling."""
    config: str = "small-v0"
    """Level configuration (MageBench's 7x7 rooms with 2 boxes; `agents.sokoban.CONFIGS`)."""
    max_moves: int = 24
    """Levels kept: optimal solutions of at most this many moves (a plan then fits `max_new_tokens`).
    small-v0 levels of MageBench's own set need 10.6 moves on average."""
    sft_levels: int = 8000
    """Warm-start levels (one optimal plan each)."""
    sft_steps: int = 500
    """Warm-start optimizer steps."""
    sft_batch_size: int = 32
    """Warm-start batch size."""
    sft_learning_rate: float = 2e-3
    """Warm-start peak learning rate (cosine schedule)."""
    rl_levels: int = 2000
    """RL prompt pool (levels)."""
    rl_steps: int = 40
    """RL optimizer steps."""
    rl_prompts_per_step: int = 16
    """Levels per RL step (each answered `num_generations` times)."""
    num_generations: int = 8
    """Plans per level (the GRPO group)."""
    rl_learning_rate: float = 2e-4
    """RL learning rate (constant). Measured from seed 0's warm start, 40 steps, 500 held-out levels: 3e-5
    moved nothing (KL to the warm start about 0.001; greedy score +0.05 ± 0.44), 2e-4 gave greedy +1.23 ± 0.59
    (KL about 0.015; docs/demo.md)."""
    beta: float = 0.04
    """KL coefficient against the warm start."""
    rl_temperature: float = 0.7
    """Sampling temperature of the RL rollouts (and of the sampled evaluation)."""
    loss_type: str = "dr_grpo"
    """TRL loss aggregation."""
    scale_rewards: str = "none"
    """Advantage scaling (Dr. GRPO: none)."""
    reward_scale: str = "unit"
    """`sokoban` reward scale: "unit" = (score - do nothing) / (100 - do nothing), 0 to 1."""
    heldout_levels: int = 500
    """Held-out levels."""
    eval_temperatures: tuple = (0.0, 0.7)
    """Evaluation passes: greedy (0.0) and sampled at the RL temperature."""
    max_new_tokens: int = 112
    """Generation budget of a plan (a move is 3-4 tokens in the embedded tokenizer)."""
    eval_batch_size: int = 128
    """Held-out generation batch size."""
    threads: int = 2
    """torch threads."""
    bf16: bool | None = None
    """bfloat16 compute where the CPU has it natively (None: `logicrl.models.bf16_available`)."""

    @classmethod
    def full(cls, seed: int = 0) -> SokobanDemoSettings:
        return cls(seed=seed)

    @classmethod
    def quick(cls, seed: int = 0) -> SokobanDemoSettings:
        return cls(seed=seed, sft_levels=64, sft_steps=4, sft_batch_size=8, rl_levels=16, rl_steps=1,
                   rl_prompts_per_step=2, num_generations=2, heldout_levels=8, eval_temperatures=(0.0,),
                   max_new_tokens=24, eval_batch_size=8, max_moves=12)


# ---------------------------------------------------------------------------------------------- data


def _levels(settings: SokobanDemoSettings, count: int, base_seed: int, exclude: set) -> list:
    """`count` levels of the demo's configuration with at most `max_moves` moves, grids not in `exclude`
    (which grows)."""
    from agents.sokoban import generate_level

    out, i = [], 0
    while len(out) < count:
        lv = generate_level(settings.config, base_seed + i)
        i += 1
        if lv.optimal_moves <= settings.max_moves and lv.rows not in exclude:
            exclude.add(lv.rows)
            out.append(lv.replace(name=f"{settings.config}-{base_seed + i - 1}"))
        if i > 50 * count + 1000:
            raise RuntimeError(f"could not draw {count} distinct {settings.config} levels")
    return out


def make_levels(settings: SokobanDemoSettings) -> dict:
    """Warm-start, RL and held-out levels from disjoint seed ranges; no grid is in two sets."""
    base = 10_000_000 * (settings.seed + 1)
    seen: set = set()
    held = _levels(settings, settings.heldout_levels, base + 3_000_000, seen)  # drawn first: never excluded
    sft = _levels(settings, settings.sft_levels, base + 1_000_000, seen)
    rl = _levels(settings, settings.rl_levels, base + 2_000_000, seen)
    return {"sft": sft, "rl": rl, "heldout": held}


def sft_records(levels) -> list[dict]:
    """Prompt/completion pairs: the compact prompt and the solver's optimal plan."""
    from agents.sokoban import lurd_to_moves
    from agents.sokoban.compact import compact_completion, compact_prompt

    return [{"prompt": compact_prompt(lv, "global"), "completion": compact_completion(lurd_to_moves(lv.solution))}
            for lv in levels]


# ---------------------------------------------------------------------------------------------- steps


def rl_config(settings: SokobanDemoSettings, model_dir: Path, levels_path: Path, out_dir: Path) -> dict:
    """The `logicrl.train` recipe of the RL phase."""
    from logicrl.demo import grpo_recipe

    return {
        **grpo_recipe(settings, model_dir, out_dir),
        "rewards": [{"name": "sokoban", "scale": settings.reward_scale}],
        "data": {"kind": "sokoban", "path": str(levels_path), "prompt_style": "compact"},
        "sokoban": {"mode": "global", "configs": [settings.config]},
        "bf16": bool(settings.bf16),
    }


def evaluate(model, tokenizer, levels, settings: SokobanDemoSettings, label: str, log) -> dict:
    """One plan per held-out level per evaluation temperature, scored as MageBench scores Global."""
    from agents.sokoban.compact import compact_prompt
    from logicrl.eval.heldout import generate_texts
    from rewards.sokoban import score_plan

    prompts = [compact_prompt(lv, "global") for lv in levels]
    out = {}
    for temp in settings.eval_temperatures:
        t = time.perf_counter()
        plans = generate_texts(model, tokenizer, prompts, max_new_tokens=settings.max_new_tokens,
                               batch_size=settings.eval_batch_size, temperature=temp, seed=settings.seed,
                               progress=f"{label}, {'greedy' if temp == 0 else f'T={temp:g}'}", bf16=bool(settings.bf16))
        rows = [score_plan(lv, plan) for lv, plan in zip(levels, plans)]
        key = "greedy" if temp == 0 else f"T{temp:g}"
        res = {
            "scores": [r["score"] for r in rows],
            "solved": [int(r["solved"]) for r in rows],
            "moves": [r["moves"] for r in rows],
            "examples": plans[:3],
        }
        res["overall"] = _summary(res, levels)
        out[key] = res
        s = res["overall"]
        log(f"  {label} {key}: score {s['score']:.2f} ± {s['score_se']:.2f}, solved {s['solved']:.1%}, "
            f"plans parsed {s['parsed']:.0%} ({time.perf_counter() - t:.0f} s)")
    return out


def _summary(res: dict, levels) -> dict:
    from agents.sokoban.scoring import mean_se

    m, se = mean_se(res["scores"])
    n = len(res["scores"])
    return {"n": n, "score": m, "score_se": se, "solved": sum(res["solved"]) / n,
            "parsed": sum(1 for k in res["moves"] if k) / n,
            "plan_moves": sum(res["moves"]) / n,
            "optimal_moves": sum(lv.optimal_moves for lv in levels) / n}


def compare(before: dict, after: dict) -> dict:
    """Paired differences (after - before) of score and solved, per evaluation mode."""
    from logicrl.eval.heldout import paired_difference

    return {mode: {"score": paired_difference(b["scores"], after[mode]["scores"]),
                   "solved": paired_difference(b["solved"], after[mode]["solved"])}
            for mode, b in before.items()}


def baselines(levels) -> dict:
    """Do-nothing and random-agent (10 runs of 50 uniform moves) scores on the held-out levels."""
    from agents.sokoban.scoring import mean_se
    from logicrl.eval.agent_runner import level_baselines

    base = level_baselines(levels)
    dn = mean_se([base[lv.name]["do_nothing"] for lv in levels])
    rnd = mean_se([base[lv.name]["random"] for lv in levels])
    return {"do_nothing": dn[0], "do_nothing_se": dn[1], "random": rnd[0], "random_se": rnd[1]}


# ---------------------------------------------------------------------------------------------- report


def _pm(d: dict, scale: float = 1.0, unit: str = "") -> str:
    return f"{d['mean'] * scale:+.2f} ± {d['se'] * scale:.2f}{unit}"


def results_markdown(summary: dict) -> str:
    """The results table (also the README block)."""
    s, b = summary["settings"], summary["baselines"]
    t, c = summary["timings"], summary["cpu_seconds"]
    lines = [
        (f"Held-out {s['config']} Sokoban levels (MageBench's 7x7, 2-box configuration; {summary['heldout']} levels, "
        f"none seen in training, at most {s['max_moves']} optimal moves, {summary['heldout_optimal_moves']:.1f} on "
        f"average), one Global plan per level from the warm-start checkpoint and from the RL checkpoint, scored with "
        f"MageBench's formula (100 = optimal); gain = paired difference on the same levels ± its standard error. "
        f"Baselines on the same levels: doing nothing {b['do_nothing']:.2f}, random agent (50 moves) "
        f"{b['random']:.2f} ± {b['random_se']:.2f}. Seed {s['seed']}; {summary['machine']}."),
        "",
        "| decoding | warm start: score | solved | after RL: score | solved | score gain | solved gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in summary["before"]:
        bb, aa, g = summary["before"][mode], summary["after"][mode], summary["gain"][mode]
        name = "greedy" if mode == "greedy" else f"sampled, T={mode[1:]}"
        lines.append(f"| {name} | {bb['score']:.2f} ± {bb['score_se']:.2f} | {100 * bb['solved']:.1f}% | "
                     f"{aa['score']:.2f} ± {aa['score_se']:.2f} | {100 * aa['solved']:.1f}% | {_pm(g['score'])} | "
                     f"{_pm(g['solved'], 100, ' pts')} |")
    lines += ["", (
        f"Warm start: {s['sft_steps']} steps x {s['sft_batch_size']} optimal plans of {summary['sft_levels']} levels "
        f"(TRL SFTTrainer); RL: {s['rl_steps']} GRPO steps ({s['loss_type']}, {s['rl_prompts_per_step']} levels x "
        f"{s['num_generations']} plans, lr {s['rl_learning_rate']:g}, beta {s['beta']:g}, temperature "
        f"{s['rl_temperature']:g}, reward sokoban/{s['reward_scale']}). Training reward, first -> last 5 steps: "
        f"{summary['train_reward']['first']:.3f} -> {summary['train_reward']['last']:.3f}. "
        f"Time: total {t['total']:.0f} s wall, {c['total']:.0f} s CPU (warm start {t['warm_start']:.0f} s / "
        f"{c['warm_start']:.0f} s, RL {t['rl']:.0f} s / {c['rl']:.0f} s, evaluations {t['eval_before'] + t['eval_after']:.0f} "
        f"s / {c['eval_before'] + c['eval_after']:.0f} s); load average {summary['load'][0]:.1f} at the start, "
        f"{summary['load'][1]:.1f} at the end.")]
    return "\n".join(lines) + "\n"


def check_readme(readme: Path) -> str:
    """The text of `readme`, which must hold exactly one Sokoban demo block (else a one-line UserError)."""
    from logicrl import demo

    return demo.check_readme(readme, README_START, README_END)


def update_readme(readme: Path, block: str) -> None:
    """Replace the text between the Sokoban demo markers of `readme` with `block`."""
    from logicrl import demo

    demo.update_readme(readme, block, README_START, README_END)


# ---------------------------------------------------------------------------------------------- main


class _Clock:
    """Wall and CPU seconds (this process, all threads) per phase."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def start(self):
        self._w, self._c = time.perf_counter(), time.process_time()

    def stop(self, name: str) -> None:
        self.wall[name] = time.perf_counter() - self._w
        self.cpu[name] = time.process_time() - self._c


def run_sokoban_demo(out_dir: str | Path = "runs/demo-sokoban", settings: SokobanDemoSettings | None = None,
                     readme: str | Path | None = None, log=print) -> dict:
    """Run the whole Sokoban demo; write `<out_dir>/results.md` and `results.json` (and the README block)."""
    from logicrl.demo import torch_threads

    settings = settings or SokobanDemoSettings.full()
    if settings.bf16 is None:
        from logicrl.models import bf16_available

        settings = dataclasses.replace(settings, bf16=bf16_available())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch_threads(settings.threads):
        return _run(out, settings, readme, log)


def _run(out: Path, settings: SokobanDemoSettings, readme, log) -> dict:
    import shutil

    import logicrl
    from agents.sokoban import save_levels
    from logicrl.config import load_config
    from logicrl.models import embedded_model_path, load_model_and_tokenizer
    from logicrl.training import warm_start as sft
    from logicrl.training.callbacks import read_metrics
    from logicrl.training.rundir import RECIPE_FILE, config_json

    clock = _Clock()
    load_start = os.getloadavg()[0]
    clock.start()
    model_dir = embedded_model_path()
    clock.stop("build_model")
    log(f"[1/6] embedded model: {model_dir} ({clock.wall['build_model']:.1f} s)")

    clock.start()
    data = make_levels(settings)
    rl_path = out / "rl_levels.xsb"
    save_levels(data["rl"], rl_path, header=f"RL levels of the Sokoban demo, seed {settings.seed}")
    save_levels(data["heldout"], out / "heldout_levels.xsb", header=f"held-out levels, seed {settings.seed}")
    clock.stop("data")
    log(f"[2/6] levels: {len(data['sft'])} warm-start, {len(data['rl'])} RL, {len(data['heldout'])} held-out "
        f"({clock.wall['data']:.1f} s)")

    warm_dir = out / "warm_start"
    clock.start()
    model, tokenizer = load_model_and_tokenizer(model_dir)
    records = sft_records(data["sft"])
    random.Random(settings.seed).shuffle(records)
    result = sft.warm_start(model, tokenizer, records, output_dir=warm_dir, max_steps=settings.sft_steps,
                            learning_rate=settings.sft_learning_rate, batch_size=settings.sft_batch_size,
                            seed=settings.seed, max_length=256, logging_steps=max(1, settings.sft_steps // 10),
                            print_logs=False, bf16=settings.bf16, progress_label="warm start (optimal plans)")
    clock.stop("warm_start")
    first = result.losses[0][1] if result.losses else float("nan")
    last = result.losses[-1][1] if result.losses else float("nan")
    log(f"[3/6] warm start: {result.steps} steps, loss {first:.3f} -> {last:.3f} ({clock.wall['warm_start']:.0f} s)")

    clock.start()
    before = evaluate(result.model, tokenizer, data["heldout"], settings, "warm start", log)
    clock.stop("eval_before")
    log(f"[4/6] warm start evaluated ({clock.wall['eval_before']:.0f} s)")
    del model, result

    recipe = load_config(rl_config(settings, warm_dir, rl_path, out / "rl"))
    atomic_write_text(warm_dir / RECIPE_FILE, config_json(recipe))  # `logicrl eval` reads the prompt style
    rl_dir = out / "rl"
    if rl_dir.exists():
        shutil.rmtree(rl_dir)  # metrics.jsonl appends: a rerun must start clean
    clock.start()
    train_result = logicrl.train(recipe)
    clock.stop("rl")
    log(f"[5/6] RL: {train_result.global_step} steps ({clock.wall['rl']:.0f} s)")

    clock.start()
    rl_model, rl_tok = load_model_and_tokenizer(train_result.model_dir)
    after = evaluate(rl_model, rl_tok, data["heldout"], settings, "after RL", log)
    clock.stop("eval_after")
    clock.start()
    base = baselines(data["heldout"])
    clock.stop("baselines")
    timings = {k: round(v, 1) for k, v in clock.wall.items()}
    cpu = {k: round(v, 1) for k, v in clock.cpu.items()}
    timings["total"] = round(sum(clock.wall.values()), 1)
    cpu["total"] = round(sum(clock.cpu.values()), 1)

    rewards_seen = [r["reward"] for r in read_metrics(rl_dir / "metrics.jsonl") if isinstance(r.get("reward"), (int, float))]
    k = min(5, max(1, len(rewards_seen)))
    summary = {
        "task": "sokoban",
        "settings": json.loads(json.dumps(dataclasses.asdict(settings))),
        "machine": (f"{os.cpu_count()} CPU threads visible, torch threads {settings.threads}, {platform.machine()}, "
                    f"{'bfloat16' if settings.bf16 else 'float32'} compute"),
        "load": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "timings": timings,
        "cpu_seconds": cpu,
        "sft_levels": len(data["sft"]),
        "heldout": len(data["heldout"]),
        "heldout_optimal_moves": sum(lv.optimal_moves for lv in data["heldout"]) / len(data["heldout"]),
        "baselines": base,
        "before": {m: r["overall"] for m, r in before.items()},
        "after": {m: r["overall"] for m, r in after.items()},
        "gain": compare(before, after),
        "examples": {"before": before[next(iter(before))]["examples"], "after": after[next(iter(after))]["examples"]},
        "train_reward": {"first": sum(rewards_seen[:k]) / k if rewards_seen else float("nan"),
                         "last": sum(rewards_seen[-k:]) / k if rewards_seen else float("nan"),
                         "steps": len(rewards_seen)},
        "model_dirs": {"embedded": str(model_dir), "warm_start": str(warm_dir), "rl": train_result.model_dir},
    }
    markdown = results_markdown(summary)
    atomic_write_text(out / "results.md", "# LogicRL Sokoban demo results\n\n" + markdown)
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2))
    log(f"[6/6] done in {timings['total']:.0f} s wall, {cpu['total']:.0f} s CPU\n")
    log(markdown)
    if readme is not None:
        update_readme(Path(readme), markdown)
        log(f"updated {readme}")
    return summary
