"""``training.use_vllm=true training.vllm_mode=colocate`` through the real CLI, on vLLM's CPU build.

Each test runs ``<vllm env>/bin/python exp/grpo_train.py ...`` as a user would: TRL builds an in-process
``vllm.LLM`` on the tiny model, generates every batch with it, and after each optimizer step pushes the
trainer's weights into it (``model.load_weights``). The env is built by ``.ci/vllm_env.sh``; without it
these tests skip. vLLM's CPU build repacks linear weights so that they cannot be reloaded;
``tests/vllm/cpu_site`` (on PYTHONPATH) keeps them plain, as on CUDA (see docs/vllm.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import FAST
from tests.helpers.vllm_env import VLLM_OVERRIDES, run_train

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

STEPS = 3
COLOCATE = [*FAST, f"training.max_steps={STEPS}", *VLLM_OVERRIDES, "training.vllm_mode=colocate"]
# Length-shaped rewards give the barely trained tiny model's groups reward variance, so there is a
# gradient (and replay has informative groups to admit) from the first step.
SHAPED = ["rewards=math_length"]


def train(tmp_path: Path, cache_dir: Path, extra: list[str]) -> tuple[Path, dict, list[dict]]:
    run_dir = tmp_path / "run"
    proc = run_train([*COLOCATE, *extra, f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-6000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in records if "loss" in r]
    assert summary["steps"] == STEPS and [r["step"] for r in steps] == list(range(1, STEPS + 1)), proc.stdout[-3000:]
    assert summary["generated_tokens"] == steps[-1]["generated_tokens"] > 0
    assert (run_dir / "checkpoint-2" / "rlvr_state.json").exists() and (run_dir / "model" / "config.json").exists()
    # Generation went through vLLM: TRL logs its sampling-correction metrics only on the vLLM path.
    for record in steps:
        for key in ("sampling/sampling_logp_difference/mean", "sampling/importance_sampling_ratio/mean"):
            assert key in record, sorted(record)
    return run_dir, summary, steps


def test_colocate_trains_and_syncs_weights(vllm_tiny_model: Path, cache_dir: Path, tmp_path: Path) -> None:
    """Plain GRPO; the trainer's weights reach vLLM after every step. With a learning rate large
    enough to move the policy in one step, vLLM's sampling log-probs match the trainer's
    (measured: mean |diff| ~0.006 per token at every step) only if the weights were pushed; with stale
    weights in vLLM the difference is 0.36 at step 2 and grows (same seed, measured by hand)."""
    _, summary, steps = train(tmp_path, cache_dir, [*SHAPED, "training.learning_rate=1e-3"])
    assert summary["objectives"]["objective"] == "grpo"
    assert any(r["grad_norm"] > 0 for r in steps), "no gradient: the weight-sync check would prove nothing"
    diffs = [r["sampling/sampling_logp_difference/mean"] for r in steps]
    assert max(diffs) < 0.05, f"vLLM samples from other weights than the trainer's: {diffs}"


def test_colocate_with_replay(vllm_tiny_model: Path, cache_dir: Path, tmp_path: Path) -> None:
    """``replay=ucb``: buffered prompts are mixed into vLLM's generation batches from step 2."""
    _, summary, steps = train(tmp_path, cache_dir, [*SHAPED, "replay=ucb", "replay.min_size=2"])
    assert "replay" in summary, sorted(summary)
    assert steps[0]["replay/buffer_size"] > 0, steps[0]
    assert max(r["replay/ratio"] for r in steps[1:]) > 0, [r.get("replay/ratio") for r in steps]


def test_colocate_with_maxent_and_the_thinking_mask(vllm_tiny_model: Path, cache_dir: Path, tmp_path: Path) -> None:
    """One run for two extensions (each vLLM start costs a minute on 2 cores).

    ``objective=maxent``: its loss on vLLM's completions, its sampling temperature set on vLLM.

    A reasoning vocabulary (a copy of every token) with ``{`` / ``}`` as the thinking tags, so most tokens the
    tiny model writes (``\\boxed``) are outside thinking. vLLM samples under ``ThinkingMaskVLLM``: no copy outside
    thinking, though a copy and its source have the same logit (unmasked, about half of them would be copies).
    vLLM's processed log-probs match the trainer's masked log-probs, and every sampled token is one the trainer's
    mask allows. Then ``exp/evaluate.py eval.backend=vllm`` on the trained model: the mask there too, and the same
    greedy answers as transformers ``generate`` (reasoning tokens read as their sources by both)."""
    from tests.vllm.test_evaluate import VLLM, evaluate

    vocab = ["model.reasoning_vocab.size=-1", "model.reasoning_vocab.init=all"]
    vocab += ["model.reasoning_vocab.think_open='{'", "model.reasoning_vocab.think_close='}'"]
    run_dir, summary, steps = train(tmp_path, cache_dir, [*SHAPED, "objective=maxent", *vocab])
    assert summary["objectives"]["objective"] == "maxent"
    assert all("maxent/weight_entropy" in r and "maxent/nll" in r for r in steps), sorted(steps[0])
    outside_tokens = [r["completions/mean_length"] * 16 - r["reasoning_vocab/thinking_tokens"] for r in steps]
    assert min(outside_tokens) > 50, outside_tokens  # the mask had work to do
    assert all(r["reasoning_vocab/outside_count"] == 0 for r in steps), steps
    assert all(r["restriction/labels_outside_mask"] == 0 for r in steps), steps
    diffs = [r["sampling/sampling_logp_difference/mean"] for r in steps]
    assert max(diffs) < 0.05, f"vLLM's log-probs are not the trainer's masked ones: {diffs}"

    hf = evaluate(run_dir / "model", tmp_path / "hf", cache_dir, [])
    vl = evaluate(run_dir / "model", tmp_path / "vllm", cache_dir, VLLM)
    assert abs(vl["metrics"]["greedy"] - hf["metrics"]["greedy"]) <= 2 / 24 + 1e-9, (vl["metrics"], hf["metrics"])
