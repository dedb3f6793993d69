"""What replay, skipping and refill buy: `uv run python exp/bench_replay.py --regime pool` (seeds x arms).

Every arm runs the real CLI on the offline task with the same budget of generated completion tokens
(`callbacks.max_generated_tokens`; an arm that spends more tokens per step, refill, simply takes fewer steps)
and evaluates held-out greedy accuracy every `--eval-every` steps. Two regimes:

- `--regime pool` (`experiment=arith_pool`): a finite pool of training prompts trained for several passes, so
  most groups saturate (all solved) as the policy improves: the regime of multi-epoch RLVR runs.
- `--regime mix` (`experiment=arith_mix`): a fresh 20,000-prompt stream, no prompt seen twice.

Arms are named sets of overrides (`ARMS` below, or `--arm name=override,override` for your own); runs live in
`--out/<arm>/seed<N>` and are reused when their overrides match. The report (markdown at `--report`, PNG at
`--figure`) gives, per arm, final held-out accuracy at the equal token budget (mean +- std,
per seed), the tokens each seed needs to reach the baseline seed's final accuracy (ratio to the budget, mean +- std,
and whether it is below 1 on every seed), wall time relative to the baseline, `frac_reward_zero_std` of the
generated groups and of the trained batch, and prompts skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from loguru import logger

from rlvr.cli_runner import ROOT, cli_env, failure_tail, run_script

ARMS: dict[str, list[str]] = {
    "none": ["replay=none"],
    "skip": ["replay=skip"],
    "refill": ["replay=refill"],
    "replay": ["replay=ucb"],
    "skip+replay": ["replay=ucb", "replay.skip.enabled=true"],
    "skip+refill": ["replay=skip", "replay.refill.enabled=true"],
}
REGIMES = {
    "pool": {"experiment": "arith_pool", "arms": ["none", "skip", "refill", "replay", "skip+replay"]},
    "mix": {"experiment": "arith_mix", "arms": ["none", "replay"]},
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
    return [
        f"experiment={REGIMES[args.regime]['experiment']}",
        *args.arms[arm],
        f"seed={seed}",
        "training.max_steps=100000",  # the token budget ends the run
        f"callbacks.max_generated_tokens={args.tokens}",
        f"eval.every_steps={args.eval_every}",
        f"eval.max_samples={args.eval_samples}",
        "training.save_strategy=no",
        "print_config=none",
        f"exp_name=bench_replay_{args.regime}",
        *args.overrides,
        f"hydra.run.dir={run_dir}",
    ]


def load_run(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in rows if "loss" in r]
    curve = [(0, summary["accuracy_before"])]
    curve += [(r["generated_tokens"], r["eval/accuracy"]) for r in rows if "eval/accuracy" in r]
    if curve[-1][0] != summary["generated_tokens"]:
        curve.append((summary["generated_tokens"], summary["accuracy_after"]))
    return {
        "summary": summary,
        "curve": np.array(curve, dtype=float),
        "zero_std": np.array([r.get("frac_reward_zero_std", np.nan) for r in train]),
        "trained_zero_std": np.array(
            [r.get("replay/trained_frac_zero_std", r.get("frac_reward_zero_std")) for r in train]
        ),
        "train_seconds": float(train[-1]["time"] - train[0]["time"]),  # first to last step (periodic evals included)
        "skipped": int((summary.get("replay") or {}).get("prompts", {}).get("skipped_total", 0)),
    }


def tokens_to_reach(curve: np.ndarray, target: float) -> float | None:
    """Generated tokens at which the (linearly interpolated) curve first reaches ``target``."""
    for (t0, a0), (t1, a1) in zip(curve[:-1], curve[1:], strict=True):
        if a1 >= target:
            return float(t0 if a0 >= target else t0 + (t1 - t0) * (target - a0) / (a1 - a0))
    return None


def on_grid(curve: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Accuracy of a run at the token counts of ``grid`` (linear interpolation; runs have different step sizes)."""
    return np.interp(grid, curve[:, 0], curve[:, 1])


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
    args.tokens = args.tokens or {"pool": 360_000, "mix": 87_000}[args.regime]
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
    plot(runs, png, args.tokens)
    link = os.path.relpath(png, report_path.parent)
    report_path.write_text(report + f"\n![accuracy against generated tokens]({link})\n")
    print(report)


def render(runs: dict[str, list[dict]], base: str, args: argparse.Namespace) -> str:
    base_runs = runs[base]
    base_wall = np.mean([r["train_seconds"] for r in base_runs])
    experiment = REGIMES[args.regime]["experiment"]
    argv = " ".join(sys.argv[1:])
    lines = [
        f"# Replay benchmark: {args.regime} regime (`experiment={experiment}`)",
        "",
        f"Command: `uv run python exp/bench_replay.py {argv}`".replace("  ", " "),
        "",
        f"Seeds {args.seeds}; every run stops at {args.tokens:,} generated completion tokens "
        f"(`callbacks.max_generated_tokens`); held-out greedy accuracy on {args.eval_samples} prompts every "
        f"{args.eval_every} steps; {os.cpu_count()} CPU cores, {args.jobs} runs at a time.",
        "",
        "Arms: " + "; ".join(f"**{a}** `{' '.join(args.arms[a])}`" for a in runs),
        "",
        f"| arm | final accuracy (mean ± std) | per seed | Δ vs {base} (points, mean; per seed) | tokens to reach "
        f"{base}'s final, ratio to budget (mean ± std) | below 1 on every seed | wall vs {base} | "
        "frac_reward_zero_std generated / trained | skipped prompts |",
        "|---|---:|---|---|---:|:-:|---:|---:|---:|",
    ]
    base_finals = np.array([r["summary"]["accuracy_after"] for r in base_runs])
    for arm, arm_runs in runs.items():
        finals = np.array([r["summary"]["accuracy_after"] for r in arm_runs])
        delta = 100 * (finals - base_finals)
        ratios = []
        for run, target in zip(arm_runs, base_finals, strict=True):
            reach = tokens_to_reach(run["curve"], target)
            ratios.append(np.inf if reach is None else reach / args.tokens)
        ratios_arr = np.array(ratios)
        finite = ratios_arr[np.isfinite(ratios_arr)]
        ratio_text = (
            f"{finite.mean():.2f} ± {finite.std():.2f}"
            + (f" ({len(finite)}/{len(ratios)} seeds reach)" if len(finite) < len(ratios) else "")
            if finite.size
            else "not reached"
        )
        wall = np.mean([r["train_seconds"] for r in arm_runs]) / base_wall
        zs = np.nanmean(np.concatenate([r["zero_std"] for r in arm_runs]))
        tzs = np.nanmean(np.concatenate([r["trained_zero_std"] for r in arm_runs]).astype(float))
        skipped = np.mean([r["skipped"] for r in arm_runs])
        lines.append(
            f"| {arm} | {finals.mean():.3f} ± {finals.std():.3f} | {', '.join(f'{f:.3f}' for f in finals)} "
            f"| {delta.mean():+.1f}; {', '.join(f'{d:+.1f}' for d in delta)} | {ratio_text} "
            f"| {'yes' if bool((ratios_arr < 1).all()) else 'no'} | {wall:.2f}x | {zs:.2f} / {tzs:.2f} | {skipped:.0f} |"
        )
    grid = np.linspace(0, args.tokens, 7)
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
    lines += [
        "",
        "`frac_reward_zero_std` of the generated groups over training (mean over seeds, by fifth of the run):",
        "",
    ]
    for arm, arm_runs in runs.items():
        parts = [np.nanmean(np.concatenate([np.array_split(r["zero_std"], 5)[i] for r in arm_runs])) for i in range(5)]
        lines.append(f"- {arm}: " + " → ".join(f"{p:.2f}" for p in parts))
    return "\n".join(lines) + "\n"


def plot(runs: dict[str, list[dict]], path: Path, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    grid = np.linspace(0, budget, 41)
    for arm, arm_runs in runs.items():
        # the gain over each run's own start: seeds evaluate on different held-out splits, whose levels differ
        gain = 100 * np.array([on_grid(r["curve"], grid) - r["curve"][0, 1] for r in arm_runs])
        left.plot(grid, gain.mean(0), label=arm)
        left.fill_between(grid, gain.mean(0) - gain.std(0), gain.mean(0) + gain.std(0), alpha=0.12)
        m = min(len(r["zero_std"]) for r in arm_runs)
        zs = np.mean([r["zero_std"][:m] for r in arm_runs], axis=0)
        k = max(1, m // 40)
        right.plot(np.convolve(zs, np.ones(k) / k, mode="valid"), label=arm)
    left.set(
        xlabel="generated completion tokens",
        ylabel="held-out accuracy gain (points)",
        title="gain over the start vs compute (± std over seeds)",
    )
    right.set(xlabel="optimizer step", ylabel="frac_reward_zero_std (generated)", title="uninformative groups")
    left.legend()
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
