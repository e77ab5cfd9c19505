"""Agent environments in the manner of MageBench (Sokoban now; WebUI and Football to follow), the
Global and Online agent loops, and reply parsers.

This package knows nothing of the trainer: it never imports `logicrl`, torch or transformers.
Environments follow Gymnasium's API; a policy is any callable that maps a batch of chat
conversations to one reply string each (`agents.loop.Policy`).
"""

from agents.loop import AgentSettings, Policy, merge_roles, run_episodes, run_global, run_online, trim_memory
from agents.parsing import Parser, get_parser, parser_names, register_parser

__all__ = ["AgentSettings", "Parser", "Policy", "get_parser", "merge_roles", "parser_names",
           "register_parser", "run_episodes", "run_global", "run_online", "trim_memory"]
