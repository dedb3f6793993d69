"""Runs grouped by what differs between them, seeds paired across groups, and the numbers of each group."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from rlvr.errors import UserError
from rlvr.sweeps.runs import Run

# Overrides that say where or how a run ran, not what it was: never a reason to put runs in different groups.
NOT_A_CONDITION = ("seed", "training.resume_from_checkpoint", "print_config", "exp_name")


@dataclass
class Group:
    label: str
    runs: list[Run]  # every run of the group, complete or not, by seed

    @property
    def complete(self) -> list[Run]:
        return [r for r in self.runs if r.status == "complete"]

    def by_seed(self) -> dict[int | None, Run]:
        return {r.seed: r for r in self.complete}


def _is_condition(key: str) -> bool:
    return not key.startswith("hydra.") and key not in NOT_A_CONDITION


def varying_overrides(runs: list[Run]) -> list[str]:
    """Override keys whose value (or presence) is not the same in every run, in first-seen order."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(k for k in run.overrides if _is_condition(k)))
    return [k for k in keys if len({run.overrides.get(k) for run in runs}) > 1]


def varying_config(runs: list[Run]) -> list[str]:
    """Dotted config keys whose composed value is not the same in every run (the seed and paths included)."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.config))
    return [k for k in keys if len({repr(run.config.get(k)) for run in runs}) > 1]


def group_runs(runs: list[Run], by: list[str] | None = None) -> list[Group]:
    """Runs grouped by the overrides that differ between them (the seed aside), or by the config values of the
    keys in ``by``. Groups keep the order in which their first run was found."""
    if by:
        missing = [k for k in by if all(k not in r.config for r in runs)]
        if missing:
            raise UserError(f"--by {' '.join(missing)}: no run's config has this key (dotted, e.g. replay.name)")

        def label(run: Run) -> str:
            return " ".join(f"{k}={run.config.get(k)}" for k in by)
    else:
        keys = varying_overrides(runs)

        def label(run: Run) -> str:
            if not keys:
                return "all"
            return " ".join(f"{k}={run.overrides[k]}" for k in keys if k in run.overrides) or "(defaults)"

    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(label(run), []).append(run)
    return [
        Group(name, sorted(rs, key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))) for name, rs in groups.items()
    ]


def find_group(groups: list[Group], label: str) -> Group:
    for group in groups:
        if group.label == label:
            return group
    matches = [g for g in groups if label in g.label.split(" ")]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(repr(g.label) for g in groups)
    raise UserError(f"--baseline {label!r}: no such group (groups: {names})")


@dataclass
class Stat:
    values: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else math.nan


def stat(runs: list[Run], key: str) -> Stat:
    """``key`` of each run: one of ``Run.final()``'s numbers, else ``Run.value`` (summary.json, metrics.jsonl)."""
    values = []
    for run in runs:
        final = run.final()
        value: Any = final[key] if key in final else run.value(key)
        if isinstance(value, bool | int | float) and not (isinstance(value, float) and math.isnan(value)):
            values.append(float(value))
    return Stat(values)


def paired_deltas(group: Group, baseline: Group, key: str) -> dict[int | None, float]:
    """Per seed that both groups completed: the group's ``key`` minus the baseline's."""
    mine, base = group.by_seed(), baseline.by_seed()
    out = {}
    for seed in sorted((s for s in mine if s in base), key=lambda s: (s is None, s or 0)):
        a, b = stat([mine[seed]], key).values, stat([base[seed]], key).values
        if a and b:
            out[seed] = a[0] - b[0]
    return out
