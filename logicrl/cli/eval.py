"""`logicrl eval`: evaluate a model on AIME, AMC, Knights-and-Knaves, a JSONL file or MageBench's Sokoban.

Examples:
  logicrl eval --model embedded --benchmark kk:3 --limit 20 --max-tokens 256
  logicrl eval --model Qwen/Qwen2.5-7B-Instruct --benchmark aime24 --samples 8 --backend vllm \\
      --data-dir data/math --out runs/aime24
  logicrl eval --model my-served-model --backend openai --base-url http://localhost:8000/v1 --benchmark amc23
  logicrl eval --model embedded --benchmark magebench-sokoban:online --levels mini --max-turns 10
  logicrl eval --model embedded --adapters runs/mix/final --benchmark kk:3       # routed adapters, per-route table
  logicrl eval --adapters logic=runs/a/logic,math=runs/a/math --route math --benchmark aime24
"""

from __future__ import annotations

import argparse

from logicrl.errors import UserError
from logicrl.eval.benchmarks import DATA_DIR_ENV, KK_COUNT, KK_SEED
from logicrl.eval.prompts import DEFAULT_INSTRUCTION, STYLES
from logicrl.eval.runner import EvalConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Rerun with the same --out to resume: finished samples are kept, none is lost."
    parser.add_argument("--model", default="embedded",
                        help="'embedded' (default), a model directory or a hub id; for --backend openai, "
                             "the served model name")
    parser.add_argument("--adapter", help="a LoRA (peft) adapter directory to apply")
    parser.add_argument("--adapters",
                        help="routed adapters: NAME=PATH[,NAME=PATH...], or a folder with routing.json and "
                             "adapters/<name>/ (a routed run's final/); each problem goes through its route")
    parser.add_argument("--routing", help="with --adapters: the routing rule (routing.json, or YAML/JSON with by, "
                                          "map, default); a problem's task is its kind (kk, math) unless its "
                                          "record has a task column")
    parser.add_argument("--route", help="with --adapters: send every problem through this adapter (or __base__)")
    parser.add_argument("--benchmark", required=True,
                        help="aime24, aime25, amc23, kk (2-8 people), kk:N, kk:LOW-HIGH, a .jsonl file "
                             "with 'problem' and 'answer', or magebench-sokoban[:global|:online]")
    parser.add_argument("--samples", type=int, default=1, help="completions per problem (default 1)")
    parser.add_argument("--temperature", type=float,
                        help="0 = greedy (default 0.6; magebench-sokoban: 0.1, MageBench's)")
    parser.add_argument("--top-p", type=float, default=0.95, help="default 0.95")
    parser.add_argument("--max-tokens", type=int, help="new tokens per completion (default 4096; "
                                                       "magebench-sokoban: 1000 Global, 300 Online)")
    parser.add_argument("--backend", default="hf", choices=("hf", "vllm", "openai"), help="default hf")
    parser.add_argument("--base-url", help="openai backend: server URL, e.g. http://localhost:8000/v1")
    parser.add_argument("--out", help="output folder; reuse it to resume (default eval_out/MODEL/BENCHMARK)")
    parser.add_argument("--data-dir", help=f"folder with aime24/aime25/amc23 .jsonl (default ${DATA_DIR_ENV})")
    parser.add_argument("--limit", type=int, help="only the first N problems")
    parser.add_argument("--prompt-style", default="auto", choices=STYLES,
                        help="auto (the style a LogicRL run trained the model with, read from its saved "
                             "recipe; else think for K&K, chat for math), chat, base, think, think-base, compact "
                             "(magebench-sokoban: chat or compact)")
    parser.add_argument("--instruction", default=DEFAULT_INSTRUCTION,
                        help="appended to each problem in the chat and base styles")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--kk-count", type=int, default=KK_COUNT, help=f"K&K puzzles per size (default {KK_COUNT})")
    parser.add_argument("--kk-seed", type=int, default=KK_SEED, help="seed of the generated K&K set")
    parser.add_argument("--kk-names", help="fixed names for the K&K puzzles, comma-separated (default: the "
                                           "names of the model's training recipe when it fixed them)")
    parser.add_argument("--kk-parser", default="strict", choices=("strict", "logic_rl"),
                        help="K&K answer parser: strict (default; negations, role-first and list forms) or "
                             "logic_rl (Logic-RL's own, for numbers comparable with the paper)")
    parser.add_argument("--levels", default="mini",
                        help="magebench-sokoban: mini (20 levels, default), all (182), or an XSB file or folder")
    parser.add_argument("--parser", default="magebench", choices=("magebench", "tolerant"),
                        help="magebench-sokoban reply parser: magebench (MageBench's own, default) or tolerant")
    parser.add_argument("--observation", choices=("text", "image", "both"),
                        help="magebench-sokoban scene: text grid or PNG data URL (default: image for --backend "
                             "openai, text for hf and vllm)")
    parser.add_argument("--max-turns", type=int, default=50, help="magebench-sokoban:online turns (default 50)")
    parser.add_argument("--batch-size", type=int,
                        help="prompts per generate call and per log sync (default: hf 8, vllm 256, openai 64)")
    parser.add_argument("--device", help="hf backend: torch device (default cuda if available, else cpu)")
    parser.add_argument("--dtype", help="hf backend: float32 (CPU default), bfloat16 (GPU default), float16, auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args) -> EvalConfig:
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    return EvalConfig(
        model=args.model, adapter=args.adapter, adapters=args.adapters, routing=args.routing, route=args.route,
        benchmark=args.benchmark, samples=args.samples,
        temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, backend=args.backend,
        base_url=args.base_url, out=args.out, data_dir=args.data_dir, limit=args.limit,
        prompt_style=args.prompt_style, instruction=args.instruction, seed=args.seed,
        kk_count=args.kk_count, kk_seed=args.kk_seed, batch_size=args.batch_size, device=args.device,
        kk_names=[n.strip() for n in args.kk_names.split(",") if n.strip()] if args.kk_names else None,
        dtype=args.dtype, progress=not args.no_progress, kk_parser=args.kk_parser,
        levels=args.levels, parser=args.parser, observation=args.observation, max_turns=args.max_turns,
    )


def run(args) -> int:
    from logicrl.eval.runner import run_eval

    config = config_from_args(args)
    if args.no_progress:  # also the libraries' own bars (transformers' weight loading)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    summary = run_eval(config)
    print(f"samples: {summary['out']}/samples.jsonl  summary: {summary['out']}/summary.json")
    return 0 if summary["problems"] else 1
