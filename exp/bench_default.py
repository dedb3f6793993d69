"""Benchmark the offline default run: `uv run python exp/bench_default.py`.

Runs the real CLI (`exp/grpo_train.py`, default config) from a cold tiny-model cache, so the
wall time includes building and warm-starting the tiny model, and checks that GRPO learns:
held-out greedy accuracy after GRPO at least `--min-gain` points above the warm-start model.
Prints the comparison `exp/report.py` would write for the seeds' runs (rlvr.sweeps) and writes it to
`bench/results/default.md` (CSV and curves in `bench/results/default/report/`); exits 1 if the gain is smaller.
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
from rlvr.sweeps.report import ReportSpec, write_report


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

    report_path = args.out.parent / "default.md"
    args.out.mkdir(parents=True, exist_ok=True)
    compared = write_report(
        ReportSpec(paths=[str(args.out / f"seed{seed}") for seed in args.seeds], out=args.out / "report")
    )
    walls = ", ".join(f"seed {seed} {wall:.0f} s" for seed, _, wall, _ in rows)
    gain = next((g for seed, _, _, g in rows if seed == 0), rows[0][3])
    ok = gain >= args.min_gain
    report = "\n".join(
        [
            "# Offline default run (`uv run python exp/grpo_train.py`)",
            "",
            f"Command: `uv run python exp/bench_default.py {' '.join(sys.argv[1:])}`; cold tiny-model cache per run "
            f"unless --warm-cache; {os.cpu_count()} CPU cores. Whole command per run, the tiny model's build "
            f"included: {walls}.",
            "",
            compared.body_for(report_path),
            f"Seed 0 gains >= {args.min_gain} points: {'yes' if ok else 'NO'} ({gain:+.1f}).",
            "",
        ]
    )
    print(report)
    report_path.write_text(report)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
