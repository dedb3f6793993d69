"""Benchmark the offline default run: `uv run python exp/bench_default.py`.

Runs the real CLI (`exp/grpo_train.py`, default config) from a cold tiny-model cache, so the
wall time includes building and warm-starting the tiny model, and checks that GRPO learns:
held-out greedy accuracy after GRPO at least `--min-gain` points above the warm-start model.
Prints a markdown table and writes it to `bench/results/default.md`; exits 1 if the gain is smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from loguru import logger

from rlvr.cli_runner import ROOT, cli_env, failure_tail, run_script


def run_default(run_dir: Path, cache_dir: Path, overrides: list[str]) -> tuple[dict, float]:
    cmd = [f"hydra.run.dir={run_dir}", "print_config=none", *overrides]
    start = time.time()
    proc = run_script(cmd, env=cli_env(cache_dir))
    wall = time.time() - start
    if proc.returncode != 0:
        sys.stderr.write(failure_tail(proc, 4000))
        raise SystemExit(f"default run failed with exit code {proc.returncode}: exp/grpo_train.py {' '.join(cmd)}")
    return json.loads((run_dir / "summary.json").read_text()), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="GRPO seeds (the tiny model is fixed)")
    parser.add_argument("--min-gain", type=float, default=10.0, help="required accuracy gain in points (seed 0)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/default")
    parser.add_argument("--warm-cache", action="store_true", help="reuse the tiny-model cache across seeds")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="rlvr-bench-cache-") as cold_cache:
        for seed in args.seeds:
            cache = Path(cold_cache) / ("shared" if args.warm_cache else f"seed{seed}")
            summary, wall = run_default(args.out / f"seed{seed}", cache, [f"seed={seed}", *args.overrides])
            gain = 100 * (summary["accuracy_after"] - summary["accuracy_before"])
            rows.append((seed, summary, wall, gain))
            logger.info(
                f"seed {seed}: {summary['accuracy_before']:.3f} -> {summary['accuracy_after']:.3f} ({wall:.0f} s)"
            )

    lines = [
        "# Offline default run (`uv run python exp/grpo_train.py`)",
        "",
        f"Command: `uv run python exp/bench_default.py {' '.join(sys.argv[1:])}`; cold tiny-model cache per run "
        f"unless --warm-cache; {os.cpu_count()} CPU cores.",
        "",
        "| seed | accuracy before | accuracy after | gain (points) | steps | generated tokens | wall s (incl. model build) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for seed, s, wall, gain in rows:
        lines.append(
            f"| {seed} | {s['accuracy_before']:.3f} | {s['accuracy_after']:.3f} | {gain:+.1f} | {s['steps']} "
            f"| {s['generated_tokens']} | {wall:.0f} |"
        )
    gain = next((g for seed, _, _, g in rows if seed == 0), rows[0][3])
    ok = gain >= args.min_gain
    lines += ["", f"Seed 0 gains >= {args.min_gain} points: {'yes' if ok else 'NO'} ({gain:+.1f})."]
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "default.md").write_text(report)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
