#!/usr/bin/env bash
# Quickstart 1: set up, then run the main job on the embedded default model
# (supervised warm start, RL on generated puzzles, before/after table and plot).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/logicrl demo "$@"
