#!/usr/bin/env bash
# Create .venv and install LogicRL with its test and cluster extras. Idempotent and quiet.
# torch comes first and pinned: a bare `torch` would pull a multi-GB CUDA build on CPU machines.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# pip and setuptools print pages of notices on success: show their output only when a step fails.
quiet_pip() {
  local log
  if ! log=$(.venv/bin/python -m pip "$@" 2>&1); then echo "$log"; exit 1; fi
}
stamp=.venv/.logicrl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup.sh: installing into .venv (a few minutes the first time)"
  quiet_pip install -q --upgrade pip
  quiet_pip install -q "torch==2.13.0"
  quiet_pip install -q -e ".[dev,ray,wandb,deepspeed]"
  .venv/bin/python -c "import torch, transformers, trl, peft, ray" # fail loudly if the install broke
  touch "$stamp"
fi
