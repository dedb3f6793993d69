"""One comparison of runs, written out: ``report.md`` (tables, the PNGs linked), ``results.csv`` and one PNG per
curve metric. ``exp/report.py`` is its command line; benchmarks call :func:`write_report` on their run dirs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from rlvr.sweeps.groups import Group, find_group, group_runs
from rlvr.sweeps.render import (
    delta_table,
    efficiency_table,
    groups_table,
    not_complete_table,
    plot_curves,
    write_csv,
)
from rlvr.sweeps.runs import Run, find_runs


@dataclass
class ReportSpec:
    paths: list[str]
    out: Path
    by: list[str] = field(default_factory=list)
    baseline: str | None = None
    metrics: list[str] = field(default_factory=list)
    curves: list[str] = field(default_factory=lambda: ["eval/accuracy"])
    x: str = "tokens"
    smooth: int = 1
    stale_minutes: float = 30.0
    title: str = "Runs compared"
    command: str | None = None


@dataclass
class Report:
    runs: list[Run]
    groups: list[Group]
    markdown: str  # report.md: title, command, body
    body: str  # the tables and figure links alone, for a benchmark's own report
    files: list[Path]
    out: Path

    def body_for(self, document: Path) -> str:
        """The body with its figure links made relative to ``document`` (a report written elsewhere)."""
        prefix = os.path.relpath(self.out, document.parent)
        return re.sub(r"\]\((curve_[^)]+\.png)\)", lambda m: f"]({prefix}/{m.group(1)})", self.body)


def _slug(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("_")


def write_report(spec: ReportSpec) -> Report:
    runs = find_runs(spec.paths, spec.stale_minutes)
    groups = group_runs(runs, spec.by or None)
    baseline = find_group(groups, spec.baseline) if spec.baseline else None
    spec.out.mkdir(parents=True, exist_ok=True)
    counts = {s: sum(r.status == s for r in runs) for s in ("complete", "preempted", "running", "stopped")}
    head = [f"# {spec.title}", ""]
    if spec.command:
        head += [f"Command: `{spec.command}`", ""]
    lines = [
        f"{len(runs)} run{'s' * (len(runs) != 1)} in {len(groups)} group{'s' * (len(groups) != 1)} ("
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + "). Groups are the overrides that differ between runs, the seed aside"
        + (f" (here by {', '.join(spec.by)})" if spec.by else "")
        + "; numbers are over each group's complete runs, mean ± sample std over seeds.",
        "",
        *groups_table(groups, spec.metrics),
        "",
    ]
    if baseline is not None:
        lines += [
            f"## Against `{baseline.label}`",
            "",
            "Paired by seed (only seeds both groups completed); accuracy in points.",
            "",
            *delta_table(groups, baseline, spec.metrics),
            "",
        ]
        budget = max((r.final()["generated_tokens"] or 0 for g in groups for r in g.complete), default=0)
        if budget:
            lines += [
                f"Learning speed from the held-out accuracy curves (`eval.every_steps` > 0 gives them points), gain "
                f"AUC over 0-{budget:,.0f} generated tokens (a run that stopped earlier holds its last value):",
                "",
                *efficiency_table(groups, baseline, budget),
                "",
            ]
    unfinished = [r for r in runs if r.status != "complete"]
    if unfinished:
        lines += [
            "## Not complete (left out of the numbers above)",
            "",
            *not_complete_table(unfinished),
            "",
        ]
    files = [spec.out / "report.md", spec.out / "results.csv"]
    write_csv(runs, groups, spec.metrics, files[1])
    for metric in spec.curves:
        png = spec.out / f"curve_{_slug(metric)}_{spec.x}.png"
        if plot_curves(groups, metric, spec.x, png, spec.smooth):
            files.append(png)
            lines += [f"![{metric} against {spec.x}]({png.name})", ""]
        else:
            logger.warning(f"no complete run logged {metric!r}: no curve drawn")
    lines += ["Runs:", "", *(f"- `{r.path}` ({r.status})" for r in runs), ""]
    body = "\n".join(lines)
    markdown = "\n".join(head) + "\n" + body
    files[0].write_text(markdown)
    return Report(runs, groups, markdown, body, files, spec.out)
