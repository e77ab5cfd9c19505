"""MageBench's Sokoban: levels, a Gymnasium environment with gym-sokoban's rules, an optimal solver,
a seeded generator, shipped level sets, MageBench's scoring, prompts and agent adapter.

Imports numpy, gymnasium and (for images) Pillow; never logicrl, torch or transformers.
"""

from agents.sokoban.agent import SokobanEpisode, play
from agents.sokoban.configs import CONFIGS, MAGEBENCH_MINI_MIX, MAGEBENCH_MIX, SokobanConfig, get_config
from agents.sokoban.env import ACTION_NAMES, ACTIONS, SokobanEnv
from agents.sokoban.generate import GENERATOR_SETTINGS, GeneratorSettings, generate_level, generate_levels
from agents.sokoban.level import Level, LevelError, lurd_to_moves, moves_to_lurd, optimal_reward, parse_xsb
from agents.sokoban.levelsets import (
    LEVEL_SETS,
    check_level,
    load_levels,
    mini_subset,
    read_xsb_file,
    save_levels,
    with_optimal,
)
from agents.sokoban.prompts import GLOBAL_FORMAT_PROMPT, MOVES, ONLINE_FORMAT_PROMPT, SYSTEM_PROMPT
from agents.sokoban.render import render_rgb, to_png
from agents.sokoban.scoring import (
    RewardTracker,
    baselines,
    do_nothing_score,
    magebench_score,
    random_agent_scores,
    summarize,
)
from agents.sokoban.solver import SolverBudgetExceeded, solve, solve_brute_force, solve_lurd

__all__ = [
    "ACTIONS", "ACTION_NAMES", "CONFIGS", "GENERATOR_SETTINGS", "GLOBAL_FORMAT_PROMPT", "LEVEL_SETS",
    "MAGEBENCH_MINI_MIX", "MAGEBENCH_MIX", "MOVES", "ONLINE_FORMAT_PROMPT", "SYSTEM_PROMPT",
    "GeneratorSettings", "Level", "LevelError", "RewardTracker", "SokobanConfig", "SokobanEnv",
    "SokobanEpisode", "SolverBudgetExceeded", "baselines", "check_level", "do_nothing_score",
    "generate_level", "generate_levels", "get_config", "load_levels", "lurd_to_moves",
    "magebench_score", "mini_subset", "moves_to_lurd", "optimal_reward", "parse_xsb", "play",
    "random_agent_scores", "read_xsb_file", "render_rgb", "save_levels", "solve", "solve_brute_force",
    "solve_lurd", "summarize", "to_png", "with_optimal",
]

