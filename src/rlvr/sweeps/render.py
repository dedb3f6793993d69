"""What a comparison of runs looks like: markdown tables, one CSV row per run, and curves with a seed band."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from rlvr.sweeps.efficiency import GAIN_SHARE, gain_auc, reach_ratio
from rlvr.sweeps.groups import Group, paired_deltas, stat, varying_config
from rlvr.sweeps.runs import Run

# The columns of every table: (key in Run.final(), header, scale, decimals)
BASE_COLUMNS = [
    ("accuracy_after", "final accuracy", 1.0, 3),
    ("gain", "gain (points)", 100.0, 1),
    ("generated_tokens", "generated tokens", 1.0, 0),
    ("wall_seconds", "wall (s)", 1.0, 0),
]


def _num(value: float, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{decimals}f}"


def _cell(group_runs: list[Run], key: str, scale: float, decimals: int) -> str:
    s = stat(group_runs, key)
    if not s.values:
        return "-"
    text = _num(scale * s.mean, decimals)
    if len(s.values) > 1:
        text += f" ± {_num(scale * s.std, decimals)}"
    return text


def _per_seed(group: Group, key: str, scale: float, decimals: int) -> str:
    parts = []
    for run in group.complete:
        values = stat([run], key).values
        parts.append(_num(scale * values[0], decimals) if values else "-")
    return ", ".join(parts)


def _decimals(key: str) -> tuple[float, int]:
    for k, _, scale, decimals in BASE_COLUMNS:
        if k == key:
            return scale, decimals
    return 1.0, 4


def _metric_decimals(groups: list[Group], key: str) -> int:
    """Decimals that suit a metric's size: 0 for counts and large values, 2 from 1 up, else 4."""
    values = [abs(v) for g in groups for v in stat(g.complete, key).values]
    if not values or max(values) >= 100 or all(float(v).is_integer() for v in values):
        return 0
    return 2 if max(values) >= 1 else 4


def groups_table(groups: list[Group], metrics: list[str]) -> list[str]:
    """One row per group over its complete runs: n, mean ± std (sample std over seeds) and the per-seed values."""
    columns = [(k, h, s, d) for k, h, s, d in BASE_COLUMNS] + [
        (m, m, 1.0, _metric_decimals(groups, m)) for m in metrics
    ]
    header = ["group", "n", "seeds"] + [h for _, h, _, _ in columns] + ["final accuracy per seed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        runs = group.complete
        not_done = len(group.runs) - len(runs)
        n = f"{len(runs)}" + (f" (+{not_done} not complete)" if not_done else "")
        seeds = ", ".join(str(r.seed) for r in runs) or "-"
        cells = [_cell(runs, k, s, d) for k, _, s, d in columns]
        lines.append(
            "| " + " | ".join([group.label, n, seeds, *cells, _per_seed(group, "accuracy_after", 1.0, 3)]) + " |"
        )
    return lines


def delta_table(groups: list[Group], baseline: Group, metrics: list[str]) -> list[str]:
    """Each group minus the baseline, per seed both completed (paired), mean and per-seed values."""
    keys = ["accuracy_after", "generated_tokens", "wall_seconds", *metrics]
    names = {
        "accuracy_after": "final accuracy (points)",
        "generated_tokens": "generated tokens",
        "wall_seconds": "wall (s)",
    }
    header = ["group", "paired seeds"] + [f"Δ {names.get(k, k)} (mean; per seed)" for k in keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        if group is baseline:
            continue
        cells = []
        seeds: list[Any] = []
        for key in keys:
            deltas = paired_deltas(group, baseline, key)
            seeds = seeds or list(deltas)
            scale, decimals = (100.0, 1) if key == "accuracy_after" else _decimals(key)
            if not deltas:
                cells.append("-")
                continue
            mean = scale * sum(deltas.values()) / len(deltas)
            per = ", ".join(f"{scale * v:+,.{decimals}f}" for v in deltas.values())
            cells.append(f"{mean:+,.{decimals}f}; {per}")
        lines.append("| " + " | ".join([group.label, ", ".join(map(str, seeds)) or "none", *cells]) + " |")
    return lines


def not_complete_table(runs: list[Run]) -> list[str]:
    """Runs left out of the group numbers, with how far each got."""
    lines = ["| run | status | steps | last held-out accuracy | generated tokens |", "|---|---|---|---|---|"]
    for run in runs:
        f = run.final()
        lines.append(
            f"| {run.path} | {run.status} | {f['steps']} | {_num(f['accuracy_after'], 3)} | "
            f"{_num(f['generated_tokens'], 0)} |"
        )
    return lines


def write_csv(runs: list[Run], groups: list[Group], metrics: list[str], path: Path) -> None:
    """One row per run (every status): where it is, its group, the config keys that differ between runs, and
    its numbers."""
    label = {id(run): g.label for g in groups for run in g.runs}
    keys = [k for k in varying_config(runs) if not k.startswith(("paths.", "hydra."))]
    fields = [
        "run_dir",
        "status",
        "group",
        "seed",
        *keys,
        "accuracy_before",
        "accuracy_after",
        "gain",
        "steps",
        "generated_tokens",
        "wall_seconds",
        *metrics,
    ]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(fields)))
        writer.writeheader()
        for run in runs:
            row: dict[str, Any] = {"run_dir": str(run.path), "status": run.status, "group": label[id(run)]}
            row.update({k: run.config.get(k) for k in keys})
            row.update(run.final())
            row.update({m: run.value(m) for m in metrics if m not in keys})  # a config key stays the config's
            writer.writerow(row)


def curve(run: Run, metric: str, x: str) -> np.ndarray:
    """(x, value) points of ``metric`` in a run, x in generated tokens or optimizer steps. The held-out accuracy
    curve starts at the accuracy before training and ends at the final one, as the summary records them."""
    xkey = "generated_tokens" if x == "tokens" else "step"
    points = [(r[xkey], r[metric]) for r in run.records if r.get(metric) is not None and xkey in r]
    if metric == "eval/accuracy":
        final = run.final()
        if final["accuracy_before"] is not None:
            points.insert(0, (0, final["accuracy_before"]))
        end_x = final["generated_tokens"] if x == "tokens" else final["steps"]
        if (
            run.summary
            and final["accuracy_after"] is not None
            and end_x is not None
            and (not points or points[-1][0] < end_x)
        ):
            points.append((end_x, final["accuracy_after"]))
    return np.array(sorted(points), dtype=float).reshape(-1, 2)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.array([values[: i + 1].mean() for i in range(window - 1)])
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def band(curves: list[np.ndarray], points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeds on one x grid (linear interpolation), up to the shortest run's end: grid, mean, min, max."""
    end = min(c[-1, 0] for c in curves)
    start = max(c[0, 0] for c in curves)
    grid = np.linspace(start, end, points) if end > start else np.array([start])
    ys = np.stack([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])
    return grid, ys.mean(0), ys.min(0), ys.max(0)


def plot_curves(groups: list[Group], metric: str, x: str, path: Path, window: int = 1) -> bool:
    """``metric`` against ``x`` per group: the mean over its complete runs and a band from the lowest to the
    highest seed. False (nothing written) when no run logged the metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for group in groups:
        curves = [c for c in (curve(r, metric, x) for r in group.complete) if len(c)]
        if not curves:
            continue
        curves = [np.column_stack([c[:, 0], smooth(c[:, 1], window)]) for c in curves]
        grid, mean, lo, hi = band(curves)
        (line,) = ax.plot(grid, mean, label=f"{group.label} (n={len(curves)})")
        if len(curves) > 1:
            ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        drawn = True
    if drawn:
        ax.set_xlabel("generated tokens" if x == "tokens" else "optimizer step")
        ax.set_ylabel(metric + (f" (mean of {window})" if window > 1 else ""))
        ax.set_title(f"{metric}: mean over seeds, band from lowest to highest seed")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


def efficiency_table(groups: list[Group], baseline: Group, budget: float) -> list[str]:
    """Per seed both groups completed: generated tokens to reach 90% of the baseline's final gain (as a ratio of
    the baseline's; below 1 is faster) and the mean gain over ``[0, budget]`` tokens, from held-out accuracy."""
    base_runs = baseline.by_seed()
    header = [
        "group",
        "paired seeds",
        f"tokens to {GAIN_SHARE:.0%} of the baseline's gain, × baseline (median; per seed)",
        "gain AUC, points (mean; per seed)",
        "baseline gain AUC (mean)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        if group is baseline:
            continue
        seeds, ratios, aucs, base_aucs = [], [], [], []
        for seed, run in group.by_seed().items():
            if seed not in base_runs:
                continue
            mine, base = curve(run, "eval/accuracy", "tokens"), curve(base_runs[seed], "eval/accuracy", "tokens")
            if len(mine) < 2 or len(base) < 2:
                continue
            seeds.append(seed)
            ratios.append(reach_ratio(mine, base, base_runs[seed].final()["accuracy_after"]))
            aucs.append(gain_auc(mine, budget))
            base_aucs.append(gain_auc(base, budget))
        if not seeds:
            lines.append(f"| {group.label} | none | - | - | - |")
            continue
        lines.append(
            f"| {group.label} | {', '.join(map(str, seeds))} | {np.median(ratios):.2f}; "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f" | {np.mean(aucs):.1f}; "
            + ", ".join(f"{a:.1f}" for a in aucs)
            + f" | {np.mean(base_aucs):.1f} |"
        )
    return lines
