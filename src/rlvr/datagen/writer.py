"""The resumable output: one JSON line per finished prompt, appended and flushed at once, and parquet at the end.

:func:`read_done` reads what an earlier (possibly killed) run wrote and drops a torn last line, so a rerun appends
after the last complete row and skips the prompts already there: no duplicates, no gaps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loguru import logger


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The complete rows of a JSONL file (a torn or malformed line is skipped)."""
    rows = []
    if not path.exists():
        return rows
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def read_done(path: Path) -> set[str]:
    """Ids of the rows already written; truncates a torn last line (a run killed mid-write) first."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning(f"{path}: dropping a torn last line ({len(data) - end} bytes) left by an interrupted run")
        with path.open("r+b") as f:
            f.truncate(end)
    done = set()
    for row in read_rows(path):
        if "id" in row:
            done.add(str(row["id"]))
    return done


class RowWriter:
    """Appends one row per line and flushes (and fsyncs) it, so a killed run loses at most the rows in flight."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._f = path.open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_parquet(jsonl: Path, parquet: Path) -> Path:
    """Convert the finished JSONL to parquet (rows sorted by their dataset index)."""
    import pandas as pd

    rows = sorted(read_rows(jsonl), key=lambda r: (r.get("split", ""), r.get("index", 0)))
    tmp = parquet.with_name(parquet.name + ".tmp")
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    tmp.replace(parquet)
    return parquet


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a generate output (.jsonl or .parquet)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pandas as pd

        def plain(value: Any) -> Any:  # numpy arrays (parquet lists) back to lists
            if hasattr(value, "tolist"):
                return plain(value.tolist())
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return [plain(r) for r in pd.read_parquet(path).to_dict(orient="records")]
    return read_rows(path)
