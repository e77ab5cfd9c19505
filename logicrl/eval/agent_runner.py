"""`logicrl eval --benchmark magebench-sokoban[:global|:online]`: MageBench's Sokoban with any eval backend.

One agent loop (`agents.loop`, MageBench's Global and Online flows, batched across episodes) drives
any backend of `logicrl.eval.backends` through `BackendPolicy`, which turns each conversation into
what the backend takes:

- prompt style ``chat`` (default): MageBench's messages as they are. The ``openai`` backend sends them
  to ``/chat/completions``, the scene as an ``image_url`` content part holding a
  ``data:image/png;base64,...`` URL (MageBench's message form, ``--observation image``, the default
  there); ``hf`` and ``vllm`` render them with the model's chat template and get the scene as a text
  grid (``--observation text``, the default there; see docs/eval.md for what such a model sees).
- prompt style ``compact``: the scene grid and the actions heading as one string
  (`agents.sokoban.compact`), the format `logicrl demo --task sokoban` trains the embedded model on.

Output folder, as the other benchmarks (`logicrl.eval.runner`): `samples.jsonl` with one line per
episode (level, repeat, replies, parsed moves, score, success, steps, parse failures, ...), appended
and fsync'ed after every batch of episodes, so a killed run loses at most the batch in flight and a
rerun skips finished episodes; `run.json` (settings a rerun must keep); `summary.json` (mean score ±
standard error, success rate, steps, parse failures, and beside every score the do-nothing and
random-agent baselines on the same levels), written atomically at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import replace
from pathlib import Path

from logicrl.errors import UserError
from logicrl.fsutil import atomic_write_text

BENCHMARK = "magebench-sokoban"
MODES = ("global", "online")
STYLES = ("auto", "chat", "compact")
OBSERVATIONS = ("text", "image", "both")
TEMPERATURE = 0.1
"""MageBench's scripts (scripts/experiments/Sokoban/*/*.sh): temperature 0.1."""
FREQUENCY_PENALTY = 1.0
"""MageBench's `main.py` default, sent to OpenAI-compatible servers (hf and vllm sample without it)."""
RANDOM_MOVES, RANDOM_EPISODES = 50, 10
"""The random-agent baseline: uniform moves, up to 50 (the Online turn limit), 10 runs per level."""


def is_agent_benchmark(spec: str) -> bool:
    return str(spec) == BENCHMARK or str(spec).startswith(BENCHMARK + ":")


def parse_benchmark(spec: str) -> str:
    """``magebench-sokoban`` -> "global"; ``magebench-sokoban:online`` -> "online". UserError otherwise."""
    _, colon, mode = str(spec).partition(":")
    mode = mode if colon else "global"
    if mode not in MODES:
        raise UserError(f"benchmark {spec!r}: expected {BENCHMARK}, {BENCHMARK}:global or {BENCHMARK}:online")
    return mode


# --------------------------------------------------------------------------------------------------
# The policy: agents' conversations -> a backend


class BackendPolicy:
    """An `agents.loop.Policy` over an eval backend (`generate(prompts, n, temperature, top_p,
    max_tokens, seed)`): one completion per conversation. `style` "chat" sends the messages, "compact"
    the compact prompt of the newest text scene. Each call draws its own seed (`seed` + a call
    counter), so an Online episode's turns are not sampled alike. Counts seconds spent generating."""

    def __init__(self, backend, *, mode: str, style: str, temperature: float, top_p: float, max_tokens: int,
                 seed: int):
        self.backend, self.mode, self.style = backend, mode, style
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
        self.seed = seed
        self.calls = 0
        self.seconds = 0.0

    def prompt(self, conversation):
        if self.style == "chat":
            return conversation
        from agents.sokoban.compact import compact_prompt, scene_grid

        grid = scene_grid(conversation)
        if grid is None:  # run_agent_eval keeps the whole episode in an Online compact memory: cannot happen
            raise RuntimeError("compact prompts need a text scene in the conversation")
        return compact_prompt(grid, self.mode)

    def __call__(self, batch):
        prompts = [self.prompt(c) for c in batch]
        began = time.perf_counter()
        out = self.backend.generate(prompts, n=1, temperature=self.temperature, top_p=self.top_p,
                                    max_tokens=self.max_tokens, seed=self.seed + 7919 * self.calls)
        self.seconds += time.perf_counter() - began
        self.calls += 1
        if len(out) != len(prompts) or any(not c for c in out):
            raise RuntimeError("the backend returned a wrong number of completions")
        return [c[0] if isinstance(c[0], str) else str(c[0]) for c in out]


# --------------------------------------------------------------------------------------------------


def _fingerprint(levels) -> str:
    h = hashlib.sha256()
    for lv in levels:
        h.update(lv.to_xsb().encode())
        h.update(b"\x01")
    return h.hexdigest()[:16]


def _load_levels(spec: str):
    from agents.sokoban import LevelError, load_levels

    try:
        levels = load_levels(spec)
    except LevelError as exc:
        raise UserError(f"--levels: {exc}") from None
    seen: dict[str, int] = {}
    out = []
    for lv in levels:  # names key the resumable log: make them unique
        name = lv.name or "level"
        seen[name] = seen.get(name, 0) + 1
        out.append(lv if seen[name] == 1 and lv.name else lv.replace(name=f"{name}#{seen[name]}"))
    return out


def resolve_style(config, recipe: dict | None) -> str:
    """The prompt style: chat or compact; auto = the style a LogicRL Sokoban run trained the model with."""
    style = config.prompt_style
    if style not in STYLES:
        raise UserError(f"--prompt-style for {BENCHMARK} must be one of {', '.join(STYLES)}, not {style!r}")
    if style == "auto":
        data = (recipe or {}).get("data") or {}
        return "compact" if data.get("kind") == "sokoban" and data.get("prompt_style") == "compact" else "chat"
    return style


def run_agent_eval(config, backend=None, console=None) -> dict:
    """Evaluate `config.model` on MageBench's Sokoban (`config.benchmark`); returns the summary (also
    written and printed). `backend`: an object with the backend interface (tests pass scripted ones)."""
    from agents import AgentSettings, get_parser
    from agents.sokoban import SokobanEpisode
    from logicrl.eval.runner import (
        DEFAULT_BATCH_SIZES,
        RUN_FILE,
        SAMPLES_FILE,
        SUMMARY_FILE,
        _check_run_file,
        default_out_dir,
        read_samples,
        trained_recipe,
        weights_fingerprint,
    )

    mode = parse_benchmark(config.benchmark)
    reply_tokens = 1000 if mode == "global" else 300  # MageBench's scripts
    config = replace(config, temperature=TEMPERATURE if config.temperature is None else config.temperature,
                     max_tokens=reply_tokens if config.max_tokens is None else config.max_tokens)
    if config.samples < 1:
        raise UserError("--samples must be at least 1")
    if config.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    if not 0 < config.top_p <= 1:
        raise UserError("--top-p must be in (0, 1]")
    if config.temperature < 0:
        raise UserError("--temperature must be >= 0")
    if config.limit is not None and config.limit < 1:
        raise UserError("--limit must be at least 1")
    if config.max_turns < 1:
        raise UserError("--max-turns must be at least 1")
    if config.seed < 0:
        raise UserError(f"--seed must be non-negative, got {config.seed}")
    if not str(config.levels).strip():
        raise UserError("--levels is empty: use mini, all, or an XSB file or folder")
    try:
        get_parser(config.parser)
    except ValueError as exc:
        raise UserError(f"--parser: {exc}") from None
    batch_size = config.batch_size if config.batch_size is not None else DEFAULT_BATCH_SIZES.get(config.backend, 8)
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    style = resolve_style(config, trained_recipe(config.model))
    observation = config.observation or ("image" if config.backend == "openai" and style == "chat" else "text")
    if observation not in OBSERVATIONS:
        raise UserError(f"--observation must be one of {', '.join(OBSERVATIONS)}, not {observation!r}")
    if observation != "text" and style == "compact":
        raise UserError("--prompt-style compact reads the text grid: use --observation text")
    if observation != "text" and config.backend in ("hf", "vllm"):
        raise UserError(f"--observation {observation}: the {config.backend} backend sends text only; images go "
                        "to vision models behind --backend openai")
    # A compact prompt shows only the newest grid, so MageBench's memory window (the last 5 turn pairs) has no
    # part in it; but after 5 unparsed replies in a row (whose "regenerate" turns carry no scene) that window
    # would hold no grid at all. Compact Online episodes therefore keep their whole memory.
    memory = config.max_turns if style == "compact" and mode == "online" else 5
    settings = AgentSettings(mode=mode, parser=config.parser, observation=observation, max_turns=config.max_turns,
                             max_tokens=config.max_tokens, temperature=config.temperature, top_p=config.top_p,
                             progress=config.progress and mode == "online", max_memory=memory)

    levels = _load_levels(config.levels)
    fingerprint = _fingerprint(levels)  # of the whole set: a larger --limit extends the run
    if config.limit:
        levels = levels[: config.limit]
    out = Path(config.out).expanduser() if config.out else default_out_dir(config)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file, expected a folder")
    run_settings = {
        "model": config.model, "adapter": config.adapter, "benchmark": config.benchmark, "mode": mode,
        "levels": config.levels, "levels_fingerprint": fingerprint, "parser": config.parser,
        "prompt_style": style, "observation": observation, "temperature": config.temperature,
        "top_p": config.top_p, "max_tokens": config.max_tokens, "seed": config.seed,
        **({"max_turns": config.max_turns, "max_memory": settings.max_memory, "max_images": settings.max_images}
           if mode == "online" else {}),
        **({"resolution": settings.resolution} if observation != "text" else {}),
        "weights_fingerprint": weights_fingerprint([config.model, config.adapter]),
    }
    _check_run_file(out, run_settings)

    samples_path = out / SAMPLES_FILE
    done = read_samples(samples_path)
    todo = [(lv, k) for k in range(config.samples) for lv in levels if (lv.name, k) not in done]
    if todo and backend is None:
        from logicrl.eval.backends import make_backend

        options = dict(config.backend_options)
        if config.backend == "openai":
            options.setdefault("frequency_penalty", FREQUENCY_PENALTY)
        backend = make_backend(config.backend, model=config.model, adapter=config.adapter, base_url=config.base_url,
                               device=config.device, dtype=config.dtype, batch_size=batch_size, **options)
    if config.backend == "openai":
        run_settings["frequency_penalty"] = getattr(backend, "frequency_penalty", None)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_FILE, json.dumps(run_settings, indent=2) + "\n")

    from tqdm.auto import tqdm

    total = len(levels) * config.samples
    bar = tqdm(total=total, initial=total - len(todo), desc=f"eval {config.benchmark}", unit="episode",
               disable=not config.progress, mininterval=1.0)
    try:
        with open(samples_path, "a", encoding="utf-8") as log:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                lv0, k0 = chunk[0]
                seed = config.seed + zlib.crc32(f"{lv0.name}/{k0}".encode()) % 1_000_000_007
                policy = BackendPolicy(backend, mode=mode, style=style, temperature=config.temperature,
                                       top_p=config.top_p, max_tokens=config.max_tokens, seed=seed)
                tokens_before = getattr(backend, "generated_tokens", None)
                from agents.loop import run_episodes

                results = run_episodes([SokobanEpisode(lv) for lv, _ in chunk], policy, settings)
                tokens_after = getattr(backend, "generated_tokens", None)
                tokens = (tokens_after - tokens_before) if None not in (tokens_before, tokens_after) else None
                lines = []
                for (lv, k), r in zip(chunk, results):
                    lines.append({
                        "problem_id": lv.name, "sample": k, "level": lv.name, "config": lv.config, "mode": mode,
                        "optimal_moves": r["optimal_moves"], "optimal_reward": r["optimal_reward"],
                        "do_nothing_score": r["do_nothing_score"], "score": r["score"], "success": bool(r["solved"]),
                        "steps": r["steps"], "best_reward": r["best_reward"], "total_reward": r["total_reward"],
                        "parse_failures": r["parse_failures"], "turns": r["turns"], "moves": r["moves"],
                        "parsed": r["parsed"], "replies": [_utf8(t) for t in r["replies"]],
                        "gen_seconds": policy.seconds / len(chunk),
                        "gen_tokens": None if tokens is None else tokens / len(chunk),
                    })
                for line in lines:
                    done[(line["problem_id"], line["sample"])] = line
                log.write("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
                log.flush()
                os.fsync(log.fileno())
                bar.update(len(chunk))
    finally:
        bar.close()

    records = [done[(lv.name, k)] for k in range(config.samples) for lv in levels]
    summary = {
        "benchmark": config.benchmark, "benchmark_kind": "agent", "environment": "sokoban", "mode": mode,
        "levels": config.levels, "model": config.model, "adapter": config.adapter, "backend": config.backend,
        "prompt_style": style, "observation": observation, "parser": config.parser,
        "temperature": config.temperature, "top_p": config.top_p, "max_tokens": config.max_tokens,
        **({"max_turns": config.max_turns} if mode == "online" else {}),
        "problems": len(levels), "repeats": config.samples, "generated_now": len(todo), "out": str(out),
        **summarize_episodes(records, levels),
    }
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    print_summary(summary, console=console)
    return summary


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def level_baselines(levels) -> dict[str, dict]:
    """Per level name: the do-nothing score and the random agent's mean score (`RANDOM_EPISODES` runs of
    up to `RANDOM_MOVES` uniform moves, seeded by the level's name, so a level's baseline does not depend
    on which other levels are evaluated)."""
    import statistics

    from agents.sokoban import do_nothing_score, random_agent_scores

    out = {}
    for lv in levels:
        seed = zlib.crc32(lv.to_xsb(metadata=False).encode())
        rand = random_agent_scores(lv, n_moves=RANDOM_MOVES, episodes=RANDOM_EPISODES, seed=seed)
        out[lv.name] = {"do_nothing": do_nothing_score(lv.optimal_reward), "random": statistics.fmean(rand)}
    return out


def _estimate(values) -> dict:
    from agents.sokoban.scoring import mean_se

    m, se = mean_se(values)
    return {"mean": m, "stderr": se}


def summarize_episodes(records: list[dict], levels) -> dict:
    """Score, success rate (each ± its standard error over episodes), steps, parse failures, turns,
    and the do-nothing and random-agent baselines over the same episodes, overall and per config."""
    base = level_baselines(levels)

    def block(rows):
        return {
            "episodes": len(rows),
            "score": _estimate([r["score"] for r in rows]),
            "do_nothing": _estimate([base[r["level"]]["do_nothing"] for r in rows]),
            "random": _estimate([base[r["level"]]["random"] for r in rows]),
            "success_rate": _estimate([1.0 if r["success"] else 0.0 for r in rows]),
            "steps_mean": sum(r["steps"] for r in rows) / len(rows),
            "optimal_moves_mean": sum(r["optimal_moves"] for r in rows) / len(rows),
        }

    overall = block(records)
    replies = sum(r["turns"] for r in records)
    overall.update({
        "parse_failures": sum(r["parse_failures"] for r in records),
        "parse_failure_rate": sum(r["parse_failures"] for r in records) / max(1, replies),
        "parse_failure_episodes": sum(1 for r in records if r["parse_failures"]),
        "turns_mean": replies / len(records),
        "random_agent": {"moves": RANDOM_MOVES, "runs_per_level": RANDOM_EPISODES},
    })
    configs = sorted({r["config"] or "-" for r in records})
    overall["by_config"] = {c: block([r for r in records if (r["config"] or "-") == c]) for c in configs}
    timed = [r for r in records if r.get("gen_seconds") is not None]
    tokens = [r["gen_tokens"] for r in timed if r.get("gen_tokens") is not None]
    seconds = sum(r["gen_seconds"] for r in timed)
    overall["generation"] = {"seconds": seconds, "tokens": round(sum(tokens)) if tokens else None,
                             "tokens_per_second": sum(tokens) / seconds if tokens and seconds > 0 else None}
    return overall


def _pm(est: dict) -> str:
    return f"{est['mean']:.2f} ± {est['stderr']:.2f}"


def print_summary(summary: dict, console=None) -> None:
    """The summary as a rich table: every score beside the do-nothing and random-agent baselines."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{summary['benchmark']} · {summary['model']} · {summary['problems']} levels × "
                        f"{summary['repeats']} runs")
    for col in ("levels", "episodes", "score", "do nothing", "random agent", "success (%)", "steps"):
        table.add_column(col, justify="left" if col == "levels" else "right")

    def row(name, b):
        table.add_row(name, str(b["episodes"]), _pm(b["score"]), _pm(b["do_nothing"]), _pm(b["random"]),
                      f"{100 * b['success_rate']['mean']:.1f}", f"{b['steps_mean']:.1f}")

    row(f"all ({summary['levels']})", summary)
    for name, b in summary["by_config"].items():
        row(f"  {name}", b)
    gen = summary.get("generation") or {}
    table.caption = (f"{summary['mode']}, parser {summary['parser']}, prompt {summary['prompt_style']}, "
                     f"observation {summary['observation']}; parse failures {summary['parse_failures']} "
                     f"({100 * summary['parse_failure_rate']:.1f}% of replies, in "
                     f"{summary['parse_failure_episodes']} episodes)"
                     + (f"; {gen['tokens_per_second']:.1f} tokens/s" if gen.get("tokens_per_second") else ""))
    console.print(table)
