"""End-to-end tiny runs of the real CLI on the offline tasks: ``dataset=rush_hour_synth
rewards=rush_hour`` and the arith + Rush Hour mixture with routed rewards and the prompt-length
filter that ``rlvr.train.build`` applies once the tokenizer is loaded."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from rlvr.data.loading import load_datasets
from rlvr.data.prompts import prompt_lengths
from rlvr.tiny_model import build_tokenizer
from tests.helpers.cli import FAST, run_cli
from tests.helpers.config import typed_cfg

# The presets' Rush Hour rules make ~600-token prompts for the character-level tiny model (max
# 256 positions): the runs use a one-line system prompt, few prompts and short completions.
RULES = "'Slide car A to the right edge. Reply like <answer>B^1,A>2</answer>'"
SMALL = [o for o in FAST if not o.startswith("training.per_device_train_batch_size")] + [
    "training.per_device_train_batch_size=8",
    "training.num_generations=4",
    "model.generation_kwargs.max_new_tokens=16",
    "eval.max_samples=8",
]
MIXTURE = [
    "dataset=mixture_arith_rush",
    "dataset.sources.0.weight=48",
    "dataset.sources.1.weight=16",
    f"dataset.sources.1.system_prompt={RULES}",
]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_run_ok(proc, run_dir: Path, rewards: list[str]) -> tuple[dict, list[dict]]:  # noqa: ANN001
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads((run_dir / "summary.json").read_text())
    metrics = [m for m in read_jsonl(run_dir / "metrics.jsonl") if "reward" in m]
    assert summary["steps"] == 2 and [m["step"] for m in metrics] == [1, 2]
    for name in rewards:
        assert all(f"rewards/{name}/mean" in m for m in metrics), (name, sorted(metrics[0]))
    return summary, metrics


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """One torch thread in the CLI runs: on a busy 2-core machine two threads spin-wait on each
    other (measured: greedy decoding 10 s with two threads, 0.15 s with one)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.slow
def test_rush_hour_synth_run(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *SMALL,
        "dataset=rush_hour_synth",
        "rewards=rush_hour",
        "dataset.generator_kwargs.n_train=32",
        "dataset.eval_size=8",
        f"dataset.system_prompt={RULES}",
        f"hydra.run.dir={run_dir}",
    ]
    summary, metrics = assert_run_ok(run_cli(overrides, cache_dir), run_dir, ["rush_hour_exact", "rush_hour_shaped"])
    assert summary["dataset"] == "rush_hour_synth" and summary["eval_after"]["n"] == 8
    assert set(summary["eval_after"]["per_group"]) <= {"4", "5", "6"}  # grouped by board size
    assert all(0.0 <= m["rewards/rush_hour_shaped/mean"] <= 1.0 for m in metrics)


def _length_cut() -> int:
    """A max_prompt_length that drops the longest Rush Hour prompts of the mixture and keeps the rest."""
    train, _ = load_datasets(typed_cfg([*MIXTURE, "dataset.eval_size=8"]).dataset, seed=0)
    lengths = [n for n, t in zip(prompt_lengths(train, build_tokenizer()), train["task"], strict=True) if t != "math"]
    cut = int(statistics.median(lengths))
    assert min(lengths) <= cut < max(lengths)
    return cut


@pytest.mark.slow
def test_arith_rush_mixture_run(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *SMALL,
        *MIXTURE,
        "rewards=mixture",
        "dataset.eval_size=8",
        f"dataset.max_prompt_length={_length_cut()}",
        f"hydra.run.dir={run_dir}",
    ]
    summary, metrics = assert_run_ok(
        run_cli(overrides, cache_dir), run_dir, ["accuracy", "rush_hour_exact", "crossword"]
    )
    log = (run_dir / "train.log").read_text()
    assert "train rows per task {'math': 48, 'rush_hour': 16}" in log
    assert "rows with prompts longer than dataset.max_prompt_length" in log
    assert set(summary["eval_before"]["per_group"]) <= {"math", "rush_hour"}  # grouped by task
