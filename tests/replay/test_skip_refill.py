"""Pre-rollout skipping and dynamic-sampling refill on the real trainer: the skip rule swaps prompts before
generation, refill generates further groups until the batch is informative, every generated token is counted
(and only those), the state lands in every checkpoint and a resumed run continues from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlvr.replay.keys import prompt_key
from rlvr.replay.skip import PromptStats
from tests.helpers.cli import FAST, run_cli
from tests.replay.test_mixin import built_trainer, feed, metrics, prompt_rows


def group_batch(rows: list[dict], k: int) -> list[dict]:
    return [dict(r) for r in rows for _ in range(k)]


def test_skip_rule_swaps_uniform_prompts_for_pool_prompts(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = built_trainer(
        ["replay=skip", "replay.skip.explore_solved=0.0", "dataset.generator_kwargs.n_train=40"],
        tmp_path,
        cache_dir,
        monkeypatch,
    )
    k = trainer.num_generations
    solved, mixed, fresh = prompt_rows(trainer, 3)
    feed(trainer, [solved, mixed], ["fresh"] * 2, [[[1.0] * k], [[float(i % 2) for i in range(k)]]])
    assert trainer.prompt_stats.keep_probability(prompt_key(solved["prompt"])) == 0.0
    out = trainer.replay_mix(group_batch([solved, mixed, fresh], k))
    keys = [prompt_key(out[g * k]["prompt"]) for g in range(3)]
    assert keys[0] != prompt_key(solved["prompt"])  # skipped before generation
    assert keys[1:] == [prompt_key(mixed["prompt"]), prompt_key(fresh["prompt"])]  # informative / unseen: kept
    assert all(prompt_key(r["prompt"]) == keys[g // k] for g, r in enumerate(out))  # whole groups
    assert out[0]["answer"] == next(  # the replacement row travels whole (its answer with its prompt)
        r["answer"] for r in trainer.replay_pool.rows if prompt_key(r["prompt"]) == keys[0]
    )
    assert trainer.metric_values("replay/skipped") == [1.0] and trainer.prompt_stats.skipped_total == 1
    assert trainer.replay_pending["origins"] == ["fresh"] * 3

    # fill=replay: the slot gets a buffer sample instead (the mixed prompt was admitted as informative)
    trainer.replay_cfg.skip.fill = "replay"
    out = trainer.replay_mix(group_batch([solved, fresh], k))
    assert trainer.replay_pending["origins"] == ["replay", "fresh"]
    assert prompt_key(out[0]["prompt"]) == prompt_key(mixed["prompt"])


def test_explore_one_never_skips(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = built_trainer(
        ["replay=skip", "replay.skip.explore_solved=1.0", "replay.skip.explore_failed=1.0"],
        tmp_path,
        cache_dir,
        monkeypatch,
    )
    k = trainer.num_generations
    rows = prompt_rows(trainer, 2)
    for _ in range(3):
        feed(trainer, rows, ["fresh"] * 2, [[[1.0] * k], [[0.0] * k]])
    out = trainer.replay_mix(group_batch(rows, k))
    assert [prompt_key(out[g * k]["prompt"]) for g in range(2)] == [prompt_key(r["prompt"]) for r in rows]
    assert trainer.metric_values("replay/skipped") == [0.0]


SKIP_REFILL = [
    *FAST,
    "replay=skip",
    "replay.skip.explore_solved=0.0",  # a prompt with one uniform pull is always skipped (but the last draw)
    "replay.skip.explore_failed=0.0",
    "replay.refill.enabled=true",
    "replay.refill.max_rounds=2",
    "dataset.generator_kwargs.n_train=6",  # a small pool: prompts come back within the run
    "training.per_device_train_batch_size=16",  # 2 groups of 8 per step
    "training.max_steps=4",
    "training.save_steps=2",
    "eval.enabled=false",
]


@pytest.mark.slow
def test_skip_and_refill_count_every_generated_token_and_resume(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    first = run_cli([*SKIP_REFILL, f"hydra.run.dir={run_dir}"], cache_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    rows = metrics(run_dir)
    assert sum(r["replay/skipped"] for r in rows) > 0  # a 6-prompt pool repeats uniform prompts within 4 steps
    tokens = 0
    for r in rows:
        rounds = r["replay/refill_rounds"]
        # TRL logs the mean completion length of each generation round; the step's mean over rounds times the
        # rows of all rounds is every token generated, refill rounds included and skipped prompts excluded
        assert r["generated_tokens"] - tokens == round(16 * (1 + rounds) * r["completions/mean_length"])
        assert r["replay/refill_dropped"] == 2 * rounds
        tokens = r["generated_tokens"]
        # the trained batch keeps informative groups first: never more zero-variance groups than generation saw
        assert r["replay/trained_frac_zero_std"] <= r["frac_reward_zero_std"] + 1e-6
    assert any(r["replay/refill_rounds"] > 0 for r in rows)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["generated_tokens"] == tokens
    assert summary["replay"]["prompts"]["seen"] <= 6 and summary["replay"]["prompts"]["skipped_total"] > 0
    state = json.loads((run_dir / "checkpoint-4/rlvr_state.json").read_text())["replay"]
    assert PromptStats(1, 1).digest() != state["stats_digest"]
    saved = PromptStats(1, 1)
    saved.load(run_dir / "checkpoint-4/replay_prompt_stats.pkl")
    assert saved.digest() == state["stats_digest"]  # the file is the state the checkpoint records
    assert (run_dir / "checkpoint-2/replay_prompt_stats.pkl").exists()
    assert state["pool"]["size"] == 6

    second = run_cli(
        [*SKIP_REFILL, "training.max_steps=6", "training.resume_from_checkpoint=auto", f"hydra.run.dir={run_dir}"],
        cache_dir,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    restored = re.search(r"restored prompt statistics \((\d+) prompts, digest (\w+)\)", second.stdout + second.stderr)
    assert restored and restored.group(2) == state["stats_digest"]
    rows = metrics(run_dir)
    assert [r["step"] for r in rows][-2:] == [5, 6] and rows[-1]["generated_tokens"] > tokens
