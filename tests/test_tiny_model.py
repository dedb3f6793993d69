"""rlvr.tiny_model: the warm start of the offline model says one line on the console and keeps its whole probe
curve with the model."""

from __future__ import annotations

import json
from pathlib import Path

from loguru import logger

from rlvr.config import TinyModelSpec
from rlvr.tiny_model import ensure_tiny_model


def test_the_warm_start_logs_one_line_and_keeps_every_probe(tmp_path: Path) -> None:
    spec = TinyModelSpec(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        warmup_steps=12,
        warmup_batch_size=8,
        warmup_eval_every=4,
        warmup_target_accuracy=0.99,  # not reached in 12 steps: every probe runs
    )
    lines: list[str] = []
    sink = logger.add(lines.append, level="INFO", format="{message}")
    try:
        path = ensure_tiny_model(spec, tmp_path)
    finally:
        logger.remove(sink)
    warm = [line for line in lines if line.startswith("tiny warm start")]
    assert len(warm) == 1 and "at step 12" in warm[0] and "target 0.99" in warm[0], lines
    info = json.loads((Path(path) / "rlvr_tiny.json").read_text())
    assert [step for step, _, _ in info["probe_curve"]] == [4, 8, 12]
    assert all(0.0 <= acc <= 1.0 and loss > 0 for _, loss, acc in info["probe_curve"])
    assert info["probe_accuracy"] == info["probe_curve"][-1][2]
