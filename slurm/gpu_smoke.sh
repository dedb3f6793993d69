#!/usr/bin/env bash
# GPU smoke test: the tiny offline recipes on one CUDA device, in a few minutes, before a long job.
#
#   bash slurm/gpu_smoke.sh [OUT_DIR]                 # on a GPU node, after `uv sync --frozen`
#   sbatch --gpus-per-node=1 --time=00:20:00 slurm/gpu_smoke.sh /scratch/$USER/gpu_smoke
#   PY=python3 bash slurm/gpu_smoke.sh OUT_DIR        # another interpreter than `uv run python`
#
# What it runs (each a real exp/grpo_train.py run on cuda:0, run directories under OUT_DIR):
#   default_bf16   the offline default (120 GRPO steps) with bf16 autocast: it must still learn
#   vocab_bf16     experiment=reasoning_vocab_tiny, 30 steps: the masked reasoning-vocabulary path in bf16
#   maxent_bf16    objective=maxent, 30 steps: the entropy term's gradient in bf16
#   replay_resume  replay=ucb, 20 steps with checkpoints, then training.resume_from_checkpoint=auto to 30: replay state on a GPU
#   lab_bf16       experiment=lab_arith, 100 steps: seconds per step of the lab on this GPU
# and prints one line per run (accuracy before -> after, steps, generated tokens, wall), then a table
# in OUT_DIR/gpu_smoke.md. Exits non-zero on the first failing run, when the replayed run did not
# restore its replay state, or when the default run gains less than MIN_GAIN points (3: the GPU path
# must learn; slurm/README.md has what it gained on an H200 and how that compares with a CPU).
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"  # sbatch runs a copy of this file: submit from the repository root
OUT_DIR=${1:-outputs/gpu_smoke/$(date +%Y-%m-%d_%H-%M-%S)}
PY=${PY:-uv run python}
MIN_GAIN=${MIN_GAIN:-3}
mkdir -p "$OUT_DIR"
GPU=(training.use_cpu=false training.bf16=true print_config=none)

$PY - <<'EOF'
import torch as th

if not th.cuda.is_available():
    raise SystemExit("gpu_smoke: no CUDA device here: run it on a GPU node (sbatch --gpus-per-node=1 slurm/gpu_smoke.sh)")
print(f"cuda: {th.cuda.get_device_name(0)}, torch {th.__version__}, bf16 {th.cuda.is_bf16_supported()}")
EOF

run() {  # run NAME OVERRIDES...: one training run into OUT_DIR/NAME
  local name=$1
  shift
  local start=$SECONDS
  if ! $PY exp/grpo_train.py "${GPU[@]}" "$@" "hydra.run.dir=$OUT_DIR/$name" >"$OUT_DIR/$name.log" 2>&1; then
    tail -n 40 "$OUT_DIR/$name.log"
    echo "gpu_smoke: $name failed (log: $OUT_DIR/$name.log)" >&2
    exit 1
  fi
  echo "$name $((SECONDS - start))" >>"$OUT_DIR/walls.txt"
}

: >"$OUT_DIR/walls.txt"
run default_bf16
run vocab_bf16 experiment=reasoning_vocab_tiny training.max_steps=30 eval.max_samples=64
run maxent_bf16 objective=maxent training.max_steps=30 eval.max_samples=64
run replay_resume replay=ucb training.max_steps=20 training.save_steps=10 eval.after=false
run replay_resume replay=ucb training.max_steps=30 training.save_steps=10 training.resume_from_checkpoint=auto eval.max_samples=64
grep -q "restored replay buffer" "$OUT_DIR/replay_resume.log" || { echo "gpu_smoke: replay state not restored" >&2; exit 1; }
run lab_bf16 experiment=lab_arith training.max_steps=100 eval.every_steps=0 training.save_strategy=no

$PY - "$OUT_DIR" "$MIN_GAIN" <<'EOF'
import json
import sys
from pathlib import Path

out, min_gain = Path(sys.argv[1]), float(sys.argv[2])
walls: dict[str, int] = {}
for line in (out / "walls.txt").read_text().splitlines():
    name, seconds = line.split()
    walls[name] = walls.get(name, 0) + int(seconds)
rows = ["| run | accuracy before -> after | steps | generated tokens | wall (s) | s/step (median) |", "|---|---|---|---|---|---|"]
for name, wall in walls.items():
    s = json.loads((out / name / "summary.json").read_text())
    logs = [json.loads(x) for x in (out / name / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    gaps = sorted(b["time"] - a["time"] for a, b in zip(logs, logs[1:]))  # median: a resume gap does not count
    per_step = gaps[len(gaps) // 2] if gaps else float("nan")
    before = "-" if s["accuracy_before"] is None else f"{s['accuracy_before']:.3f}"
    after = "-" if s["accuracy_after"] is None else f"{s['accuracy_after']:.3f}"
    rows.append(f"| {name} | {before} -> {after} | {s['steps']} | {s['generated_tokens']:,} | {wall} | {per_step:.2f} |")
    print(f"gpu_smoke: {name}: {before} -> {after}, {s['steps']} steps, {s['generated_tokens']:,} tokens, {wall} s")
(out / "gpu_smoke.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
d = json.loads((out / "default_bf16" / "summary.json").read_text())
gain = 100 * (d["accuracy_after"] - d["accuracy_before"])
if gain < min_gain:
    sys.exit(f"gpu_smoke: the default run gained {gain:.1f} points in bf16 on this GPU (< {min_gain}): see {out}/default_bf16")
EOF
