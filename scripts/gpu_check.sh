#!/usr/bin/env bash
# GPU acceptance check: the GPU paths the project's CPU machines never run (CUDA, bf16, Phi-4-Mini's shapes,
# TRL on a GPU), in under 5 minutes on one GPU with no network.
#
#   bash scripts/gpu_check.sh --wheels DIR     # on the GPU machine (DIR from scripts/gpu_wheels.sh)
#   bash scripts/gpu_check.sh --tiny           # the same stages on CPU with a tiny model (CI runs this)
#
# Expects Python 3.12 with torch, transformers, peft and accelerate installed; what else the project needs
# (TRL, datasets, math-verify and their dependencies, the project itself) is installed from the --wheels
# folder into a virtual environment that sees the system's packages (--no-index: nothing is downloaded).
# Without --wheels the current environment ($PYTHON, default python3) must have it all.
#
# Stages, each timed and bounded (the whole run stops at --limit seconds, default 290 on a GPU):
#   env      versions, the GPU, bf16 support
#   install  the wheels (with --wheels)
#   build    tokenizer (200,064 ids) + random-init Phi-4-Mini-shaped model (3.8e9 parameters), built in
#            bf16 directly on the GPU and saved (scripts/gpu_check.py)
#   lora     `logicrl train`: 3 GRPO steps, LoRA r=16, bf16 mixed precision, 8 completions x 128 tokens
#   eval     `logicrl eval` of the LoRA run on 8 Knights-and-Knaves puzzles (greedy, 128 tokens)
#   full     `logicrl train`: 1 GRPO step of full fine-tuning
#   routed   `logicrl train`: 2 GRPO steps with two routed LoRA adapters (rows of two tasks in every batch)
# then the figures: step times, generated tokens/s, peak GPU memory. Exit code 0 only if every stage passed.
#
# Options: --tiny, --wheels DIR, --workdir DIR (default: a new folder under $TMPDIR; /dev/shm on a machine
# whose disk has less than about 25 GB free), --keep (keep the workdir; it holds the 7.7 GB model), --limit
# SECONDS, --stages LIST (default lora,eval,full,routed; env, install and build always run).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}
TINY=0 KEEP=0 WHEELS=${LOGICRL_WHEELS:-} WORK="" LIMIT="" STAGES="lora,eval,full,routed"
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) TINY=1 ;;
    --keep) KEEP=1 ;;
    --wheels) WHEELS=$2; shift ;;
    --workdir) WORK=$2; shift ;;
    --limit) LIMIT=$2; shift ;;
    --stages) STAGES=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$LIMIT" ] || LIMIT=$([ $TINY = 1 ] && echo 900 || echo 290)
if [ -z "$WORK" ]; then
  # The full fine-tuning stage writes 15 GB of float32 weights: on a machine whose temp disk has less than
  # 25 GB free (measured on the H200 machine: 14 GB free, the save failed), use /dev/shm when it has room.
  base=${TMPDIR:-/tmp}
  free_kb() { df -Pk "$1" 2>/dev/null | awk 'NR == 2 {print $4}'; }
  if [ $TINY = 0 ] && [ "$(free_kb "$base")" -lt $((25 * 1024 * 1024)) ] 2>/dev/null \
     && [ "$(free_kb /dev/shm)" -gt $((30 * 1024 * 1024)) ] 2>/dev/null; then
    base=/dev/shm
  fi
  WORK=$(mktemp -d "$base/logicrl-gpu-check.XXXXXX")
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if [ -n "$WHEELS" ]; then WHEELS=$(cd "$WHEELS" && pwd) || { echo "gpu_check.sh: no folder $WHEELS" >&2; exit 2; }; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
export TRL_EXPERIMENTAL_SILENCE=1 PYTHONUNBUFFERED=1 LOGICRL_CACHE="$WORK/cache" HF_HOME="$WORK/hf"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # dropped below when the project comes as a wheel
START=$(date +%s)
FAILED=()
echo "== gpu_check: $([ $TINY = 1 ] && echo "tiny (CPU)" || echo "Phi-4-Mini shapes (GPU)"), workdir $WORK, limit ${LIMIT} s"

# stage NAME SECONDS CMD...: run CMD (output in $WORK/NAME.log) within min(SECONDS, what is left of --limit).
stage() {
  local name=$1 want=$2; shift 2
  local left=$(( LIMIT - ($(date +%s) - START) ))
  local budget=$(( want < left ? want : left ))
  if [ "$budget" -le 5 ]; then
    echo "-- [$name] SKIPPED: the ${LIMIT} s limit is spent"; FAILED+=("$name"); return 1
  fi
  echo "-- [$name] start (at most ${budget} s)"
  local t0 rc
  t0=$(date +%s.%N)
  if declare -F "$1" > /dev/null; then  # a shell function of this script (env, install): no timeout needed
    (cd "$WORK" && "$@") > "$WORK/$name.log" 2>&1
  else
    (cd "$WORK" && timeout --kill-after=10 "$budget" "$@") > "$WORK/$name.log" 2>&1
  fi
  rc=$?
  local dt
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  grep -E '^>> ' "$WORK/$name.log" | sed 's/^>> /   /' || true  # the stage's own figures
  if [ $rc -eq 0 ]; then
    echo "-- [$name] ok in ${dt} s"
  else
    [ $rc -eq 124 ] && echo "-- [$name] TIMED OUT after ${dt} s" || echo "-- [$name] FAILED (exit $rc) after ${dt} s"
    echo "   last lines of $WORK/$name.log:"; tail -n 25 "$WORK/$name.log" | sed 's/^/   | /'
    FAILED+=("$name")
  fi
  return $rc
}

env_check() {
  "$PY" - "$TINY" <<'EOF'
import platform, sys
import torch, transformers, peft, accelerate
tiny = sys.argv[1] == "1"
print(f">> python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"peft {peft.__version__}, accelerate {accelerate.__version__}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f">> GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, "
          f"bf16 {torch.cuda.is_bf16_supported()}, {torch.cuda.device_count()} device(s)")
elif not tiny:
    sys.exit("no CUDA GPU visible: run with --tiny for the CPU rehearsal")
EOF
}

install_wheels() {
  # A fresh virtual environment on top of $PYTHON's: a .pth file puts $PYTHON's site-packages (torch, ...)
  # on its path, so pip sees them as installed and adds only what is missing; $PYTHON's own environment
  # (a system Python or a venv of its own) is left untouched.
  local venv="$WORK/venv" site
  "$PY" -m venv --system-site-packages --without-pip "$venv" || return 1
  site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  "$PY" -c "import site, sys; print('\n'.join(p for p in [*site.getsitepackages(), site.getusersitepackages()]))" \
    > "$site/gpu-check-parent.pth"
  local pip=("$PY" -m pip --python "$venv/bin/python")  # $PYTHON's pip, installing into the new environment
  PY="$venv/bin/python"
  "${pip[@]}" install --no-index --find-links "$WHEELS" --disable-pip-version-check -q \
    "trl==1.16.0" "datasets>=5.2,<6" "math-verify>=0.9,<0.10" "peft>=0.21,<0.22" "accelerate>=1.15,<2" \
    pyyaml tqdm rich || return 1
  local project
  project=$(ls "$WHEELS"/logicrl-*.whl 2>/dev/null | tail -n 1)
  if [ -n "$project" ]; then  # its optional needs (plots, tensorboard) stay out: --no-deps
    "${pip[@]}" install --no-index --no-deps --disable-pip-version-check -q "$project" || return 1
  fi
  "$PY" -c "import torch, trl, datasets, math_verify, peft, accelerate, logicrl; print(f'>> trl {trl.__version__}, datasets {datasets.__version__}, peft {peft.__version__}, accelerate {accelerate.__version__}, torch {torch.__version__}, logicrl from {logicrl.__file__}')"
}

write_recipe() {  # write_recipe FILE OUTPUT_DIR LORA STEPS BATCH TOKENS DATA (LORA, DATA: YAML flow mappings)
  local bf16
  bf16=$([ $TINY = 1 ] && echo false || echo true)
  cat > "$1" <<EOF
model: $WORK/model
output_dir: $2
lora: $3
bf16: $bf16
learning_rate: 1.0e-5
max_steps: $4
per_device_train_batch_size: $5
num_generations: 4
max_completion_length: $6
temperature: 1.0
data: $7
rewards: [{name: kk, preset: logic_rl}, {name: "gpu_check:text_hash"}]
save_steps: 1000
logging_steps: 1
progress_bar: false
plot: false
report_to: [none]
heldout: {every_n_steps: 0}
EOF
}

stage env 60 env_check || { echo "== gpu_check FAILED at env"; exit 1; }
if [ -n "$WHEELS" ]; then
  # With a wheel of the project, that wheel is what runs (not this checkout, which only provides the scripts).
  ls "$WHEELS"/logicrl-*.whl > /dev/null 2>&1 && export PYTHONPATH=""
  stage install 120 install_wheels || { echo "== gpu_check FAILED at install"; exit 1; }
  PY="$WORK/venv/bin/python"
fi
CHECK="$REPO/scripts/gpu_check.py"
if [ $TINY = 1 ]; then
  TOKENS=16 BATCH=8 EVAL_N=2 DTYPE=float32 DEVICE=cpu
  stage build 300 "$PY" "$CHECK" build "$WORK/model" --tiny
else
  TOKENS=128 BATCH=8 EVAL_N=8 DTYPE=bfloat16 DEVICE=cuda
  stage build 120 "$PY" "$CHECK" build "$WORK/model"
fi
if [ -f "$WORK/model/config.json" ]; then
  LORA="enabled: true, r: 16, alpha: 32, dropout: 0.0"
  KK3="{people: [3], count: 16, prompt_style: chat}"
  write_recipe "$WORK/lora.yaml" "$WORK/lora" "{$LORA}" 3 $BATCH $TOKENS "$KK3"
  write_recipe "$WORK/full.yaml" "$WORK/full" "{enabled: false}" 1 4 $(( TOKENS / 2 )) "$KK3"
  # two routed adapters, one per task (2- and 3-people puzzles), rows of both in every batch
  write_recipe "$WORK/routed.yaml" "$WORK/routed" "{$LORA, adapters: {two: {}, three: {r: 8, alpha: 16}}, \
routing: {by: task, map: {kk2: two, kk3: three}, default: error}}" 2 $BATCH $TOKENS "{prompt_style: chat, mix: [\
{task: kk2, kind: kk, people: [2], count: 16}, {task: kk3, kind: kk, people: [3], count: 16}]}"
  wanted() { [[ ",$STAGES," == *",$1,"* ]]; }
  wanted lora && stage lora 150 "$PY" "$CHECK" run lora -- train --config "$WORK/lora.yaml"
  if ! wanted eval; then
    :
  elif [ -f "$WORK/lora/final/adapter_config.json" ]; then
    stage eval 90 "$PY" "$CHECK" run eval -- eval --model "$WORK/model" --adapter "$WORK/lora/final" \
      --benchmark kk:3 --limit $EVAL_N --max-tokens $TOKENS --temperature 0 --backend hf --batch-size 8 \
      --dtype $DTYPE --device $DEVICE --out "$WORK/eval" --no-progress
  else
    echo "-- [eval] SKIPPED: the LoRA run left no adapter"; FAILED+=(eval)
  fi
  # Last, as the most expensive (AdamW over every weight, a 15 GB float32 final save): were the time limit
  # to cut the run short, the LoRA and eval figures are in already.
  wanted full && stage full 120 "$PY" "$CHECK" run full -- train --config "$WORK/full.yaml"
  rm -rf "$WORK/full/final"  # 15 GB of float32 weights: free the disk for the next run
  # Two routed LoRA adapters (one per task, rows of both in every batch): added after the H200 runs, so last,
  # where a run cut short loses it first. Its --tiny run is tested on CPU.
  wanted routed && stage routed 90 "$PY" "$CHECK" run routed -- train --config "$WORK/routed.yaml"
else
  FAILED+=(lora full eval routed)
fi
"$PY" "$CHECK" report "$WORK" || FAILED+=(figures)
TOTAL=$(( $(date +%s) - START ))
[ $KEEP = 1 ] && echo "   workdir kept: $WORK" || rm -rf "$WORK"
if [ ${#FAILED[@]} -eq 0 ]; then
  echo "== gpu_check PASSED in ${TOTAL} s"
else
  echo "== gpu_check FAILED in ${TOTAL} s: ${FAILED[*]}"
  exit 1
fi
