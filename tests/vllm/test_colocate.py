"""``training.use_vllm=true training.vllm_mode=colocate`` through the real CLI, on vLLM's CPU build.

One run (a vLLM start costs about a minute on 2 cores) exercises every extension that touches vLLM's rollouts,
and each test below checks one of them in that run's outputs: ``<vllm env>/bin/python exp/grpo_train.py ...``
as a user would, TRL builds an in-process ``vllm.LLM`` on the tiny model, generates every batch with it, and after
each optimizer step pushes the trainer's weights into it (``model.load_weights``).

- weight sync: a learning rate large enough to move the policy in one step;
- ``replay=ucb``: buffered prompts mixed into vLLM's generation batches from step 2;
- ``objective=maxent``: its loss on vLLM's completions, its sampling temperature set on vLLM;
- a reasoning vocabulary (a copy of every token) with ``{`` / ``}`` as the thinking tags, so most tokens the tiny
  model writes (``\\boxed``) are outside thinking: vLLM samples under ``ThinkingMaskVLLM``;
- ``exp/evaluate.py eval.backend=vllm`` on the trained model against the transformers backend.

The env is built by ``.ci/vllm_env.sh``; without it these tests skip. vLLM's CPU build repacks linear weights so
that they cannot be reloaded; ``tests/vllm/cpu_site`` (on PYTHONPATH) keeps them plain, as on CUDA (docs/vllm.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.cli import FAST
from tests.helpers.vllm_env import VLLM_OVERRIDES, run_train
from tests.vllm.test_evaluate import VLLM, evaluate

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

STEPS = 3
COLOCATE = [*FAST, f"training.max_steps={STEPS}", *VLLM_OVERRIDES, "training.vllm_mode=colocate"]
# Length-shaped rewards give the barely trained tiny model's groups reward variance, so there is a
# gradient (and replay has informative groups to admit) from the first step.
SHAPED = ["rewards=math_length"]
# A learning rate large enough to move the policy in one step: vLLM's sampling log-probs then match the trainer's
# (measured: mean |diff| ~0.006 per token at every step) only if the weights were pushed; with stale weights in
# vLLM the difference is 0.36 at step 2 and grows (same seed, measured by hand).
MOVING = ["training.learning_rate=1e-3"]
REPLAY = ["replay=ucb", "replay.min_size=2"]
VOCAB = ["model.reasoning_vocab.size=-1", "model.reasoning_vocab.init=all"]
VOCAB += ["model.reasoning_vocab.think_open='{'", "model.reasoning_vocab.think_close='}'"]


@dataclass
class ColocateRun:
    run_dir: Path
    summary: dict
    steps: list[dict]
    hf_eval: dict
    vllm_eval: dict


@pytest.fixture(scope="module")
def colocate(vllm_tiny_model: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ColocateRun:
    """The colocate run with every extension on, then the trained model evaluated by both backends."""
    where = tmp_path_factory.mktemp("colocate")
    run_dir = where / "run"
    proc = run_train(
        [*COLOCATE, *SHAPED, *MOVING, *REPLAY, "objective=maxent", *VOCAB, f"hydra.run.dir={run_dir}"], cache_dir
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in records if "loss" in r]
    hf = evaluate(run_dir / "model", where / "hf", cache_dir, [])
    vl = evaluate(run_dir / "model", where / "vllm", cache_dir, VLLM)
    return ColocateRun(run_dir, summary, steps, hf, vl)


def test_colocate_run_completes_with_vllm_generating(colocate: ColocateRun) -> None:
    summary, steps = colocate.summary, colocate.steps
    assert summary["steps"] == STEPS and [r["step"] for r in steps] == list(range(1, STEPS + 1)), steps
    assert summary["generated_tokens"] == steps[-1]["generated_tokens"] > 0
    assert (colocate.run_dir / "checkpoint-2" / "rlvr_state.json").exists()
    assert (colocate.run_dir / "model" / "config.json").exists()
    # Generation went through vLLM: TRL logs its sampling-correction metrics only on the vLLM path.
    for record in steps:
        for key in ("sampling/sampling_logp_difference/mean", "sampling/importance_sampling_ratio/mean"):
            assert key in record, sorted(record)


def test_colocate_trains_and_syncs_weights(colocate: ColocateRun) -> None:
    """The trainer's weights reach vLLM after every step (see ``MOVING``)."""
    assert any(r["grad_norm"] > 0 for r in colocate.steps), "no gradient: the weight-sync check would prove nothing"
    diffs = [r["sampling/sampling_logp_difference/mean"] for r in colocate.steps]
    assert max(diffs) < 0.05, f"vLLM samples from other weights than the trainer's: {diffs}"


def test_colocate_with_replay(colocate: ColocateRun) -> None:
    """``replay=ucb``: buffered prompts are mixed into vLLM's generation batches from step 2."""
    steps = colocate.steps
    assert "replay" in colocate.summary, sorted(colocate.summary)
    assert steps[0]["replay/buffer_size"] > 0, steps[0]
    assert max(r["replay/ratio"] for r in steps[1:]) > 0, [r.get("replay/ratio") for r in steps]


def test_colocate_with_maxent(colocate: ColocateRun) -> None:
    assert colocate.summary["objectives"]["objective"] == "maxent"
    assert all("maxent/weight_entropy" in r and "maxent/nll" in r for r in colocate.steps), sorted(colocate.steps[0])


def test_colocate_samples_under_the_thinking_mask(colocate: ColocateRun) -> None:
    """No copy outside thinking, though a copy and its source have the same logit (unmasked, about half of them
    would be copies). vLLM's processed log-probs match the trainer's masked log-probs (the weight-sync bound), and
    every sampled token is one the trainer's mask allows."""
    steps = colocate.steps
    outside_tokens = [r["completions/mean_length"] * 16 - r["reasoning_vocab/thinking_tokens"] for r in steps]
    assert min(outside_tokens) > 50, outside_tokens  # the mask had work to do
    assert all(r["reasoning_vocab/outside_count"] == 0 for r in steps), steps
    assert all(r["restriction/labels_outside_mask"] == 0 for r in steps), steps


def test_vllm_evaluation_of_the_trained_model_matches_transformers(colocate: ColocateRun) -> None:
    """``eval.backend=vllm``: the mask there too, and the same greedy answers as transformers ``generate``
    (reasoning tokens read as their sources by both), but for near-ties in the logits (at most 2 of 24)."""
    vl, hf = colocate.vllm_eval["metrics"], colocate.hf_eval["metrics"]
    assert abs(vl["greedy"] - hf["greedy"]) <= 2 / 24 + 1e-9, (vl, hf)
    # the 3-step model solves few problems (0 of 24 by both, measured), so the accuracy alone says little: the
    # greedy completions' lengths must agree too (7.04 vs 7.21 tokens measured)
    assert abs(vl["greedy_mean_tokens"] - hf["greedy_mean_tokens"]) <= 1.0, (vl, hf)
