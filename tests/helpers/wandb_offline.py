"""Read back what wandb wrote for an offline run: the records of its ``run-<id>.wandb`` file.

wandb 0.31 has no Python reader for its transaction log (its Go core writes and syncs it), so this is one: the file
is a 7-byte header (``:W&B``, a magic number, a version) then LevelDB's log format (32 KiB blocks of records, each a
7-byte header: crc32c, length, type; a record split across blocks as FIRST/MIDDLE/LAST), and every record is a
``wandb.proto.wandb_internal_pb2.Record``, parsed with wandb's own protobuf schema.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
HEADER = 7  # crc32c (4), length (2), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[pb.Record]:
    """Every record of a ``.wandb`` file, in order (checksums not checked)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a wandb transaction log"
    pos, pending = 7, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + HEADER])
        chunk, pos = data[pos + HEADER : pos + HEADER + length], pos + HEADER + length
        if kind == 0:  # zero-filled padding
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def run_record(run_folder: Path) -> pb.RunRecord:
    """The run record (name, group, job type, ...) of an offline run folder (``.../wandb/offline-run-*``)."""
    (log,) = run_folder.glob("run-*.wandb")
    return next(r.run for r in records(log) if r.WhichOneof("record_type") == "run")
