"""What replay, skipping and refill buy: `uv run python exp/bench_replay.py --regime lab` (seeds x arms).

Every arm runs the real CLI on the offline task with the same budget of generated completion tokens
(`callbacks.max_generated_tokens`; an arm that spends more tokens per step, refill, simply takes fewer steps), or
with `--steps N` the same number of optimizer steps (arms then differ in the tokens they generate), and evaluates
held-out greedy accuracy every `--eval-every` steps. Three regimes:

- `--regime lab` (`experiment=lab_arith`): a finite pool with solved, learnable and hopeless prompts on which
  plain GRPO keeps learning over several passes (its criteria: docs/lab.md). The regime to compare methods on.
- `--regime pool` (`experiment=arith_pool`): a finite pool trained for several passes from a strong warm start,
  so most groups saturate (all solved) and held-out accuracy is near the tiny model's ceiling.
- `--regime mix` (`experiment=arith_mix`): a fresh 20,000-prompt stream, no prompt seen twice.

Arms are named sets of overrides (`ARMS` below, or `--arm name=override,override` for your own); runs live in
`--out/<arm>/seed<N>` and are reused when their overrides match. Every arm is paired with the first arm's run of the
same seed. The report (markdown at `--report`, PNG at `--figure`) gives, per arm: final held-out accuracy (mean +-
std, per seed, paired difference); the generated tokens each seed needs to gain 90% of the baseline seed's final
gain, as a ratio to the tokens the baseline needs (median, largest, per seed); the mean gain over the budget (area
under the gain-vs-tokens curve); generated tokens; wall time relative to the baseline; `frac_reward_zero_std` of the
generated groups and of the trained batch, split into all-correct and all-wrong groups; prompts skipped; and by
fifth of the run the zero-std shares and the policy entropy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from loguru import logger

from rlvr.cli_runner import ROOT, cli_env, failure_tail, run_script
from rlvr.sweeps import efficiency
from rlvr.sweeps import runs as sweep_runs
from rlvr.sweeps.efficiency import GAIN_SHARE
from rlvr.sweeps.render import curve

ARMS: dict[str, list[str]] = {
    "none": ["replay=none"],
    "skip": ["replay=skip"],
    "refill": ["replay=refill"],
    "replay": ["replay=ucb"],
    "skip+replay": ["replay=ucb", "replay.skip.enabled=true"],
    "skip+refill": ["replay=skip", "replay.refill.enabled=true"],
    "maxent": ["objective=maxent"],
}
REGIMES = {
    "lab": {"experiment": "lab_arith", "arms": ["none", "skip", "replay", "skip+replay"], "tokens": 360_000},
    "pool": {
        "experiment": "arith_pool",
        "arms": ["none", "skip", "refill", "replay", "skip+replay"],
        "tokens": 360_000,
    },
    "mix": {"experiment": "arith_mix", "arms": ["none", "replay"], "tokens": 87_000},
}


def run_arm(arm: str, seed: int, args: argparse.Namespace) -> Path:
    run_dir = args.out / arm / f"seed{seed}"
    cmd = arm_command(arm, seed, run_dir, args)
    if (run_dir / "summary.json").exists() and not args.force:
        done = yaml.safe_load((run_dir / ".hydra/overrides.yaml").read_text())
        if done != cmd[:-1]:  # the same arm name with other settings (budget, overrides): never mix them up
            raise SystemExit(
                f"{run_dir} holds a run with other settings ({' '.join(done)}): pass --force or another --out"
            )
        logger.info(f"{arm} seed {seed}: reusing {run_dir}")
        return run_dir
    env = cli_env(threads=(os.cpu_count() or 2) // args.jobs)
    logger.info(f"{arm} seed {seed}: {' '.join(cmd)}")
    start = time.time()
    proc = run_script(cmd, env=env)
    if proc.returncode != 0:
        sys.stderr.write(failure_tail(proc))
        raise SystemExit(f"{arm} seed {seed} failed (exit {proc.returncode})")
    logger.info(f"{arm} seed {seed}: done in {time.time() - start:.0f} s")
    return run_dir


def arm_command(arm: str, seed: int, run_dir: Path, args: argparse.Namespace) -> list[str]:
    """The CLI overrides of one run; the last one is its run directory."""
    budget = (
        [f"training.max_steps={args.steps}"]  # equal optimizer steps: arms spend what they spend
        if args.steps
        else ["training.max_steps=100000", f"callbacks.max_generated_tokens={args.tokens}"]  # the budget ends the run
    )
    return [
        f"experiment={REGIMES[args.regime]['experiment']}",
        *args.arms[arm],
        f"seed={seed}",
        *budget,
        f"eval.every_steps={args.eval_every}",
        f"eval.max_samples={args.eval_samples}",
        "training.save_strategy=no",
        "print_config=none",
        f"exp_name=bench_replay_{args.regime}",
        *args.overrides,
        f"hydra.run.dir={run_dir}",
    ]


def load_run(run_dir: Path) -> dict:
    """A finished run as the report reads it: the summary, the held-out accuracy curve against generated tokens
    (``rlvr.sweeps``, the same reader as ``exp/report.py``) and the per-step arrays this report adds."""
    run = sweep_runs.load_run(run_dir)
    if run.summary is None:
        raise SystemExit(f"{run_dir}: no summary.json ({run.status}): rerun the bench (it resumes finished arms)")
    summary, train = run.summary, run.train_records
    return {
        "summary": summary,
        "curve": curve(run, "eval/accuracy", "tokens"),
        "zero_std": np.array([r.get("frac_reward_zero_std", np.nan) for r in train]),
        "all_correct": np.array([r.get("frac_all_correct", np.nan) for r in train]),
        "all_wrong": np.array([r.get("frac_all_wrong", np.nan) for r in train]),
        "entropy": np.array([r.get("entropy", np.nan) for r in train]),
        "trained_zero_std": np.array(
            [r.get("replay/trained_frac_zero_std", r.get("frac_reward_zero_std")) for r in train]
        ),
        "train_seconds": float(train[-1]["time"] - train[0]["time"]),  # first to last step (periodic evals included)
        "skipped": int((summary.get("replay") or {}).get("prompts", {}).get("skipped_total", 0)),
        "passes": pool_passes(run_dir, summary["steps"]),
    }


def pool_passes(run_dir: Path, steps: int) -> float:
    """Prompts generated for over the training pool's size (one process): how often the pool was seen."""
    cfg = yaml.safe_load((run_dir / ".hydra/config.yaml").read_text())
    training = cfg["training"]
    per_step = training["per_device_train_batch_size"] * training["gradient_accumulation_steps"]
    n_train = cfg["dataset"].get("generator_kwargs", {}).get("n_train") or float("nan")
    return steps * per_step / training["num_generations"] / n_train


def on_grid(curve: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Accuracy of a run at the token counts of ``grid`` (linear interpolation; runs have different step sizes)."""
    return np.interp(grid, curve[:, 0], curve[:, 1])


def reach_ratio(run: dict, base: dict) -> float:
    """``rlvr.sweeps.efficiency.reach_ratio`` of two loaded runs of the same seed."""
    return efficiency.reach_ratio(run["curve"], base["curve"], base["summary"]["accuracy_after"], GAIN_SHARE)


def gain_auc(run: dict, budget: float) -> float:
    return efficiency.gain_auc(run["curve"], budget)


def parse_arm(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition("=")
    if not name or not overrides:
        raise argparse.ArgumentTypeError(f"--arm {text!r}: expected name=override[,override...]")
    parts, depth, current = [], 0, ""
    for ch in overrides:  # split on commas outside brackets: list values such as [[0,0.0],[125,0.5]] stay whole
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return name, [*parts, current]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regime", choices=sorted(REGIMES), default="pool")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--arms", nargs="+", default=None, help=f"arms to run (default: the regime's; from {list(ARMS)})"
    )
    parser.add_argument("--arm", type=parse_arm, action="append", default=[], help="define an arm: name=o1,o2")
    parser.add_argument("--tokens", type=int, default=None, help="generated-token budget per run (default: regime's)")
    parser.add_argument(
        "--steps", type=int, default=None, help="equal optimizer steps instead of an equal token budget"
    )
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (threads split between them)")
    parser.add_argument(
        "--out", type=Path, default=None, help="run directories (default bench/results/replay_<regime>)"
    )
    parser.add_argument("--report", type=Path, default=None, help="markdown report (default: <out>.md)")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of accuracy against tokens (default: beside it)")
    parser.add_argument("--force", action="store_true", help="rerun arms whose summary.json exists")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args()
    arms = {**ARMS, **dict(args.arm)}
    names = args.arms or REGIMES[args.regime]["arms"]
    if unknown := [a for a in names if a not in arms]:
        parser.error(f"unknown arm(s) {unknown}: choose from {list(arms)} or define one with --arm")
    args.arms = {a: arms[a] for a in names}
    args.tokens = args.tokens or REGIMES[args.regime]["tokens"]
    args.out = args.out or ROOT / f"bench/results/replay_{args.regime}"
    report_path = args.report or args.out.with_suffix(".md")

    jobs = [(arm, seed) for seed in args.seeds for arm in names]
    with ThreadPoolExecutor(args.jobs) as pool:
        dirs = list(pool.map(lambda job: run_arm(*job, args), jobs))
    runs: dict[str, list[dict]] = {arm: [] for arm in names}
    for (arm, _), run_dir in zip(jobs, dirs, strict=True):
        runs[arm].append(load_run(run_dir))
    report = render(runs, names[0], args)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    png = args.figure or report_path.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    horizon = args.tokens if not args.steps else max(r["summary"]["generated_tokens"] for v in runs.values() for r in v)
    plot(runs, png, horizon)
    link = os.path.relpath(png, report_path.parent)
    report_path.write_text(report + f"\n![accuracy against generated tokens]({link})\n")
    print(report)


def render(runs: dict[str, list[dict]], base: str, args: argparse.Namespace) -> str:
    base_runs = runs[base]
    base_wall = np.mean([r["train_seconds"] for r in base_runs])
    experiment = REGIMES[args.regime]["experiment"]
    argv = " ".join(sys.argv[1:])
    budget = (
        f"every run stops at {args.steps} optimizer steps (arms spend different generated tokens)"
        if args.steps
        else f"every run stops at {args.tokens:,} generated completion tokens (`callbacks.max_generated_tokens`)"
    )
    share = round(100 * GAIN_SHARE)
    lines = [
        f"# Replay benchmark: {args.regime} regime (`experiment={experiment}`)",
        "",
        f"Command: `uv run python exp/bench_replay.py {argv}`".replace("  ", " "),
        "",
        f"Seeds {args.seeds}; {budget}; held-out greedy accuracy on {args.eval_samples} prompts every "
        f"{args.eval_every} steps; {os.cpu_count()} CPU cores, {args.jobs} runs at a time. Every arm is paired with "
        f"the {base} run of the same seed (the same start and held-out split).",
        "",
        "Arms: " + "; ".join(f"**{a}** `{' '.join(args.arms[a])}`" for a in runs),
        "",
        f"- **tokens to {share}%**: generated tokens the arm needs to gain {share}% of {base}'s final gain, over "
        f"the tokens {base} needs (per seed; median, and the largest seed); inf: never reached.",
        "- **AUC**: the mean gain over the start across the token budget (area under the gain-vs-tokens curve / "
        "budget, points).",
        "",
        f"| arm | final accuracy (mean ± std) | per seed | Δ vs {base} (points, mean; per seed) "
        f"| tokens to {share}% vs {base} (median, max; per seed) | AUC (points, mean; Δ per seed) "
        f"| generated tokens | wall vs {base} | zero-std generated / trained | all-correct / all-wrong | skipped |",
        "|---|---:|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    base_finals = np.array([r["summary"]["accuracy_after"] for r in base_runs])
    horizon = args.tokens if not args.steps else float(np.mean([r["summary"]["generated_tokens"] for r in base_runs]))
    base_auc = np.array([gain_auc(r, horizon) for r in base_runs])
    for arm, arm_runs in runs.items():
        finals = np.array([r["summary"]["accuracy_after"] for r in arm_runs])
        delta = 100 * (finals - base_finals)
        ratios = np.array([reach_ratio(r, b) for r, b in zip(arm_runs, base_runs, strict=True)])
        aucs = np.array([gain_auc(r, horizon) for r in arm_runs])
        wall = np.mean([r["train_seconds"] for r in arm_runs]) / base_wall
        tokens = np.mean([r["summary"]["generated_tokens"] for r in arm_runs])
        zs = np.nanmean(np.concatenate([r["zero_std"] for r in arm_runs]))
        tzs = np.nanmean(np.concatenate([r["trained_zero_std"] for r in arm_runs]).astype(float))
        corr = np.nanmean(np.concatenate([r["all_correct"] for r in arm_runs]))
        wrong = np.nanmean(np.concatenate([r["all_wrong"] for r in arm_runs]))
        skipped = np.mean([r["skipped"] for r in arm_runs])
        lines.append(
            f"| {arm} | {finals.mean():.3f} ± {finals.std():.3f} | {', '.join(f'{f:.3f}' for f in finals)} "
            f"| {delta.mean():+.1f}; {', '.join(f'{d:+.1f}' for d in delta)} "
            f"| {np.median(ratios):.2f}x, {ratios.max():.2f}x; {', '.join(f'{r:.2f}' for r in ratios)} "
            f"| {aucs.mean():.1f}; {', '.join(f'{d:+.1f}' for d in aucs - base_auc)} "
            f"| {tokens:,.0f} | {wall:.2f}x | {zs:.2f} / {tzs:.2f} | {corr:.2f} / {wrong:.2f} | {skipped:.0f} |"
        )
    if not args.steps:
        lines += ["", *lab_criteria(base, base_runs, horizon)]
    grid = np.linspace(0, horizon, 7)
    lines += [
        "",
        "Held-out accuracy at equal generated tokens (mean over seeds, interpolated between evaluations):",
        "",
    ]
    lines.append("| arm | " + " | ".join(f"{t / 1000:.0f}k" for t in grid) + " |")
    lines.append("|---|" + "---:|" * len(grid))
    for arm, arm_runs in runs.items():
        acc = np.mean([on_grid(r["curve"], grid) for r in arm_runs], axis=0)
        lines.append(f"| {arm} | " + " | ".join(f"{a:.3f}" for a in acc) + " |")
    for key, title in (
        ("zero_std", "`frac_reward_zero_std` of the generated groups"),
        ("all_correct", "`frac_all_correct` of the generated groups"),
        ("all_wrong", "`frac_all_wrong` of the generated groups"),
        ("entropy", "`entropy` of the generated completions"),
    ):
        lines += ["", f"{title} over training (mean over seeds, by fifth of the run):", ""]
        for arm, arm_runs in runs.items():
            parts = [np.nanmean(np.concatenate([np.array_split(r[key], 5)[i] for r in arm_runs])) for i in range(5)]
            digits = 3 if key == "entropy" else 2
            lines.append(f"- {arm}: " + " → ".join(f"{p:.{digits}f}" for p in parts))
    return "\n".join(lines) + "\n"


def lab_criteria(base: str, runs: list[dict], budget: float) -> list[str]:
    """Whether the baseline arm leaves room to tell methods apart (docs/lab.md): it gains, it is still gaining in
    the second half of the budget, many groups are uniform (of both kinds), the pool is revisited, seeds agree and
    a run is short."""
    gains = 100 * np.array([r["summary"]["accuracy_after"] - r["curve"][0, 1] for r in runs])
    at = np.array([on_grid(r["curve"], np.array([budget / 2, budget])) - r["curve"][0, 1] for r in runs]).mean(0)
    late = (at[1] - at[0]) / at[1] if at[1] > 0 else float("nan")
    zero_std = np.nanmean(np.concatenate([r["zero_std"] for r in runs]))
    solved = np.nanmean(np.concatenate([r["all_correct"] for r in runs]))
    failed = np.nanmean(np.concatenate([r["all_wrong"] for r in runs]))
    passes = np.mean([r["passes"] for r in runs])
    spread = 100 * np.std([r["summary"]["accuracy_after"] for r in runs])
    wall = np.mean([r["train_seconds"] for r in runs]) / 60
    rows = [
        (
            "held-out gain over the run",
            "≥ +20 points",
            f"{gains.mean():+.1f} ({', '.join(f'{g:+.1f}' for g in gains)})",
            gains.mean() >= 20,
        ),
        ("share of the gain added in the second half of the budget", "≥ 25%", f"{100 * late:.0f}%", late >= 0.25),
        (
            "generated groups with zero reward variance",
            "≥ 40%, solved and failed",
            f"{100 * zero_std:.0f}% (all correct {100 * solved:.0f}%, all wrong {100 * failed:.0f}%)",
            zero_std >= 0.4 and solved > 0 and failed > 0,
        ),
        ("passes over the training pool", "≥ 3", f"{passes:.1f}", passes >= 3),
        (
            "seed std of the final accuracy",
            "≤ gain / 4",
            f"{spread:.1f} points (limit {gains.mean() / 4:.1f}; std of the gain {gains.std():.1f})",
            spread <= gains.mean() / 4,
        ),
        ("training time of one run (first to last step)", "≤ 10 min", f"{wall:.1f} min", wall <= 10),
    ]
    lines = [
        f"Headroom of the {base} arm (the lab's criteria, docs/lab.md; means over seeds):",
        "",
        "| criterion | goal | measured | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {goal} | {value} | {'yes' if ok else '**no**'} |" for name, goal, value, ok in rows]
    return lines


def plot(runs: dict[str, list[dict]], path: Path, budget: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 4.2))
    grid = np.linspace(0, budget, 41)
    for arm, arm_runs in runs.items():
        # the gain over each run's own start: seeds evaluate on different held-out splits, whose levels differ
        reach = grid[grid <= min(r["curve"][-1, 0] for r in arm_runs)]  # no flat line past an arm's last tokens
        gain = 100 * np.array([on_grid(r["curve"], reach) - r["curve"][0, 1] for r in arm_runs])
        left.plot(reach, gain.mean(0), label=arm)
        left.fill_between(reach, gain.mean(0) - gain.std(0), gain.mean(0) + gain.std(0), alpha=0.12)
        m = min(len(r["zero_std"]) for r in arm_runs)
        k = max(1, m // 40)
        for axis, key in ((middle, "zero_std"), (right, "entropy")):
            values = np.mean([r[key][:m] for r in arm_runs], axis=0)
            axis.plot(np.convolve(values, np.ones(k) / k, mode="valid"), label=arm)
    left.set(
        xlabel="generated completion tokens",
        ylabel="held-out accuracy gain (points)",
        title="gain over the start vs compute (± std over seeds)",
    )
    middle.set(xlabel="optimizer step", ylabel="frac_reward_zero_std (generated)", title="uninformative groups")
    right.set(xlabel="optimizer step", ylabel="entropy (generated tokens)", title="policy entropy")
    for axis in (left, middle, right):
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
