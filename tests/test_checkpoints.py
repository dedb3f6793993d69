"""Crash-safe checkpoints: a checkpoint counts only once its completion marker is written (last, after every
extension's files), ``resume_from_checkpoint=auto`` skips incomplete folders, and pruning
(``save_total_limit``) never deletes the newest complete checkpoint. The end-to-end test SIGKILLs a real run
while it writes a checkpoint and resumes it."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from loguru import logger

from rlvr.checkpoints import (
    COMPLETE_FILE,
    damage,
    find_last_checkpoint,
    is_complete,
    mark_complete,
    resolve_resume,
    rotate_checkpoints,
)
from rlvr.cli_runner import run_script
from rlvr.errors import UserError
from rlvr.replay.buffer import ReplayBuffer
from tests.helpers.cli import FAST, cli_env


def make_checkpoint(run_dir: Path, step: int, complete: bool) -> Path:
    folder = run_dir / f"checkpoint-{step}"
    (folder / "sub").mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")  # what transformers writes before the extensions' files
    (folder / "sub" / "shard.bin").write_bytes(b"x")
    if complete:
        mark_complete(folder, step)
    return folder


# -- the marker and the choice of checkpoint: fast ----------------------------------------------------------------
def test_auto_resume_needs_the_completion_marker(tmp_path: Path) -> None:
    make_checkpoint(tmp_path, 2, complete=True)
    ten = make_checkpoint(tmp_path, 10, complete=True)
    make_checkpoint(tmp_path, 12, complete=False)  # trainer_state.json alone: killed while writing
    assert find_last_checkpoint(tmp_path) == ten
    assert resolve_resume("auto", tmp_path) == str(ten)
    marker = json.loads((ten / COMPLETE_FILE).read_text())
    files = ["sub/shard.bin", "trainer_state.json"]
    assert marker == {"step": 10, "files": files, "sizes": {"sub/shard.bin": 1, "trainer_state.json": 2}}

    (ten / "sub" / "shard.bin").unlink()  # a listed file is gone: no longer complete
    assert not is_complete(ten) and find_last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    (tmp_path / "checkpoint-2" / COMPLETE_FILE).write_text(json.dumps({"step": 4, "files": []}))  # wrong step
    assert find_last_checkpoint(tmp_path) is None
    # the newest marked checkpoint is damaged and nothing else is resumable: one line, never a silent fresh start
    with pytest.raises(
        UserError,
        match="no complete checkpoint is left in .* the newest is damaged \\(checkpoint-10: sub/shard.bin is missing",
    ):
        resolve_resume("auto", tmp_path)


def test_a_truncated_file_in_the_newest_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    """``model.safetensors`` cut short after the marker was written (a copy interrupted, a full disk): the marker's
    recorded sizes tell, ``auto`` resumes from the previous complete checkpoint with a warning naming the damaged
    one, and naming the damaged one explicitly is one line."""
    previous = make_checkpoint(tmp_path, 2, complete=True)
    newest = make_checkpoint(tmp_path, 4, complete=False)
    (newest / "model.safetensors").write_bytes(b"\0" * 4096)
    mark_complete(newest, 4)
    assert find_last_checkpoint(tmp_path) == newest
    with (newest / "model.safetensors").open("r+b") as f:
        f.truncate(1000)
    assert damage(newest) == "model.safetensors has 1000 bytes, 4096 when the checkpoint was written"
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    try:
        assert resolve_resume("auto", tmp_path) == str(previous)
    finally:
        logger.remove(sink)
    assert any(
        "ignoring damaged checkpoint" in w and "checkpoint-4" in w and "model.safetensors" in w for w in warnings
    )
    with pytest.raises(UserError, match="checkpoint-4 is damaged \\(model.safetensors has 1000 bytes"):
        resolve_resume(str(newest), tmp_path)


def test_rotation_counts_complete_checkpoints_and_keeps_the_newest(tmp_path: Path) -> None:
    old = [make_checkpoint(tmp_path, s, complete=True) for s in (2, 4)]
    leftover = make_checkpoint(tmp_path, 6, complete=False)  # a crash leftover below the current step
    current = make_checkpoint(tmp_path, 8, complete=True)
    future = make_checkpoint(tmp_path, 12, complete=False)  # not ours to judge: left alone
    deleted = rotate_checkpoints(tmp_path, 2, current)
    assert deleted == [old[0], leftover]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-12", "checkpoint-4", "checkpoint-8"]
    assert future.exists() and current.exists()
    assert rotate_checkpoints(tmp_path, None, current) == [] and old[1].exists()
    assert rotate_checkpoints(tmp_path, 1, current, protect=[str(old[1])]) == []  # the best checkpoint stays
    assert rotate_checkpoints(tmp_path, 1, current) == [old[1]]


def test_rotation_never_deletes_the_checkpoint_just_written(tmp_path: Path) -> None:
    # Resumed from an earlier checkpoint: the folder just written has a lower step than a stale one.
    stale = make_checkpoint(tmp_path, 6, complete=True)
    current = make_checkpoint(tmp_path, 4, complete=True)
    assert rotate_checkpoints(tmp_path, 1, current) == [stale] and current.exists()


# -- a real run killed while writing a checkpoint ------------------------------------------------------------------
KILL_AT = 4
# Injected into the training subprocess through PYTHONPATH (Python imports ``sitecustomize`` at start-up): the
# process SIGKILLs itself as the extensions' state of checkpoint-KILL_AT is about to be written, i.e. after
# transformers wrote the model, optimizer and trainer_state.json. No test hook in production code.
SITECUSTOMIZE = f"""
import os, signal
from pathlib import Path
import rlvr.trainers.base as base

_save_extra = base.RLVRTrainer.save_extra

def save_extra(self, folder):
    if Path(folder).name == "checkpoint-{KILL_AT}":
        os.kill(os.getpid(), signal.SIGKILL)
    return _save_extra(self, folder)

base.RLVRTrainer.save_extra = save_extra
"""

RUN = [
    *FAST,
    "replay=ucb",
    "replay.min_size=2",
    "training.save_steps=2",
    "training.save_total_limit=1",
    "eval.enabled=false",
]


def output(proc, run_dir: Path) -> str:  # noqa: ANN001
    """What a run printed, then the run directory's log (the console may show less than the log keeps)."""
    log = run_dir / "train.log"
    return proc.stdout + proc.stderr + (log.read_text() if log.exists() else "")


def train_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "loss" in r]


@pytest.mark.slow
def test_a_run_killed_while_checkpointing_resumes_from_the_last_complete_checkpoint(
    tmp_path: Path, cache_dir: Path
) -> None:
    run_dir, hook = tmp_path / "run", tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    pythonpath = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    killed = run_script(
        [*RUN, "training.max_steps=6", f"hydra.run.dir={run_dir}"],
        env=cli_env(cache_dir, PYTHONPATH=pythonpath),
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-3000:] + killed.stderr[-3000:]

    # checkpoint-4 has transformers' files but not the extensions' ones; the complete checkpoint-2 survived pruning
    prev, torn = run_dir / "checkpoint-2", run_dir / f"checkpoint-{KILL_AT}"
    assert prev.exists(), "the newest complete checkpoint was pruned before the next one was complete"
    assert (torn / "trainer_state.json").exists() and not (torn / "replay_buffer.pkl").exists()
    assert not is_complete(torn)
    assert is_complete(prev) and find_last_checkpoint(run_dir) == prev
    marker = json.loads((prev / COMPLETE_FILE).read_text())
    assert {"trainer_state.json", "rlvr_state.json", "replay_buffer.pkl"} <= set(marker["files"])
    saved = json.loads((prev / "rlvr_state.json").read_text())
    assert ReplayBuffer.load(prev / "replay_buffer.pkl").digest() == saved["replay"]["digest"]
    tokens_at = {r["step"]: r["generated_tokens"] for r in train_rows(run_dir)}
    assert saved["generated_tokens"] == tokens_at[2] > 0

    resumed = run_script(
        [*RUN, "training.max_steps=6", "training.resume_from_checkpoint=auto", f"hydra.run.dir={run_dir}"],
        env=cli_env(cache_dir),
        timeout=600,
    )
    out = output(resumed, run_dir)
    assert resumed.returncode == 0, out[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == str(prev) and summary["steps"] == 6
    assert f"ignoring incomplete checkpoints (no {COMPLETE_FILE})" in out and f"checkpoint-{KILL_AT}" in out
    restored = re.search(r"restored replay buffer \((\d+) prompts, digest (\w+)\)", out)
    assert restored and restored.group(2) == saved["replay"]["digest"]
    assert "rlvr_state.json not found" not in out and "replay_buffer.pkl not found" not in out

    # generated_tokens continue from checkpoint-2's count: step 3 adds exactly its own completions' tokens
    rows = train_rows(run_dir)
    after = rows[-4:]
    assert [r["step"] for r in after] == [3, 4, 5, 6]
    completions = 16  # training.per_device_train_batch_size in FAST, one process
    expected = saved["generated_tokens"]
    for r in after:
        expected += round(r["completions/mean_length"] * completions)
        assert r["generated_tokens"] == expected
    assert summary["generated_tokens"] == expected

    # pruning kept exactly the newest complete checkpoint
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-6"]
    assert is_complete(run_dir / "checkpoint-6")

    # resumed again with a changed replay setting: the run's value wins over the pickled buffer's
    again = run_script(
        [*RUN, "training.max_steps=8", "replay.capacity=1", "training.resume_from_checkpoint=auto"]
        + [f"hydra.run.dir={run_dir}"],
        env=cli_env(cache_dir),
        timeout=600,
    )
    out = output(again, run_dir)
    assert again.returncode == 0, out[-3000:]
    assert "replay.capacity: the checkpoint's buffer had 4096, this run sets 1: applied" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == str(run_dir / "checkpoint-6") and summary["steps"] == 8
    assert summary["replay"]["capacity"] == 1 and summary["replay"]["size"] <= 1
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-8"]
