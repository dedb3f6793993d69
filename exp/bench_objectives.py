"""Benchmark the training objectives: plain GRPO vs MaxEnt-GRPO at the same budget and seeds.

    uv run python exp/bench_objectives.py                       # 3 seeds, the offline default's budget
    uv run python exp/bench_objectives.py --steps 5 --seeds 1   # a quick smoke run
    uv run python exp/bench_objectives.py --overrides training.learning_rate=1e-4 --maxent-overrides objective.tau=1.0
    uv run python exp/bench_objectives.py --regime lab          # on the lab (experiment=lab_arith, docs/lab.md)

On the lab, ``exp/bench_replay.py --regime lab --arms none maxent`` runs the same pair at an equal token budget and
adds the accuracy-vs-tokens and entropy-by-step curves.

Each (objective, seed) is one run of the real CLI, ``exp/grpo_train.py``, in a subprocess: ``objective=grpo`` is
the offline default, ``objective=maxent`` the same run with the MaxEnt objective (conf/objective/maxent.yaml), both with ``seed=<s>`` and the same ``--overrides``. Runs land in
``--out-dir/<steps<N>|preset>/<objective>/seed<s>/``;
a run whose ``summary.json`` already exists is reused unless ``--force``. The report (``--report``, printed too) is
``rlvr.sweeps``' comparison of the runs, as ``exp/report.py`` writes it: held-out greedy accuracy, gain, generated
tokens, wall time and mean entropy per objective (mean ± std over seeds, per seed), per-seed deltas against grpo,
tokens to 90% of grpo's gain, and the accuracy and entropy curves; ``results.csv`` and the PNGs go to
``<report>_files/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from loguru import logger

from rlvr.cli_runner import ROOT, run_script
from rlvr.sweeps.report import ReportSpec, write_report

OBJECTIVES = {"grpo": ["objective=grpo"], "maxent": ["objective=maxent"]}
REGIMES = {"default": [], "lab": ["experiment=lab_arith"]}  # the offline default, or the lab (docs/lab.md)


def run_one(objective: str, seed: int, args: argparse.Namespace) -> Path:
    budget = f"steps{args.steps}" if args.steps is not None else "preset"
    run_dir = args.out_dir / args.regime / budget / objective / f"seed{seed}"
    summary_path = run_dir / "summary.json"
    if summary_path.exists() and not args.force:
        logger.info(f"{objective} seed {seed}: reusing {summary_path}")
        return run_dir
    overrides = [
        *OBJECTIVES[objective],
        f"seed={seed}",
        f"exp_name=bench_objectives_{objective}",
        f"hydra.run.dir={run_dir}",
        "print_config=none",
        *([f"training.max_steps={args.steps}"] if args.steps is not None else []),
        *REGIMES[args.regime],
        *args.overrides,
        *(args.maxent_overrides if objective == "maxent" else []),
    ]
    logger.info(f"{objective} seed {seed}: exp/grpo_train.py {' '.join(overrides)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    proc = run_script(overrides, merge_output=True)
    (run_dir / "bench_stdout.log").write_text(proc.stdout)
    if proc.returncode != 0 or not summary_path.exists():
        tail = (run_dir / "bench_stdout.log").read_text()[-2000:]
        raise SystemExit(f"{objective} seed {seed} failed (exit {proc.returncode}); last output:\n{tail}")
    summary = json.loads(summary_path.read_text())
    logger.info(
        f"{objective} seed {seed}: accuracy {summary['accuracy_before']} -> {summary['accuracy_after']} "
        f"in {time.time() - t0:.0f} s"
    )
    return run_dir


def report(run_dirs: list[Path], args: argparse.Namespace) -> str:
    """The benchmark's header, then ``rlvr.sweeps``' comparison of its runs (the same as ``exp/report.py``):
    mean ± std per objective, per-seed deltas against grpo, the accuracy and entropy curves; files beside
    ``--report`` in ``<report>_files/`` (results.csv has one row per run)."""
    compared = write_report(
        ReportSpec(
            paths=[str(d) for d in run_dirs],
            out=args.report.parent / f"{args.report.stem}_files",
            baseline="objective=grpo" if "grpo" in args.objectives and len(args.objectives) > 1 else None,
            metrics=["entropy@mean"],
            curves=["eval/accuracy", "entropy"],
        )
    )
    cmd = " ".join(["uv run python exp/bench_objectives.py", *sys.argv[1:]])
    budget = f"training.max_steps={args.steps}" if args.steps is not None else "the preset's training.max_steps"
    return (
        "# Objectives: GRPO vs MaxEnt-GRPO\n\n"
        f"`{cmd}`: {'the offline default (tiny model, arith)' if args.regime == 'default' else 'the lab (`experiment=lab_arith`)'}, {budget}, seeds {', '.join(map(str, args.seed_list))}; "
        "grpo = `objective=grpo`, maxent = `objective=maxent` (the offline default otherwise), same seeds and "
        "overrides"
        + (f" (`{' '.join(args.overrides)}`)" if args.overrides else "")
        + (f", maxent also `{' '.join(args.maxent_overrides)}`" if args.maxent_overrides else "")
        + ". Accuracy is greedy held-out accuracy (summary.json `accuracy_before` / `accuracy_after`); "
        f"{platform.processor() or platform.machine()}, {platform.system()}.\n\n" + compared.body_for(args.report)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    ap.add_argument("--regime", choices=list(REGIMES), default="default", help="the offline default or the lab")
    ap.add_argument("--steps", type=int, default=None, help="training.max_steps (default: the preset's)")
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    ap.add_argument("--overrides", nargs="*", default=[], help="Hydra overrides for every run")
    ap.add_argument("--maxent-overrides", nargs="*", default=[], help="extra Hydra overrides for maxent runs")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "bench/results/objectives")
    ap.add_argument("--report", type=Path, default=ROOT / "bench/results/objectives.md")
    ap.add_argument("--force", action="store_true", help="rerun even when a run's summary.json exists")
    args = ap.parse_args()
    args.seed_list = list(range(args.seeds))

    run_dirs = []
    for seed in args.seed_list:  # seeds outermost: a partial benchmark still compares objectives
        for objective in args.objectives:
            run_dirs.append(run_one(objective, seed, args))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    text = report(run_dirs, args)
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    logger.info(f"wrote {args.report}")


if __name__ == "__main__":
    main()
