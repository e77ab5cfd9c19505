"""Evaluation: benchmarks (AIME, AMC, Knights-and-Knaves, JSONL files), prompts, generation backends
(hf, vllm, openai), metrics (pass@k, maj@k with standard errors) and the resumable runner behind
`logicrl eval`. Submodules import torch/transformers only when a model is actually loaded."""

from logicrl.eval.backends import backend_names, make_backend, register_backend
from logicrl.eval.benchmarks import (
    Benchmark,
    Problem,
    load_benchmark,
    register_benchmark,
    repair_latex_escapes,
)
from logicrl.eval.metrics import compute_metrics, majority_vote, pass_at_k
from logicrl.eval.prompts import Prompt, build_prompt
from logicrl.eval.runner import EvalConfig, run_eval

__all__ = [
    "Benchmark",
    "EvalConfig",
    "Problem",
    "Prompt",
    "backend_names",
    "build_prompt",
    "compute_metrics",
    "load_benchmark",
    "majority_vote",
    "make_backend",
    "pass_at_k",
    "register_backend",
    "register_benchmark",
    "repair_latex_escapes",
    "run_eval",
]
