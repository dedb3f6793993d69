"""The held-out evaluation is a collective: under ``accelerate launch`` every rank evaluates its shard (before,
every N steps and after training) and all ranks agree on the result, which equals a one-process evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import FAST, ROOT, cli_env, run_cli

EVAL = [*FAST, "training.max_steps=2", "training.save_strategy=no", "eval.max_samples=15", "eval.every_steps=1"]


def eval_rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "eval/accuracy" in r]


@pytest.mark.slow
@pytest.mark.multiproc
def test_two_ranks_evaluate_shards_and_match_one_process(tmp_path: Path, cache_dir: Path) -> None:
    one = tmp_path / "one"
    proc = run_cli([*EVAL, f"hydra.run.dir={one}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    two = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "conf/accelerate/ddp.yaml"),
        "--num_processes",
        "2",
        "--main_process_port",
        "29531",
        str(ROOT / "exp/grpo_train.py"),
        *EVAL,
        "training.per_device_train_batch_size=8",
        f"hydra.run.dir={two}",
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=cli_env(cache_dir, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    single, double = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    # 15 rows over 2 ranks (8 + 7, the short shard padded): every row counted once
    assert double["eval_before"]["n"] == 15 and double["eval_after"]["n"] == 15
    assert double["eval_before"]["ranks"] == double["eval_after"]["ranks"] == 2 and single["eval_after"]["ranks"] == 1
    # the "before" policy is the same warm-started model in both runs: same greedy answers, same accuracy
    assert double["eval_before"]["accuracy"] == single["eval_before"]["accuracy"]
    assert double["eval_before"]["per_group"] == single["eval_before"]["per_group"]
    assert [r["step"] for r in eval_rows(two)] == [1, 2] and all(r["eval/n"] == 15 for r in eval_rows(two))
