"""Training: one RL run from a recipe (`train`), and the parts it is built from, one module per job.

One RL step, stage by stage (docs/training.md has the full map):

    puzzle     training/data.py        load_puzzles        (puzzles.generate_kk / load_kk)
    prompt     training/data.py        kk_rows             (puzzles.make_prompt)
    rollout    TRL GRPOTrainer._generate (HF)  or  training/rollout_vllm.py (vLLM, adapter sync)
    reward     training/rewards.py     build_rewards       (called in GRPOTrainer._calculate_rewards)
    advantage  algorithms/*.py         registered estimators, called by trl_compat.LogicRLTrainer.score_advantages
    loss       TRL GRPOTrainer._compute_loss (+ the critic's value loss, trl_compat)
    update     transformers Trainer's optimizer step

Other jobs: build.py (assembles the trainer, cheap checks first), run.py (`train`: local or Ray),
warm_start.py (supervised warm start), lora.py, curriculum.py, callbacks.py (metrics, progress, held-out
evaluation, plot), rundir.py (what a run directory holds).
"""

from logicrl.training.build import build_trainer
from logicrl.training.run import TrainResult, finish_training, run_trainer, train

__all__ = ["TrainResult", "build_trainer", "finish_training", "run_trainer", "train"]
