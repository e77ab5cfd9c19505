#!/usr/bin/env bash
# Build .venv-sokoban: the reference Sokoban (gym-sokoban 0.0.6 on gym 0.26.2), in a venv of its own
# because it needs the old `gym`, not gymnasium. tests/test_agents_sokoban_parity.py runs our
# environment against it; scripts/convert_magebench_sokoban.py and benchmarks/bench_sokoban.py use it.
# Idempotent: a stamp file makes a rerun instant unless this script changed.
#
# Pins: gym 0.26.2 (an sdist; builds with the setuptools below), numpy < 2.5 (the parity tests pass
# with numpy 2.4 here; gym 0.26 predates numpy 2 and is only used through gym-sokoban's own env
# class, never gym.make), setuptools < 81 (gym-sokoban imports pkg_resources), Pillow and imageio
# (gym-sokoban's rendering imports them). Cold build about 20 s; a rerun is instant.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${LOGICRL_SOKOBAN_VENV:-.venv-sokoban}
stamp="$VENV/.logicrl-sokoban-installed"
if [ -f "$stamp" ] && [ ! scripts/setup_sokoban_ref.sh -nt "$stamp" ]; then
  exit 0
fi
quiet_pip() {
  local log
  if ! log=$("$VENV/bin/python" -m pip "$@" 2>&1); then echo "$log"; exit 1; fi
}
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
quiet_pip install -q "setuptools>=65,<81" wheel
quiet_pip install -q "numpy<2.5" "gym==0.26.2" "gym-sokoban==0.0.6" "Pillow" "imageio" "tqdm"
# gym prints an "unmaintained" banner on import: show the check's output only when it fails.
check='import gym, gym_sokoban, numpy
from gym_sokoban.envs.sokoban_env import SokobanEnv
print(f"setup_sokoban_ref.sh: gym {gym.__version__}, numpy {numpy.__version__}, gym_sokoban imported")'
if ! out=$("$VENV/bin/python" -W ignore -c "$check" 2>&1); then echo "$out"; exit 1; fi
echo "$out" | tail -n 1
touch "$stamp"
echo "setup_sokoban_ref.sh: built $VENV in $(( $(date +%s) - start )) s"
