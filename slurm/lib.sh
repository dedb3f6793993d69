# shellcheck shell=bash
# Shared by slurm/*.sbatch, which source it from the repository root. Not a job script.
#
# Site settings are read from slurm/site.sh (git-ignored; RLVR_SITE_FILE names another file)
# and from these variables (all optional):
#   RLVR_RUN_DIR            run directory (default outputs/slurm/<job name>_<job id>); a requeued
#                           job keeps its id, so it resumes there
#   RLVR_OUTPUT_ROOT        parent of the default run directory (default outputs)
#   RLVR_ACCELERATE_CONFIG  ddp | zero2 | zero3 | fsdp (conf/accelerate/<name>.yaml; default ddp)
#   RLVR_GPUS               GPUs per node (default: what SLURM allocated; 0 trains on CPU)
#   RLVR_UV_RUN             how to run commands in the project env (default "uv run --no-sync";
#                           "" uses whatever python/accelerate is on PATH, e.g. an activated venv)
#   RLVR_MAX_REQUEUES       stop requeueing after this many restarts (default 20)

# rlvr_site: source the site settings (slurm/site.sh, or the file RLVR_SITE_FILE names).
rlvr_site() {
  if [[ -n "${RLVR_SITE_FILE:-}" && ! -f "$RLVR_SITE_FILE" ]]; then
    echo "error: RLVR_SITE_FILE=$RLVR_SITE_FILE does not exist" >&2
    exit 2
  fi
  local site="${RLVR_SITE_FILE:-slurm/site.sh}"
  if [[ -f "$site" ]]; then
    # shellcheck source=/dev/null
    source "$site"
  fi
}

# rlvr_uv_run: the command prefix that runs a program in the project env. Sets UV_RUN.
rlvr_uv_run() {
  read -r -a UV_RUN <<< "${RLVR_UV_RUN-uv run --no-sync}"
}

# rlvr_gpus: GPUs of this node for the job (RLVR_GPUS, else what SLURM allocated). Sets GPUS.
rlvr_gpus() {
  if [[ -n "${RLVR_GPUS:-}" ]]; then
    GPUS="$RLVR_GPUS"
  elif [[ -n "${SLURM_GPUS_ON_NODE:-}" ]]; then
    GPUS="$SLURM_GPUS_ON_NODE"
  elif [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
    local -a visible
    IFS=, read -r -a visible <<< "$CUDA_VISIBLE_DEVICES"
    GPUS="${#visible[@]}"
  else
    GPUS=0
  fi
}

# rlvr_setup "$@": site settings, run dir, flag file, traps. Sets JOB_ID RUN_DIR
# ACCELERATE_CONFIG UV_RUN GPUS PREEMPT_FLAG.
rlvr_setup() {
  rlvr_site
  local arg
  for arg in "$@"; do
    if [[ "$arg" == hydra.run.dir=* ]]; then
      echo "error: choose the run directory with RLVR_RUN_DIR=<dir> sbatch ..., not $arg" >&2
      exit 2
    fi
  done
  JOB_ID="${SLURM_JOB_ID:?run this script with sbatch}"
  RUN_DIR="${RLVR_RUN_DIR:-${RLVR_OUTPUT_ROOT:-outputs}/slurm/${SLURM_JOB_NAME:-rlvr}_${JOB_ID}}"
  ACCELERATE_CONFIG="${RLVR_ACCELERATE_CONFIG:-ddp}"
  if [[ ! -f "conf/accelerate/$ACCELERATE_CONFIG.yaml" ]]; then
    echo "error: RLVR_ACCELERATE_CONFIG=$ACCELERATE_CONFIG: there is no conf/accelerate/$ACCELERATE_CONFIG.yaml" >&2
    exit 2
  fi
  rlvr_uv_run
  if [[ "$ACCELERATE_CONFIG" == zero* ]] && ! "${UV_RUN[@]}" python -c "import deepspeed" 2>/dev/null; then
    echo "error: RLVR_ACCELERATE_CONFIG=$ACCELERATE_CONFIG needs DeepSpeed: run \`uv sync --extra deepspeed\`" >&2
    exit 2
  fi
  rlvr_gpus
  # Since SLURM 22.05, srun does not inherit --cpus-per-task from sbatch.
  if [[ -n "${SLURM_CPUS_PER_TASK:-}" ]]; then
    export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"
  fi
  PREEMPT_FLAG="$RUN_DIR/.preempt_requested"
  export RLVR_PREEMPT_FILE="$PREEMPT_FLAG"  # the trainer checks it after every optimizer step
  mkdir -p "$RUN_DIR"
  rm -f "$PREEMPT_FLAG" "$RUN_DIR/preempted.json"
  # USR1 (time limit ahead, or scancel --signal=USR1 --batch) and TERM reach this shell only.
  # The trap creates the flag file the trainer polls, so no signal has to pass through srun,
  # uv and accelerate (accelerate's launcher dies on USR1 instead of forwarding it).
  trap 'rlvr_request_stop USR1' USR1
  trap 'rlvr_request_stop TERM' TERM
  echo "[$(date '+%F %T')] job $JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname): $GPUS GPU(s)/node," \
    "accelerate config $ACCELERATE_CONFIG, run dir $RUN_DIR"
}

# shellcheck disable=SC2317  # invoked by the traps
rlvr_request_stop() {
  echo "[$(date '+%F %T')] got SIG$1: asking the trainer to save a checkpoint after this step and stop"
  touch "$PREEMPT_FLAG"
}

# rlvr_wait PID: wait for a background srun, sitting out trap interruptions. Sets RC.
rlvr_wait() {
  RC=0
  while true; do
    wait "$1" && RC=0 || RC=$?
    if (( RC > 128 )) && kill -0 "$1" 2>/dev/null; then
      continue  # a trap interrupted the wait; the step is still running
    fi
    return 0
  done
}

# rlvr_finish RC: requeue when the trainer stopped for preemption, else exit with RC.
rlvr_finish() {
  if [[ -f "$RUN_DIR/preempted.json" ]]; then
    local restarts="${SLURM_RESTART_COUNT:-0}"
    if (( restarts >= ${RLVR_MAX_REQUEUES:-20} )); then
      echo "checkpoint saved; not requeueing: already restarted $restarts times (RLVR_MAX_REQUEUES)" >&2
      exit 75
    fi
    echo "[$(date '+%F %T')] checkpoint saved: requeueing job $JOB_ID to resume in $RUN_DIR"
    scontrol requeue "$JOB_ID"
    exit 0
  fi
  echo "[$(date '+%F %T')] training exited with status $1"
  exit "$1"
}
