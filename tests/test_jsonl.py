"""``metrics.jsonl`` has several writers (the trainer's log records and evaluations, and the gatherer of evaluation
jobs in another process): lines appended at the same time by several processes stay whole."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from rlvr.jsonl import append_record

RECORDS, PROCESSES = 40, 4


def _writer(path: str, who: int) -> None:
    for i in range(RECORDS):  # 50 kB records. A regression guard: unlocked appends did not tear on a local disk
        append_record(path, {"who": who, "i": i, "pad": str(who) * 50_000})


def test_concurrent_appends_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    procs = [mp.get_context("spawn").Process(target=_writer, args=(str(path), w)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # a torn or interleaved line would not parse
    assert len(records) == RECORDS * PROCESSES
    assert all(r["pad"] == str(r["who"]) * 50_000 for r in records)
    for w in range(PROCESSES):
        assert [r["i"] for r in records if r["who"] == w] == list(range(RECORDS))  # each writer's order kept
