"""Knights-and-Knaves puzzles: grammar, exact bit-parallel solver, generator, rendering, traces,
perturbations, prompts and I/O in the public K&K / Logic-RL record schema.

Plain Python: no torch/transformers imports; `datasets`/`pyarrow` are imported only when used.
"""

from puzzles.generate import generate_kk, iter_kk, parse_people, with_names
from puzzles.io import from_record, load_kk, save_kk, to_dataset
from puzzles.perturb import PERTURBATIONS, perturb, register_perturbation
from puzzles.prompts import PROMPT_STYLES, make_prompt, system_prompt
from puzzles.puzzle import KKPuzzle
from puzzles.render import ROLE_PAIRS
from puzzles.solver import MAX_PEOPLE, MIN_PEOPLE, count_solutions, solve_kk
from puzzles.statements import evaluate, format_statements, parse_statements
from puzzles.trace import make_trace

__all__ = [
    "MAX_PEOPLE",
    "MIN_PEOPLE",
    "PERTURBATIONS",
    "PROMPT_STYLES",
    "ROLE_PAIRS",
    "KKPuzzle",
    "count_solutions",
    "evaluate",
    "format_statements",
    "from_record",
    "generate_kk",
    "iter_kk",
    "load_kk",
    "make_prompt",
    "make_trace",
    "parse_people",
    "parse_statements",
    "perturb",
    "register_perturbation",
    "save_kk",
    "solve_kk",
    "system_prompt",
    "to_dataset",
    "with_names",
]
