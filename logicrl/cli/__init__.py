"""The `logicrl` command: one module per subcommand in this package (as TRL's `cli/commands/`), each
loaded only when used.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`.
A `logicrl.errors.UserError` (or argparse error) becomes one line on stderr and exit code 2; SIGTERM
raises `logicrl.errors.Terminated` (unwinding like Ctrl-C) and exits with 143.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from logicrl.errors import Terminated, UserError, raise_terminated

# name -> (module, one-line help)
COMMANDS = {
    "puzzles": ("logicrl.cli.puzzles", "generate and inspect Knights-and-Knaves puzzle sets"),
    "train": ("logicrl.cli.train", "train a policy with GRPO, REINFORCE++ or PPO (optionally LoRA)"),
    "demo": ("logicrl.cli.demo", "the CPU demo: warm start, RL, before/after table and plot"),
    "eval": ("logicrl.cli.eval", "evaluate a model on AIME, AMC, Knights-and-Knaves, a JSONL file or MageBench's Sokoban"),
    "submit": ("logicrl.cli.submit", "submit a training recipe to a Ray cluster as a Ray job"),
    "export": ("logicrl.cli.export", "routed adapters: the vllm serve command, or one route merged into the base"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints usage too)
        self.exit(2, f"logicrl: error: {message}\n")


def accept_dotted_overrides(parser: argparse.ArgumentParser) -> None:
    """Collect undeclared `--a.b=value` arguments into `args.overrides` instead of rejecting them
    (recipe overrides of `logicrl train` and `logicrl submit`)."""
    parse_known = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        ns, extras = parse_known(args, namespace)
        dotted = [e for e in extras if e.startswith("--") and "=" in e]
        ns.overrides = list(getattr(ns, "overrides", None) or []) + [e[2:] for e in dotted]
        return ns, [e for e in extras if e not in dotted]

    parser.parse_known_args = parse_known_args


def build_parser(load_subcommand: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="logicrl", description="Rule-based RL for reasoning (Logic-RL).")
    from logicrl import __version__

    parser.add_argument("--version", action="version", version=f"logicrl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen command's module is imported (and --help for it).
        if name == load_subcommand:
            p.set_defaults(_module=module_name)
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    # SIGTERM (a scheduler, `timeout`) unwinds like Ctrl-C: finally blocks run, temp files are removed.
    previous = _handle_sigterm()
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as exc:
        print(f"logicrl: error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"logicrl: {exc}", file=sys.stderr)
        return Terminated.exit_code
    except KeyboardInterrupt:
        print("logicrl: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _handle_sigterm():
    """Install `raise_terminated` for SIGTERM (main thread only); returns the previous handler or None."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, raise_terminated)


if __name__ == "__main__":
    sys.exit(main())
