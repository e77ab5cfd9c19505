#!/usr/bin/env bash
# Download the wheels scripts/gpu_check.sh installs on an offline GPU machine, into one folder (<= 64 MiB).
#
#   bash scripts/gpu_wheels.sh DIR        # then copy DIR and run: bash scripts/gpu_check.sh --wheels DIR
#
# The GPU machine has Python 3.12 with torch, transformers, peft and accelerate; this fetches exactly what
# is missing there: pip resolves (without installing anything) the needs of the check, and separately what
# comes with the preinstalled packages, for CPython 3.12 on manylinux x86_64, and downloads the difference
# as binary wheels, plus a wheel of this project. Needs only the package registry.
# Environment: GPU_PYTHON_VERSION (3.12), GPU_TORCH (2.11.0), GPU_TRANSFORMERS (5.17.0).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: gpu_wheels.sh DIR}
# pip 26 or later (the project's .venv has it; older pips refuse --platform with --dry-run).
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
PYV=${GPU_PYTHON_VERSION:-3.12}
ABI=cp${PYV/./}
MAX_BYTES=$(( 64 * 1024 * 1024 ))
# What the check installs. pyarrow: the oldest datasets 5.2 accepts (each release is bigger); pandas 2.x
# also works with a numpy 1.26 the GPU machine may have.
NEEDED=("trl==1.16.0" "datasets>=5.2,<6" "math-verify>=0.9,<0.10" "pyarrow==24.0.0" "pandas>=2.1,<3"
        "pyyaml>=6" "tqdm>=4.66" "rich>=13" "sympy>=1.13")
PREINSTALLED=("torch==${GPU_TORCH:-2.11.0}" "transformers==${GPU_TRANSFORMERS:-5.17.0}" peft accelerate)
# Preinstalled there too, but in versions we cannot see: the project's own ranges come along (1 MB), and
# pip takes them only when the installed ones fall outside those ranges.
FALLBACK=("peft>=0.21,<0.22" "accelerate>=1.15,<2")

platforms=()
for v in $(seq 17 39); do platforms+=(--platform "manylinux_2_${v}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
target=(--only-binary=:all: --python-version "$PYV" --implementation cp --abi "$ABI" "${platforms[@]}")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
resolve() {  # resolve REPORT REQUIREMENTS...: what pip would install for the GPU machine, as a JSON report
  local report=$1; shift
  "$PY" -m pip install --dry-run --ignore-installed --quiet --disable-pip-version-check "${target[@]}" \
    --report "$report" "$@" 2>&1 | grep -v "is ignored" || true
  [ -s "$report" ] || { echo "gpu_wheels.sh: pip could not resolve $*" >&2; exit 1; }
}
echo "gpu_wheels.sh: resolving for CPython $PYV manylinux x86_64 (metadata only)..."
resolve "$tmp/pre.json" "${PREINSTALLED[@]}"
resolve "$tmp/all.json" "${PREINSTALLED[@]}" "${NEEDED[@]}"
"$PY" - "$tmp/pre.json" "$tmp/all.json" > "$tmp/missing.txt" <<'EOF'
import json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
pre = {norm(i["metadata"]["name"]) for i in json.load(open(sys.argv[1]))["install"]}
for item in json.load(open(sys.argv[2]))["install"]:
    meta = item["metadata"]
    if norm(meta["name"]) not in pre:
        print(f"{meta['name']}=={meta['version']}")
EOF
echo "gpu_wheels.sh: missing on the GPU machine: $(tr '\n' ' ' < "$tmp/missing.txt")"
mkdir -p "$OUT"
rm -f "$OUT"/*.whl
# shellcheck disable=SC2046
"$PY" -m pip download --no-deps --quiet --disable-pip-version-check "${target[@]}" -d "$OUT" \
  $(cat "$tmp/missing.txt") "${FALLBACK[@]}" 2>&1 | grep -v "is ignored" || true
"$PY" -m pip wheel --no-deps --quiet --disable-pip-version-check -w "$OUT" . 2>&1 | grep -v "is ignored" || true
count=$(ls "$OUT"/*.whl | wc -l)
expected=$(( $(wc -l < "$tmp/missing.txt") + ${#FALLBACK[@]} + 1 ))
[ "$count" -eq "$expected" ] || { echo "gpu_wheels.sh: got $count wheels, expected $expected" >&2; exit 1; }
bytes=$(cat "$OUT"/*.whl | wc -c)
ls -l "$OUT"/*.whl | awk '{printf "  %10d  %s\n", $5, $NF}'
echo "gpu_wheels.sh: $count wheels, $(( bytes / 1024 / 1024 )) MiB ($bytes bytes) in $OUT"
[ "$bytes" -le "$MAX_BYTES" ] || { echo "gpu_wheels.sh: over the 64 MiB budget" >&2; exit 1; }
