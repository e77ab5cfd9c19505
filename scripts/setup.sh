#!/usr/bin/env bash
# Create .venv and install LogicRL with its test and cluster extras. Idempotent and quiet.
# torch comes first and pinned: a bare `torch` would pull a multi-GB CUDA build on CPU machines.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.logicrl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -m pip install -q -e ".[dev,ray,wandb,deepspeed]" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import torch, transformers, trl, peft, ray" # fail loudly if the install broke
  touch "$stamp"
fi
