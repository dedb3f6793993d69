"""End-to-end runs of the real CLI (`exp/grpo_train.py`) with the tiny offline model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rlvr.tiny_model import TinyModelSpec, build_model, build_tokenizer
from tests.helpers.cli import FAST, run_cli


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_ok(proc) -> None:  # noqa: ANN001
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_default_run_writes_a_self_describing_run_dir(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [o for o in FAST if o != "print_config=false"]
    proc = run_cli([*overrides, "exp_name=e2e", "seed=3", "eval.every_steps=2", f"hydra.run.dir={run_dir}"], cache_dir)
    assert_ok(proc)
    assert "learning_rate:" in proc.stdout  # the resolved config is printed
    composed = yaml.safe_load((run_dir / ".hydra/config.yaml").read_text())
    assert composed["exp_name"] == "e2e" and composed["seed"] == 3
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    train_rows = [m for m in metrics if "reward" in m]
    assert [m["step"] for m in train_rows] == [1, 2]  # one line per logging step
    assert all(0.0 <= m["reward"] <= 1.0 and m["generated_tokens"] > 0 for m in train_rows)
    periodic = [m for m in metrics if "eval/accuracy" in m]
    assert [(m["step"], m["eval/n"]) for m in periodic] == [(2, 16)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["seed"] == 3
    assert 0.0 <= summary["accuracy_before"] <= 1.0 and 0.0 <= summary["accuracy_after"] <= 1.0
    assert summary["eval_after"]["n"] == 16
    assert summary["generated_tokens"] == train_rows[-1]["generated_tokens"]
    assert summary["wall_seconds"] > 0 and summary["git_commit"]
    assert (run_dir / "model/config.json").exists() and (run_dir / "model/tokenizer.json").exists()
    assert (run_dir / "checkpoint-2/rlvr_state.json").exists()
    log = (run_dir / "train.log").read_text()
    assert "held-out greedy accuracy after" in log


def test_resume_auto_continues_from_the_last_checkpoint(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    assert_ok(run_cli([*FAST, f"hydra.run.dir={run_dir}", "eval.enabled=false"], cache_dir))
    first = json.loads((run_dir / "summary.json").read_text())
    proc = run_cli(
        [
            *FAST,
            f"hydra.run.dir={run_dir}",
            "eval.enabled=false",
            "training.max_steps=4",
            "training.resume_from_checkpoint=auto",
        ],
        cache_dir,
    )
    assert_ok(proc)
    second = json.loads((run_dir / "summary.json").read_text())
    assert second["resumed_from"] == str(run_dir / "checkpoint-2")
    assert second["steps"] == 4
    # the generated-token counter is restored from the checkpoint, not restarted
    assert second["generated_tokens"] > first["generated_tokens"]
    steps = [m["step"] for m in read_jsonl(run_dir / "metrics.jsonl") if "reward" in m]
    assert steps == [1, 2, 3, 4]


def test_local_multirun_sweeps_overrides(tmp_path: Path, cache_dir: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        [
            "-m",
            *FAST,
            "training.max_steps=1",
            "eval.enabled=false",
            "training.learning_rate=5e-5,1e-4",
            f"hydra.sweep.dir={sweep}",
        ],
        cache_dir,
    )
    assert_ok(proc)
    lrs = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        assert json.loads((job / "summary.json").read_text())["steps"] == 1
        lrs.append(yaml.safe_load((job / ".hydra/config.yaml").read_text())["training"]["learning_rate"])
    assert sorted(lrs) == [5e-5, 1e-4]


@pytest.fixture(scope="module")
def local_hub_copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model saved with save_pretrained and a DeepScaleR-shaped parquet file, as if downloaded."""
    root = tmp_path_factory.mktemp("hub")
    tok = build_tokenizer()
    model = build_model(TinyModelSpec(), tok)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    rows = [
        {"problem": f"{a}+{b}", "answer": str(a + b), "solution": f"... so \\boxed{{{a + b}}}"}
        for a in range(10, 40)
        for b in range(10, 12)
    ]
    pd.DataFrame(rows).to_parquet(root / "deepscaler.parquet")
    return root / "model", root / "deepscaler.parquet"


def test_hub_model_and_dataset_presets_load_local_copies(
    tmp_path: Path, cache_dir: Path, local_hub_copies: tuple[Path, Path]
) -> None:
    model_dir, data = local_hub_copies
    run_dir = tmp_path / "run"
    proc = run_cli(
        [
            *FAST,
            "model=qwen3_0.6b",
            f"model.name_or_path={model_dir}",
            "model.model_kwargs.dtype=float32",
            "model.generation_kwargs.max_new_tokens=6",
            "dataset=deepscaler",
            f"dataset.path={data}",
            "training.max_steps=1",
            f"hydra.run.dir={run_dir}",
        ],
        cache_dir,
    )
    assert_ok(proc)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == str(model_dir) and summary["steps"] == 1
    assert summary["eval_after"]["n"] == 12  # eval carved out of the train split: 60 rows // 5


BAD_INPUTS = [
    (["dataset=deepscaler", "dataset.path=/nonexistent/data.parquet"], "dataset.path"),
    (["dataset=deepscaler", "dataset.path={data}", "dataset.answer_column=final"], "dataset.answer_column"),
    (["model=qwen3_0.6b", "model.name_or_path=/nonexistent/model"], "model.name_or_path"),
    (["rewards.funcs.0.name=no_such_reward"], "unknown reward 'no_such_reward'"),
    (["replay=ucb", "replay.ratio=2.0"], "replay.ratio"),
    (["training.maxent_tau=0.5"], "training.maxent_tau was moved: use objective.tau"),
    (["training.kl_target=0.05"], "training.kl_target was moved: use objective.kl_ctl.target"),
    (["training=maxent"], "training=maxent was replaced: use objective=maxent"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_gives_one_clear_line_and_nonzero_exit(
    overrides: list[str], message: str, tmp_path: Path, cache_dir: Path, local_hub_copies: tuple[Path, Path]
) -> None:
    data = local_hub_copies[1]
    run_dir = tmp_path / "run"
    proc = run_cli([*FAST, *[o.format(data=data) for o in overrides], f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 2
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and message in errors[0], output[-2000:]
    assert "Traceback" not in output


def test_unknown_key_fails_before_anything_runs(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_cli(["training.learning_rte=1e-4", f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode != 0
    assert "learning_rte" in proc.stderr and "Traceback" not in proc.stderr
    assert not (run_dir / "summary.json").exists()
