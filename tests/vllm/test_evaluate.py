"""``exp/evaluate.py eval.backend=vllm`` on vLLM's CPU build: the same report as the transformers backend, from
vLLM's offline ``LLM``, and greedy answers that agree with transformers ``generate`` on the same model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers.vllm_env import ENV_DIR, ROOT, subprocess_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

COMMON = ["eval.max_samples=24", "eval.n_samples=4", "eval.k_values=[1,4]", "print_config=none"]
VLLM = ["eval.backend=vllm", "training.vllm_gpu_memory_utilization=0.2", "training.vllm_max_model_length=128"]


def evaluate(model: Path, out: Path, cache_dir: Path, extra: list[str]) -> dict:
    cmd = [str(ENV_DIR / "bin" / "python"), str(ROOT / "exp" / "evaluate.py"), f"model.name_or_path={model}"]
    cmd += [*COMMON, *extra, f"output_dir={out}"]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=subprocess_env(cache_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return json.loads((out / "eval.json").read_text())


def test_vllm_backend_matches_transformers(vllm_tiny_model: Path, cache_dir: Path, tmp_path: Path) -> None:
    hf = evaluate(vllm_tiny_model, tmp_path / "hf", cache_dir, [])
    vl = evaluate(vllm_tiny_model, tmp_path / "vllm", cache_dir, VLLM)
    assert vl["n_problems"] == hf["n_problems"] == 24 and vl["n_samples"] == 4
    m, h = vl["metrics"], hf["metrics"]
    for key in ("greedy", "pass@1", "pass@4", "maj@4", "sample_truncation_rate"):
        assert 0.0 <= m[key] <= 1.0, (key, m)
    assert m["pass@4"] >= m["pass@1"] and m["sample_mean_tokens"] > 0
    # Greedy decoding of the same weights: the same answers but for near-ties in the logits (at most 2 of 24).
    assert abs(m["greedy"] - h["greedy"]) <= 2 / 24 + 1e-9, (m["greedy"], h["greedy"])
    assert abs(m["greedy_mean_tokens"] - h["greedy_mean_tokens"]) <= 1.0, (m, h)
