"""Run directories on disk: where they are, what state each is in, and what each recorded.

A run directory is one that holds ``.hydra/config.yaml`` (every ``exp/grpo_train.py`` run writes it first). It may
be given directly, found under a multirun folder (local ``multirun/<exp>/<time>/<job>/`` or the SLURM launcher's,
whose ``.submitit/`` logs are skipped) or matched by a glob. Its status:

* ``complete``: ``summary.json`` is there (written last, after the final evaluation and ``model/``);
* ``preempted``: ``preempted.json`` is there: stopped at a checkpoint, waiting to be resumed;
* ``running``: neither, and some file in it changed within the last ``stale_minutes``;
* ``stopped``: neither, and nothing changed since: crashed, killed, or out of time without a checkpoint request.

``metrics.jsonl`` is read with resumes folded in: a run resumed from checkpoint-N logs steps after N again, and the
records of the abandoned attempt from step N on are dropped, so every step appears once, from the attempt that
the run continued.
"""

from __future__ import annotations

import glob
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlvr.errors import UserError

STATUSES = ("complete", "preempted", "running", "stopped")


@dataclass
class Run:
    path: Path
    status: str
    overrides: dict[str, str]  # the run's command-line overrides (``.hydra/overrides.yaml``), key -> value text
    config: dict[str, Any]  # the composed config, flattened to dotted keys
    summary: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl, resumes folded in

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed")
        return int(seed) if seed is not None else None

    @property
    def train_records(self) -> list[dict[str, Any]]:
        return [r for r in self.records if "loss" in r]

    def value(self, key: str) -> Any:
        """``key`` from ``summary.json`` (dotted keys reach into nested values), else its last value in
        ``metrics.jsonl``; ``KEY@mean`` is the mean of every value ``metrics.jsonl`` logged for KEY. None when the
        run recorded none."""
        if key.endswith("@mean"):
            name = key.removesuffix("@mean")
            values = [r[name] for r in self.records if isinstance(r.get(name), int | float)]
            return sum(values) / len(values) if values else None
        node: Any = self.summary
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, dict | list):
            return node
        for record in reversed(self.records):
            if record.get(key) is not None:
                return record[key]
        return None

    def final(self) -> dict[str, Any]:
        """The numbers every table shows. A run without a summary reports what it logged so far: its last
        periodic held-out accuracy (``eval/accuracy``) and token count."""
        s = self.summary or {}
        before = s.get("accuracy_before")
        if before is None:
            before = _eval_before(self.path)
        after = s.get("accuracy_after") if self.summary else self.value("eval/accuracy")
        train = self.train_records
        return {
            "accuracy_before": before,
            "accuracy_after": after,
            "gain": None if before is None or after is None else after - before,
            "steps": s.get("steps", train[-1]["step"] if train else 0),
            "generated_tokens": s.get("generated_tokens", self.value("generated_tokens")),
            "wall_seconds": s.get("wall_seconds", _wall_so_far(self.records)),
        }


def _eval_before(path: Path) -> float | None:
    record = path / "eval_before.json"
    if record.exists():
        return json.loads(record.read_text()).get("accuracy")
    return None


def _wall_so_far(records: list[dict[str, Any]]) -> float | None:
    times = [r["time"] for r in records if "time" in r]
    return round(times[-1] - times[0], 1) if len(times) > 1 else None


def fold_resumes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records in order with each step once: a training record (one with ``loss``) whose step is not past the last
    training step seen starts a resumed attempt, and the earlier attempt's records from that step on are dropped.
    Records without ``loss`` (evaluations, results gathered later from SLURM jobs) never start one."""
    kept: list[dict[str, Any]] = []
    last_train = -1
    for record in records:
        step = int(record.get("step", 0))
        if "loss" in record and step <= last_train:
            kept = [r for r in kept if int(r.get("step", 0)) < step]
        if "loss" in record:
            last_train = step
        kept.append(record)
    return kept


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """``metrics.jsonl`` of a run dir, resumes folded in; a last line still being written is left out."""
    file = path / "metrics.jsonl"
    if not file.exists():
        return []
    records = []
    for line in file.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a writer that is still running (or was killed mid-line)
    return fold_resumes(records)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """``key=value`` override strings to a dict (``+key``/``++key``/``~key`` keep their prefix off the key)."""
    out = {}
    for line in lines:
        key, _, value = line.partition("=")
        out[key.lstrip("+~")] = value
    return out


def last_change(path: Path) -> float:
    """Newest modification time of the run dir's files (checkpoints one level down included). A file that a
    running trainer deletes meanwhile (an old checkpoint rotated out) is skipped."""
    newest = path.stat().st_mtime
    for child in path.iterdir():
        try:
            newest = max(newest, child.stat().st_mtime)
            if child.is_dir() and child.name.startswith("checkpoint-"):
                newest = max([newest, *(f.stat().st_mtime for f in child.iterdir())])
        except OSError:
            continue
    return newest


def load_run(path: Path, stale_minutes: float = 30.0, now: float | None = None) -> Run:
    hydra = path / ".hydra"
    config = flatten(yaml.safe_load((hydra / "config.yaml").read_text()) or {})
    overrides_file = hydra / "overrides.yaml"
    overrides = parse_overrides(yaml.safe_load(overrides_file.read_text()) or []) if overrides_file.exists() else {}
    summary_file = path / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    if summary is not None:
        status = "complete"
    elif (path / "preempted.json").exists():
        status = "preempted"
    elif (now if now is not None else time.time()) - last_change(path) < 60 * stale_minutes:
        status = "running"
    else:
        status = "stopped"
    return Run(path, status, overrides, config, summary, read_metrics(path))


def is_run_dir(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file() and path.name != ".hydra"


def find_run_dirs(path: Path) -> list[Path]:
    """``path`` itself if it is a run dir, else every run dir below it (``.submitit`` and checkpoints skipped)."""
    if is_run_dir(path):
        return [path]
    found = []
    for config in sorted(path.rglob(".hydra/config.yaml")):
        run = config.parent.parent
        if ".submitit" in run.parts or any(p.startswith("checkpoint-") for p in run.relative_to(path).parts):
            continue
        found.append(run)
    return found


def find_runs(patterns: list[str], stale_minutes: float = 30.0) -> list[Run]:
    """Every run under the given run dirs, multirun dirs or globs, each once, in path order."""
    dirs: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches or not any(Path(m).exists() for m in matches):
            raise UserError(f"{pattern}: no such run directory, multirun directory or glob match")
        for match in matches:
            for run_dir in find_run_dirs(Path(match)):
                dirs[run_dir.resolve()] = None
    if not dirs:
        raise UserError(f"no run directory (one with .hydra/config.yaml) under {' '.join(patterns)}")
    now = time.time()
    return [load_run(d, stale_minutes, now) for d in dirs]
