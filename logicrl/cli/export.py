"""`logicrl export`: what a routed run's adapters need to be served, and one route merged for a single-route
deployment.

Examples:
  logicrl export runs/mix/final                                  # the vllm serve command for every adapter
  logicrl export runs/mix/final --merge logic --out runs/mix/merged-logic
"""

from __future__ import annotations

import argparse

from logicrl.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a routed run's final/ folder (routing.json and adapters/<name>/)")
    parser.add_argument("--merge", metavar="NAME", help="merge this adapter into the base weights (a full model)")
    parser.add_argument("--out", help="with --merge: the merged model's folder (default FOLDER/merged-NAME)")
    parser.add_argument("--dtype", default="float32", help="with --merge: float32 (default), bfloat16, float16")
    parser.add_argument("--base-model", help="the base model the adapters sit on (default: routing.json's)")


def run(args) -> int:
    import json
    from pathlib import Path

    from logicrl.routing import ROUTING_FILE, read_routing

    if args.merge is None and (args.out is not None or args.dtype != "float32"):
        raise UserError(f"{'--out' if args.out is not None else '--dtype'} needs --merge NAME (without it nothing "
                        "is written: export prints the serve command)")
    folder = Path(args.folder).expanduser()
    routed = read_routing(folder)
    base = args.base_model or routed.base_model
    if base is None:
        raise UserError(f"{folder / ROUTING_FILE} names no base_model; pass --base-model")
    if args.merge is None:
        from logicrl.training.adapters import vllm_serve_command
        from logicrl.vllm_utils import adapter_rank

        serve = vllm_serve_command(base, routed.adapters, max(adapter_rank(p) for p in routed.adapters.values()))
        print(f"routing: {json.dumps(routed.router.to_dict())}")
        for name, path in routed.adapters.items():
            print(f"adapter {name}: {path}")
        print(serve)
        return 0
    if args.merge not in routed.adapters:
        raise UserError(f"--merge {args.merge!r} names no adapter of {folder} ({', '.join(routed.adapters)})")
    from logicrl.training.adapters import MERGE_TOLERANCE, merge_route
    from logicrl.training.rundir import RECIPE_FILE

    out = Path(args.out).expanduser() if args.out else folder / f"merged-{args.merge}"
    diff = merge_route(base, routed.adapters[args.merge], out, dtype=args.dtype, recipe=folder / RECIPE_FILE)
    print(f"merged {args.merge} into {base}: {out}")
    print(f"max |merged - unmerged| logit on a probe batch: {diff:.2e} (tolerance "
          f"{MERGE_TOLERANCE.get(args.dtype, 5e-2):g} for {args.dtype})")
    return 0
