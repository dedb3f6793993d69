"""The replay mixin on real tiny GRPO runs: replayed groups reach generation, statistics flow
back, the buffer is saved in every checkpoint and restored exactly on resume, and two
processes keep identical buffers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rlvr.replay.buffer import ReplayBuffer
from tests.helpers.cli import FAST, ROOT, cli_env, run_cli

REPLAY = [
    "replay=ucb",
    "replay.min_size=2",
    "replay.ratio=0.5",
    "training.per_device_train_batch_size=32",  # 4 groups of 8: two fresh, two replayed once warm
    "training.max_steps=4",
    "training.save_steps=2",
    "eval.enabled=false",
]


def metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "loss" in r]  # one row per optimizer step


def test_replay_run_mixes_groups_and_resumes_with_the_same_buffer(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    first = run_cli([*FAST, *REPLAY, f"hydra.run.dir={run_dir}"], cache_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    rows = metrics(run_dir)
    assert all("replay/buffer_size" in r for r in rows)
    assert rows[0]["replay/ratio"] == 0.0  # the buffer starts empty: the first batch is all fresh
    replayed = [r for r in rows if r["replay/ratio"] > 0]
    if rows[0]["replay/admissions"] >= 2:  # enough informative prompts after step 1 to start replaying
        assert replayed and all(r["replay/ratio"] == 0.5 for r in replayed)
        assert all("replay/reward_replay" in r for r in replayed)
    for step in (2, 4):
        ckpt = run_dir / f"checkpoint-{step}"
        saved = json.loads((ckpt / "rlvr_state.json").read_text())["replay"]["digest"]
        assert ReplayBuffer.load(ckpt / "replay_buffer.pkl").digest() == saved
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["replay"]["size"] == rows[-1]["replay/buffer_size"]

    # Resume from checkpoint-4 and train two more steps: the restored buffer is the saved one.
    saved4 = json.loads((run_dir / "checkpoint-4/rlvr_state.json").read_text())["replay"]["digest"]
    second = run_cli(
        [*FAST, *REPLAY, "training.max_steps=6", "training.resume_from_checkpoint=auto", f"hydra.run.dir={run_dir}"],
        cache_dir,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    restored = re.search(r"restored replay buffer \((\d+) prompts, digest (\w+)\)", second.stdout + second.stderr)
    assert restored and restored.group(2) == saved4
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 6
    assert [r["step"] for r in metrics(run_dir)][-2:] == [5, 6]


@pytest.mark.multiproc
def test_two_processes_keep_identical_buffers(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    # build the tiny model once before two ranks race for it
    assert (
        run_cli(
            [*FAST, "training.max_steps=1", "eval.enabled=false", f"hydra.run.dir={tmp_path / 'warm'}"], cache_dir
        ).returncode
        == 0
    )
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "conf/accelerate/ddp.yaml"),  # DDP; gloo on a machine without GPUs
        "--num_processes",
        "2",
        "--main_process_port",
        "29517",
        str(ROOT / "exp/grpo_train.py"),
        *FAST,
        *REPLAY,
        "training.per_device_train_batch_size=8",  # 2 ranks x 1 group each: replay swaps one of them
        f"hydra.run.dir={run_dir}",
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=cli_env(cache_dir, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    # summary_extra gathers every rank's digest and raises if they differ
    assert summary["replay"]["ranks_agree"] == 2 and summary["steps"] == 4
    assert os.path.exists(run_dir / "checkpoint-4/replay_buffer.pkl")


def test_replay_with_gradient_accumulation_and_multiple_iterations(tmp_path: Path, cache_dir: Path) -> None:
    # steps_per_generation = gradient_accumulation_steps = 2 and num_iterations = 2: one generation
    # batch (2 x 16 completions = 4 groups) feeds 2 x 2 micro-steps, so 4 optimizer steps = 1 generation.
    run_dir = tmp_path / "run"
    overrides = [
        *FAST,
        *REPLAY,
        "training.per_device_train_batch_size=16",
        "training.gradient_accumulation_steps=2",
        "training.num_iterations=2",
        "training.max_steps=4",
        f"hydra.run.dir={run_dir}",
    ]
    proc = run_cli(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    # generation happens at steps 1 and 3 only (every steps_per_generation * num_iterations / GA = 2 steps)
    assert sum("replay/buffer_size" in r for r in rows) == 2


def test_easy_pool_follows_its_schedule(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *FAST,
        *REPLAY,
        "replay.ratio=0.0",
        "replay.easy.enabled=true",
        "replay.easy.p_schedule=[[0,1.0],[2,0.0]]",
        "training.max_steps=3",
        f"hydra.run.dir={run_dir}",
    ]
    proc = run_cli(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = metrics(run_dir)
    # generation for optimizer step s happens at global_step s - 1: p = 1, 1, then 0
    assert [r["replay/easy_ratio"] for r in rows] == [1.0, 1.0, 0.0]
    assert "replay/reward_easy" in rows[0] and "replay/reward_fresh" not in rows[0]
    assert rows[1]["replay/buffer_size"] == 0  # EASY groups are never admitted to the buffer
