#!/usr/bin/env bash
# Quickstart 2: set up, then run the whole test suite. .ci/run calls exactly this.
# Builds two environments: .venv (LogicRL, newest transformers) and .venv-vllm (vLLM's CPU build,
# which pins its own transformers), so the vLLM tests run for real instead of skipping.
# LOGICRL_SKIP_VLLM=1 skips the second environment and its tests (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_sokoban_ref.sh  # .venv-sokoban: gym-sokoban 0.0.6, the reference the Sokoban env is checked against
export LOGICRL_REQUIRE_SOKOBAN=1   # a missing or broken .venv-sokoban fails the parity tests instead of skipping
if [ "${LOGICRL_SKIP_VLLM:-0}" != "1" ]; then
  bash scripts/setup_vllm.sh
  export LOGICRL_REQUIRE_VLLM=1  # a broken .venv-vllm fails the vLLM tests instead of skipping them
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline
exec .venv/bin/python -m pytest -q --durations=15 "$@"
