"""`logicrl puzzles generate|show`: make and inspect Knights-and-Knaves puzzle sets.

    logicrl puzzles generate --people 3 --count 1000 --seed 0 --out data/kk3.jsonl
    logicrl puzzles generate --people 3-7 --count 5000 --out data/mix.parquet   # even mix of 3..7
    logicrl puzzles show data/kk3.jsonl [--index 5] [--trace]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from logicrl.errors import UserError


def parse_people(text: str) -> list[int]:
    """"3" -> [3]; "3-7" -> [3, 4, 5, 6, 7] (`puzzles.parse_people`), as a one-line `--people` error."""
    from puzzles import parse_people as parse

    try:
        return parse(text or "")
    except ValueError as exc:
        raise UserError(f"--people: {exc}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    gen = sub.add_parser("generate", help="generate a puzzle set (.jsonl or .parquet)",
                         description="Generate Knights-and-Knaves puzzles with exactly one solution each.")
    gen.add_argument("--people", required=True, help="number of people, or a range such as 3-7 (even mix)")
    gen.add_argument("--count", type=int, required=True, help="number of puzzles in total")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file) [0]")
    gen.add_argument("--out", required=True, help="output file; the format follows the extension: .jsonl or .parquet")
    gen.add_argument("--depth", type=int, default=2, help="maximum statement depth [2]")
    gen.add_argument("--width", type=int, default=2, help="maximum parts of an and/or [2]")
    gen.add_argument("--roles", default="knight/knave",
                     help="role words as TRUTH/LIE (e.g. saint/sinner), or 'random' for a pair per puzzle")
    gen.add_argument("--flip-roles", action="store_true", help="call the truth-tellers by the liar word")
    gen.add_argument("--uncommon-names", action="store_true", help="draw names from the uncommon-name pool")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    show = sub.add_parser("show", help="print one puzzle and the statistics of a set",
                          description="Print one puzzle of a .jsonl/.parquet set and the set's statistics.")
    show.add_argument("file", help="a .jsonl or .parquet puzzle file")
    show.add_argument("--index", type=int, default=0, help="which puzzle to print (0-based) [0]")
    show.add_argument("--trace", action="store_true", help="also print the reasoning trace")
    parser.set_defaults(_puzzles_parser=parser)


def _parse_roles(text: str):
    if text == "random":
        return "random"
    parts = text.split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z]+", p) for p in parts) or parts[0] == parts[1]:
        raise UserError(f"--roles must be two different words as TRUTH/LIE (e.g. knight/knave) or 'random', "
                        f"got {text!r}")
    return (parts[0].lower(), parts[1].lower())


def _split_count(count: int, sizes: list[int]) -> list[int]:
    base, extra = divmod(count, len(sizes))
    return [base + (1 if i < extra else 0) for i in range(len(sizes))]


def run_generate(args) -> int:
    from puzzles.generate import MAX_DEPTH, MAX_WIDTH, MIN_DEPTH, iter_kk
    from puzzles.io import file_format, save_kk

    sizes = parse_people(args.people)
    if args.count < 1:
        raise UserError(f"--count must be at least 1, got {args.count}")
    if not MIN_DEPTH <= args.depth <= MAX_DEPTH:
        raise UserError(f"--depth must be within {MIN_DEPTH}-{MAX_DEPTH}, got {args.depth}")
    if not 2 <= args.width <= MAX_WIDTH:
        raise UserError(f"--width must be within 2-{MAX_WIDTH}, got {args.width}")
    roles = _parse_roles(args.roles)
    out = Path(args.out)
    try:
        file_format(out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if out.is_dir():
        raise UserError(f"--out {out} is a directory")
    from logicrl.fsutil import blocking_file

    blocker = blocking_file(out)
    if blocker is not None:
        raise UserError(f"--out {out}: {blocker} is a file, not a directory")

    from tqdm import tqdm

    counts = _split_count(args.count, sizes)

    def stream():
        made = 0
        for n, count in zip(sizes, counts):
            # One seed stream per size, so "3-5" contains the same 3-people puzzles as "3" would.
            for p in iter_kk(n, count, seed=args.seed * 1000 + n, depth=args.depth, width=args.width,
                             roles=roles, flip_roles=args.flip_roles, uncommon_names=args.uncommon_names,
                             start_index=made):
                made += 1
                bar.update(1)
                yield p

    # Puzzles are written as they are made (the file appears only when complete).
    with tqdm(total=args.count, desc="puzzles", unit="puzzle", file=sys.stderr,
              disable=True if args.no_progress else None) as bar:
        try:
            save_kk(stream(), out)
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
        except RuntimeError as exc:  # e.g. more distinct puzzles asked for than exist
            raise UserError(str(exc)) from None
    print(f"wrote {args.count} puzzles ({', '.join(f'{n} people' for n in sizes)}) to {out}")
    return 0


def set_statistics(puzzles) -> list[str]:
    from puzzles.statements import statement_depth

    people = Counter(p.n_people for p in puzzles)
    depths = Counter(statement_depth(s) for p in puzzles for s in p.statements)
    knights = sum(sum(p.solution) for p in puzzles)
    total_people = sum(p.n_people for p in puzzles)
    roles = Counter("/".join(p.roles) for p in puzzles)
    distinct = len({p.statements for p in puzzles})
    n = len(puzzles)
    return [
        f"puzzles: {n} ({distinct} distinct statement sets)",
        "people: " + ", ".join(f"{k}: {v}" for k, v in sorted(people.items())),
        f"truth-tellers: {knights / total_people:.1%} of {total_people} people",
        "statement depth: " + ", ".join(f"{k}: {v}" for k, v in sorted(depths.items())),
        "roles: " + ", ".join(f"{k}: {v}" for k, v in sorted(roles.items())),
        (f"mean quiz length: {sum(len(p.quiz) for p in puzzles) / n:.0f} characters; "
         f"mean trace steps: {sum(len(p.cot_repeat_steps) for p in puzzles) / n:.1f}"),
    ]


def run_show(args) -> int:
    from puzzles.io import load_kk

    path = Path(args.file)
    if path.is_dir():
        raise UserError(f"{path} is a folder: give a .jsonl or .parquet puzzle file")
    if not path.is_file():
        raise UserError(f"no such puzzle file: {path}")
    try:
        puzzles = load_kk(path)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc).replace("\n", " ")) from None
    if not puzzles:
        raise UserError(f"{path} holds no puzzles")
    if not 0 <= args.index < len(puzzles):
        raise UserError(f"--index must be within 0-{len(puzzles) - 1}, got {args.index}")
    p = puzzles[args.index]
    print(f"# puzzle {args.index} ({p.n_people} people)")
    print(p.quiz)
    print()
    print(p.solution_text_format)
    if args.trace:
        print()
        print(p.trace)
    print()
    print("# statistics")
    for line in set_statistics(puzzles):
        print(line)
    return 0


def run(args) -> int:
    action = getattr(args, "action", None)
    if action == "generate":
        return run_generate(args)
    if action == "show":
        return run_show(args)
    args._puzzles_parser.print_help()
    return 2
