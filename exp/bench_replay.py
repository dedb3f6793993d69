"""What replay buys: `uv run python exp/bench_replay.py` (seeds x {replay=none, replay=ucb}).

Every arm runs the real CLI on the offline task with the same number of steps, so the same
budget of generated completions (steps x completions per step), and evaluates held-out greedy
accuracy every `--eval-every` steps. The report (markdown table + PNG, in `bench/results/`)
gives accuracy against generated tokens, final accuracy mean +- std, the tokens each arm needs
to reach the baseline's final accuracy, `frac_reward_zero_std` over training, and the replay
mixin's own overhead (time spent mixing and feeding back, as a fraction of step time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from loguru import logger

from rlvr.cli_runner import ROOT, cli_env, failure_tail, run_script


def run_arm(arm: str, seed: int, args: argparse.Namespace) -> Path:
    run_dir = args.out / label(arm, args) / f"seed{seed}"
    if (run_dir / "summary.json").exists() and not args.force:
        logger.info(f"{arm} seed {seed}: reusing {run_dir}")
        return run_dir
    cmd = [
        "experiment=arith_mix",
        f"replay={arm}",
        f"seed={seed}",
        f"training.max_steps={args.steps}",
        f"eval.every_steps={args.eval_every}",
        f"eval.max_samples={args.eval_samples}",
        "training.save_strategy=no",
        "print_config=none",
        "exp_name=bench_replay",
        f"hydra.run.dir={run_dir}",
        *args.overrides,
        *(args.replay_overrides if arm != "none" else []),
    ]
    env = cli_env(threads=(os.cpu_count() or 2) // args.jobs)
    logger.info(f"{arm} seed {seed}: {' '.join(cmd)}")
    proc = run_script(cmd, env=env)
    if proc.returncode != 0:
        sys.stderr.write(failure_tail(proc))
        raise SystemExit(f"{arm} seed {seed} failed (exit {proc.returncode})")
    return run_dir


def label(arm: str, args: argparse.Namespace) -> str:
    """Run-directory name of an arm: replay arms with --replay-overrides get them in their name."""
    if arm == "none" or not args.replay_overrides:
        return arm
    return arm + "-" + "-".join(o.split("=")[0].split(".")[-1] + o.split("=")[-1] for o in args.replay_overrides)


def load_run(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in rows if "reward" in r]
    curve = [(0, summary["accuracy_before"])]
    curve += [(r["generated_tokens"], r["eval/accuracy"]) for r in rows if "eval/accuracy" in r]
    if curve[-1][0] != summary["generated_tokens"]:
        curve.append((summary["generated_tokens"], summary["accuracy_after"]))
    times = np.array([r["time"] for r in train])
    return {
        "summary": summary,
        "curve": np.array(curve, dtype=float),
        "zero_std": np.array([r.get("frac_reward_zero_std", np.nan) for r in train]),
        "step_seconds": float(np.median(np.diff(times))) if len(times) > 2 else float("nan"),
        "overhead_ms": float(np.mean([r["replay/overhead_ms"] for r in train if "replay/overhead_ms" in r] or [0.0])),
    }


def tokens_to_reach(curve: np.ndarray, target: float) -> float | None:
    """Generated tokens at which the (linearly interpolated) curve first reaches ``target``."""
    for (t0, a0), (t1, a1) in zip(curve[:-1], curve[1:], strict=True):
        if a1 >= target:
            return float(t0 if a0 >= target else t0 + (t1 - t0) * (target - a0) / (a1 - a0))
    return None


def mean_curve(runs: list[dict]) -> np.ndarray:
    """Average accuracy over seeds at each evaluation point (tokens averaged too)."""
    n = min(len(r["curve"]) for r in runs)
    return np.mean([r["curve"][:n] for r in runs], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=["none", "ucb"], help="replay options (conf/replay/*.yaml)")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (threads split between them)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/replay")
    parser.add_argument("--force", action="store_true", help="rerun arms whose summary.json exists")
    parser.add_argument("--replay-overrides", nargs="*", default=[], help="overrides for the replay arms only")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args()

    jobs = [(arm, seed) for seed in args.seeds for arm in args.arms]
    with ThreadPoolExecutor(args.jobs) as pool:
        dirs = list(pool.map(lambda job: run_arm(*job, args), jobs))
    runs: dict[str, list[dict]] = {label(arm, args): [] for arm in args.arms}
    for (arm, _), run_dir in zip(jobs, dirs, strict=True):
        runs[label(arm, args)].append(load_run(run_dir))

    base = label(args.arms[0], args)
    base_curve = mean_curve(runs[base])
    target = float(base_curve[-1, 1])
    base_tokens = float(base_curve[-1, 0])
    lines = [
        "# Replay benchmark",
        "",
        f"Command: `uv run python exp/bench_replay.py {' '.join(sys.argv[1:])}`",
        f"Seeds {args.seeds}, {args.steps} steps per run (same completions per step in every arm), held-out greedy "
        f"accuracy on {args.eval_samples} prompts every {args.eval_every} steps; {os.cpu_count()} CPU cores.",
        "",
        f"| replay | final accuracy (mean +- std) | per seed | generated tokens | tokens to reach {base}'s final "
        f"{target:.3f} | ratio to {base} | frac_reward_zero_std (mean over training) | step s | mixin overhead |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, arm_runs in runs.items():
        finals = np.array([r["summary"]["accuracy_after"] for r in arm_runs])
        curve = mean_curve(arm_runs)
        reach = tokens_to_reach(curve, target)
        ratio = f"{reach / base_tokens:.2f}x" if reach is not None else "not reached"
        step_s = float(np.mean([r["step_seconds"] for r in arm_runs]))
        overhead = float(np.mean([r["overhead_ms"] for r in arm_runs])) / 1000
        lines.append(
            f"| {arm} | {finals.mean():.3f} +- {finals.std():.3f} | {', '.join(f'{f:.3f}' for f in finals)} "
            f"| {curve[-1, 0]:.0f} | {reach if reach is None else f'{reach:.0f}'} | {ratio} "
            f"| {np.nanmean(np.concatenate([r['zero_std'] for r in arm_runs])):.3f} | {step_s:.2f} "
            f"| {100 * overhead / step_s:.2f}% |"
        )
    lines += ["", "Accuracy against generated tokens (mean over seeds):", ""]
    for arm, arm_runs in runs.items():
        curve = mean_curve(arm_runs)
        lines.append(f"- {arm}: " + ", ".join(f"{t / 1000:.0f}k: {a:.3f}" for t, a in curve))
    report = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    name = "replay" + "".join(label(a, args)[len(a) :] for a in args.arms)
    plot(runs, args.out.parent / f"{name}.png")
    (args.out.parent / f"{name}.md").write_text(report + f"\n![accuracy vs tokens]({name}.png)\n")
    print(report)


def plot(runs: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for arm, arm_runs in runs.items():
        n = min(len(r["curve"]) for r in arm_runs)
        stack = np.array([r["curve"][:n] for r in arm_runs])
        tokens, acc = stack[:, :, 0].mean(0), stack[:, :, 1]
        left.plot(tokens, acc.mean(0), marker="o", label=f"replay={arm}")
        left.fill_between(tokens, acc.mean(0) - acc.std(0), acc.mean(0) + acc.std(0), alpha=0.2)
        m = min(len(r["zero_std"]) for r in arm_runs)
        right.plot(np.mean([r["zero_std"][:m] for r in arm_runs], axis=0), label=f"replay={arm}")
    left.set(xlabel="generated tokens", ylabel="held-out greedy accuracy", title="accuracy vs compute")
    right.set(xlabel="step", ylabel="frac_reward_zero_std", title="uninformative groups")
    left.legend()
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
