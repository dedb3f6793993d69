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
a run whose ``summary.json`` already exists is reused unless ``--force``. Reads every summary.json, prints a
markdown table (held-out greedy accuracy before/after, generated tokens, wall seconds; per run and mean +- std per
objective) and writes it to ``--report``.
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
from rlvr.reporting import fmt, mean_std

OBJECTIVES = {"grpo": ["objective=grpo"], "maxent": ["objective=maxent"]}
REGIMES = {"default": [], "lab": ["experiment=lab_arith"]}  # the offline default, or the lab (docs/lab.md)


def run_one(objective: str, seed: int, args: argparse.Namespace) -> dict:
    budget = f"steps{args.steps}" if args.steps is not None else "preset"
    run_dir = args.out_dir / args.regime / budget / objective / f"seed{seed}"
    summary_path = run_dir / "summary.json"
    if summary_path.exists() and not args.force:
        logger.info(f"{objective} seed {seed}: reusing {summary_path}")
        return json.loads(summary_path.read_text())
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
    return summary


def report(results: dict[str, list[dict]], args: argparse.Namespace) -> str:
    head = "| objective | seed | accuracy before | accuracy after | gain | steps | generated tokens | wall s |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for objective, runs in results.items():
        for s in runs:
            before, after = s["accuracy_before"], s["accuracy_after"]
            gain = None if before is None or after is None else after - before
            lines.append(
                f"| {objective} | {s['seed']} | {fmt(before, '.3f')} | {fmt(after, '.3f')} | {fmt(gain, '+.3f')} "
                f"| {s['steps']} | {s['generated_tokens']:,} | {s['wall_seconds']:.0f} |"
            )
    per_run = "\n".join(lines)
    lines = [
        "| objective | runs | accuracy before | accuracy after | gain | generated tokens | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for objective, runs in results.items():
        gains = [
            None
            if s["accuracy_before"] is None or s["accuracy_after"] is None
            else s["accuracy_after"] - s["accuracy_before"]
            for s in runs
        ]
        lines.append(
            f"| {objective} | {len(runs)} | {mean_std([s['accuracy_before'] for s in runs], '.3f')} "
            f"| {mean_std([s['accuracy_after'] for s in runs], '.3f')} | {mean_std(gains, '+.3f')} "
            f"| {mean_std([float(s['generated_tokens']) for s in runs], ',.0f')} "
            f"| {mean_std([s['wall_seconds'] for s in runs], '.0f')} |"
        )
    means = "\n".join(lines)
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
        f"{platform.processor() or platform.machine()}, {platform.system()}.\n\n"
        "Mean ± std over seeds:\n\n" + means + "\n\nPer run:\n\n" + per_run + "\n"
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

    results: dict[str, list[dict]] = {o: [] for o in args.objectives}
    for seed in args.seed_list:  # seeds outermost: a partial benchmark still compares objectives
        for objective in args.objectives:
            results[objective].append(run_one(objective, seed, args))
    text = report(results, args)
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    logger.info(f"wrote {args.report}")


if __name__ == "__main__":
    main()
