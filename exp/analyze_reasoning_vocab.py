"""What GRPO did to a reasoning vocabulary: PNGs and a markdown report from a run directory.

    uv run python exp/analyze_reasoning_vocab.py RUN_DIR [--baseline BASELINE_RUN_DIR] [--out DIR]

RUN_DIR is a run with model.reasoning_vocab.size != 0 (it holds checkpoint-0/ and reasoning_token_map.json). Writes
to DIR (default RUN_DIR/analysis/): usage.png (share of thinking tokens that are reasoning copies, distinct copies
used, held-out accuracy, against the step), drift.png (cosine distance of copies from their sources and of every
row from checkpoint-0, per checkpoint), pca.png (trajectories of the most drifted copies and their sources),
entropy.png (next-token entropy by completion position, inside vs outside thinking, with the baseline's when
given) and report.md (the tables, the accuracy of both runs). Method: src/rlvr/vocab/analysis.py; docs/reasoning_vocab.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.errors import UserError


def with_accuracy(
    series: dict[str, list[tuple[int, float]]], summary: dict[str, Any]
) -> dict[str, list[tuple[int, float]]]:
    """``series`` with held-out accuracy before (step 0) and after training from summary.json when the run logged no
    ``eval/accuracy`` during training (``eval.every_steps=0``)."""
    if series.get("eval/accuracy") or summary.get("accuracy_after") is None:
        return series
    points = [(0, summary["accuracy_before"])] if summary.get("accuracy_before") is not None else []
    return {**series, "eval/accuracy": [*points, (int(summary.get("steps", 0)), summary["accuracy_after"])]}


def plot_usage(series: dict[str, list[tuple[int, float]]], base: dict[str, list[tuple[int, float]]], out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, title in (
        (axes[0], "reasoning_vocab/share_in_thinking", "share of thinking tokens that are copies"),
        (axes[1], "reasoning_vocab/distinct_ids", "distinct reasoning ids per batch"),
        (axes[2], "eval/accuracy", "held-out greedy accuracy"),
    ):
        for label, data in (("reasoning vocab", series), ("baseline", base)):
            pts = data.get(key, [])
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o" if key == "eval/accuracy" else None,
                        linestyle="--" if label == "baseline" else "-", label=label)  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_drift(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [r["step"] for r in rows]
    for key, label in (
        ("copy_vs_source_in", "copy vs its source (input)"),
        ("copy_vs_initial_in", "copy vs checkpoint-0 (input)"),
        ("standard_vs_initial_in", "standard vs checkpoint-0 (input)"),
        ("copy_vs_source_out", "copy vs its source (output)"),
        ("standard_vs_initial_out", "standard vs checkpoint-0 (output)"),
    ):
        if key in rows[0]:
            ax.plot(steps, [r[key] for r in rows], marker="o", label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel("mean cosine distance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_pca(points: Any, labels: list[str], out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for k, label in enumerate(labels):
        xy = points[:, k].numpy()
        line = ax.plot(xy[:, 0], xy[:, 1], marker=".", linestyle="--" if label.startswith("copy") else "-",
                       label=label)  # fmt: skip
        ax.scatter(xy[-1, 0], xy[-1, 1], color=line[0].get_color(), s=40, marker="x")
    ax.set_title("input embeddings, checkpoint-0 to final (x)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_entropy(profiles: dict[str, dict[str, Any]], out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for run, prof in profiles.items():
        for where, style in (("inside", "-"), ("outside", "--")):
            ys = prof["by_position"][where]
            xs = [i for i, y in enumerate(ys) if y is not None]
            if xs:
                ax.plot(xs, [ys[i] for i in xs], style, label=f"{run}, {where} thinking")
    ax.set_xlabel("completion position (tokens)")
    ax.set_ylabel("next-token entropy (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def analyze(run_dir: Path, baseline: Path | None, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from rlvr.models import load_tokenizer
    from rlvr.vocab.analysis import (
        drift_table,
        entropy_profile,
        most_drifted,
        pca_trajectories,
        snapshots,
        summary_of,
        usage_series,
    )
    from rlvr.vocab.token_map import TokenMap

    tm = TokenMap.load(run_dir / "checkpoint-0") if (run_dir / "checkpoint-0").is_dir() else None
    if tm is None:
        raise UserError(f"{run_dir}: no checkpoint-0/reasoning_token_map.json: not a reasoning-vocabulary run")
    if baseline is not None and not baseline.is_dir():
        raise UserError(f"--baseline: {baseline} is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    tok = load_tokenizer(str(run_dir / "checkpoint-0"))
    snaps = snapshots(run_dir)
    drift = drift_table(snaps, tm)
    top = most_drifted(snaps[-1], tm, tok)
    series = with_accuracy(usage_series(run_dir), summary_of(run_dir))
    base_series = with_accuracy(usage_series(baseline), summary_of(baseline)) if baseline else {}
    plot_usage(series, base_series, out / "usage.png")
    plot_drift(drift, out / "drift.png")
    chosen = top[:4]
    ids = [r["reasoning_id"] for r in chosen] + [r["source_id"] for r in chosen]
    labels = [f"copy of {r['token']!r}" for r in chosen] + [f"{r['token']!r}" for r in chosen]
    plot_pca(pca_trajectories(snaps, ids), labels, out / "pca.png")
    profiles = {"reasoning vocab": entropy_profile(run_dir)}
    if baseline is not None:
        profiles["baseline"] = entropy_profile(baseline)
    profiles = {k: v for k, v in profiles.items() if v is not None}
    if profiles:
        plot_entropy(profiles, out / "entropy.png")
    runs = {"reasoning vocab": summary_of(run_dir)} | ({"baseline": summary_of(baseline)} if baseline else {})
    last = {k: (v[-1][1] if v else None) for k, v in series.items()}
    lines = [
        f"# Reasoning vocabulary: {run_dir}",
        "",
        f"{tm.size} reasoning tokens (ids {tm.base_vocab_size}..{tm.vocab_size - 1}), inside={tm.inside}, "
        f"tags {tm.think_open!r} / {tm.think_close!r}. Output embeddings: "
        + ("untied (separate drift columns)." if snaps[0].output is not None else "tied to the input embeddings."),
        "",
        "| run | accuracy before | accuracy after | steps | generated tokens |",
        "|---|---|---|---|---|",
    ]
    for name, s in runs.items():
        lines.append(
            f"| {name} | {fmt(s.get('accuracy_before'))} | {fmt(s.get('accuracy_after'))} | {fmt(s.get('steps'))} "
            f"| {fmt(s.get('generated_tokens'))} |"
        )
    lines += ["", "Usage at the last logged step:", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in sorted(last.items()) if k.startswith("reasoning_vocab/")]
    keys = [k for k in drift[0] if k not in ("label", "step")]
    lines += ["", "Drift (mean cosine distance):", "", "| checkpoint | step | " + " | ".join(keys) + " |"]
    lines += ["|---" * (len(keys) + 2) + "|"]
    lines += [f"| {r['label']} | {r['step']} | " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in drift]
    lines += ["", "Copies furthest from their sources (final model, input embedding):", ""]
    lines += ["| reasoning id | source id | token | k-th copy | distance |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['reasoning_id']} | {r['source_id']} | `{r['token']!r}` | {r['multiplicity']} | {fmt(r['distance'])} |"
        for r in top
    ]
    if profiles:
        lines += ["", "Mean next-token entropy of the final policy on held-out prompts (sampled under the mask):", ""]
        lines += ["| run | inside thinking | outside thinking | prompts |", "|---|---|---|---|"]
        lines += [
            f"| {k} | {fmt(p['entropy_inside'])} | {fmt(p['entropy_outside'])} | {p['n_prompts']} |"
            for k, p in profiles.items()
        ]
    lines += ["", "Figures: usage.png, drift.png, pca.png" + (", entropy.png" if profiles else "") + "."]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    (out / "analysis.json").write_text(
        json.dumps({"drift": drift, "most_drifted": top, "usage_last": last, "entropy": profiles}, indent=2)
    )
    logger.info(f"wrote report.md, analysis.json and the PNGs to {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run with model.reasoning_vocab.size != 0")
    parser.add_argument("--baseline", type=Path, default=None, help="the same run without the reasoning vocabulary")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default RUN_DIR/analysis)")
    args = parser.parse_args(argv)
    try:
        if not args.run_dir.is_dir():
            raise UserError(f"{args.run_dir} is not a directory")
        analyze(args.run_dir, args.baseline, args.out or args.run_dir / "analysis")
    except UserError as err:
        logger.error(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
