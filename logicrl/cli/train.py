"""`logicrl train`: RL on a recipe, with `--key=value` overrides and `--resume`.

    logicrl train --config examples/embedded_cpu.yaml --max_steps=50 --lora.enabled=true
    logicrl train --config examples/embedded_cpu.yaml --resume            # newest checkpoint
    logicrl train --config examples/embedded_cpu.yaml --resume runs/x/checkpoint-20
    logicrl train --config examples/embedded_cpu.yaml --overwrite         # output_dir holds an old run
"""

from __future__ import annotations

import argparse

from logicrl.cli import accept_dotted_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="RECIPE.yaml", help="the recipe (see examples/); default: built-ins")
    parser.add_argument("--resume", nargs="?", const="last", default=None, metavar="CKPT",
                        help="continue from the newest complete checkpoint in output_dir, or from CKPT")
    parser.add_argument("--overwrite", action="store_true",
                        help="output_dir holds another run: delete its checkpoints, metrics and models, start again")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="recipe overrides, as --a.b=value or a.b=value (values parsed as YAML)")
    parser.epilog = "Overrides: --max_steps=10 --lora.enabled=true --data.people=3-5 --rewards='[{name: kk}]'"

    accept_dotted_overrides(parser)


def run(args) -> int:
    from logicrl.config import load_config
    from logicrl.training import train

    config = load_config(args.config, args.overrides)
    if args.resume:
        config.resume = args.resume
    result = train(config, overwrite=args.overwrite)
    if result.already_complete:
        return 0  # train() said so; nothing changed
    print(f"run dir: {result.run_dir}")
    print(f"final model: {result.model_dir} (step {result.global_step}, {result.train_runtime:.1f} s)")
    shown = {k: result.metrics[k] for k in ("reward", "accuracy") if k in result.metrics}
    if shown:
        print("last logged: " + ", ".join(f"{k} {v:.3f}" for k, v in shown.items()))
    if result.heldout:
        last = result.heldout[-1]
        accs = ", ".join(f"{k.split('_n')[-1]} people {v:.2f}" for k, v in sorted(last.items())
                         if k.startswith("heldout/acc_n"))
        print(f"held-out accuracy at step {last['step']}: {accs}")
    return 0
