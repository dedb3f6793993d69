"""A smoke run of every lab preset (``experiment=lab_*``, docs/lab.md): it composes, builds its tiny model, trains,
evaluates and logs the two kinds of uniform group that the lab's criteria are read from. The lab's
figures come from ``exp/bench_replay.py --regime lab``, not from tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import CONF_DIR, FAST, run_cli

LAB_PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("lab_*.yaml"))


def test_there_is_a_lab() -> None:
    assert LAB_PRESETS, "no conf/experiment/lab_*.yaml"


@pytest.mark.parametrize("preset", LAB_PRESETS)
def test_a_lab_preset_trains_and_logs_solved_and_failed_groups_apart(
    preset: str, tmp_path: Path, cache_dir: Path
) -> None:
    run_dir = tmp_path / "run"
    proc = run_cli([f"experiment={preset}", *FAST, "eval.every_steps=2", f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [1, 2]
    for r in train:
        assert r["frac_all_correct"] + r["frac_all_wrong"] == pytest.approx(r["frac_reward_zero_std"]), r
    evals = [r for r in rows if "eval/accuracy" in r]
    assert [r["step"] for r in evals] == [2]  # the gain-vs-tokens curve the benchmark reads
    assert evals[0]["generated_tokens"] == train[-1]["generated_tokens"] > 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["exp_name"] == preset
