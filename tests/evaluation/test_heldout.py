"""The held-out evaluation is a collective: under ``accelerate launch`` every rank evaluates its shard (before,
every N steps and after training) and all ranks agree on the result, which equals a one-process evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import FAST, run_accelerate, run_cli

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
    proc = run_accelerate(
        [
            *EVAL,
            "training.per_device_train_batch_size=8",
            f"hydra.run.dir={two}",
        ],
        cache_dir,
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


@pytest.mark.slow
def test_inline_eval_on_save_logs_each_saved_checkpoint(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [*FAST, "training.max_steps=2", "training.save_steps=1", "callbacks.eval_on_save=inline"]
    proc = run_cli([*overrides, "eval.max_samples=6", f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = [r for r in eval_rows(run_dir) if "checkpoint" in r]
    assert [(r["step"], r["checkpoint"], r["eval/n"]) for r in saved] == [
        (1, "checkpoint-1", 6),
        (2, "checkpoint-2", 6),
    ]
    for row in saved:
        assert json.loads((run_dir / row["checkpoint"] / "eval.json").read_text())["accuracy"] == row["eval/accuracy"]


@pytest.mark.slow
def test_train_on_one_dataset_evaluate_on_another(tmp_path: Path, cache_dir: Path) -> None:
    """``eval.dataset=math500`` while training on arith: the held-out evaluation uses MATH-500's preset (here on a
    local copy of its columns, written by the test: nothing can be downloaded), its split and its group column."""
    data = tmp_path / "math500.jsonl"
    rows = [{"problem": f"{i}+{i + 1}", "answer": str(2 * i + 1), "level": f"L{i % 3}"} for i in range(30)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_dir = tmp_path / "run"
    overrides = [*FAST, "training.max_steps=1", "eval.before=false", "eval.max_samples=null"]
    overrides += ["eval.dataset=math500", f"eval.dataset_overrides={{path:{data},eval_size:6}}"]
    proc = run_cli([*overrides, f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["dataset"], summary["eval_dataset"]) == ("arith", "math500")
    after = summary["eval_after"]
    assert after["n"] == 6 and set(after["per_group"]) <= {"L0", "L1", "L2"}  # MATH-500's `level`, not arith's


def test_eval_dataset_errors_name_the_key(cache_dir: Path) -> None:
    from rlvr.errors import UserError
    from tests.helpers.config import typed_cfg

    proc = run_cli(["eval.dataset=math5000"], cache_dir)
    assert proc.returncode == 2 and "eval.dataset: no preset 'math5000' in conf/dataset" in proc.stderr + proc.stdout
    with pytest.raises(UserError, match="eval.dataset_overrides: Key 'eval_sz'"):
        typed_cfg(["eval.dataset=math500", "eval.dataset_overrides={eval_sz:3}"])
    with pytest.raises(UserError, match="eval.dataset_overrides needs eval.dataset"):
        typed_cfg(["eval.dataset_overrides={eval_size:3}"])
