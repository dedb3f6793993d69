"""The replay mixin on real tiny GRPO runs: replayed groups reach generation, statistics flow
back, the buffer is saved in every checkpoint and restored exactly on resume (with the run's
changed ``replay.*`` settings applied), success and failure are judged on the correctness
reward, and two processes keep identical buffers."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch as th

from rlvr.replay.buffer import ReplayBuffer
from rlvr.replay.keys import prompt_key
from rlvr.run import build
from tests.helpers.cli import FAST, run_accelerate, run_cli
from tests.helpers.config import compose_cfg

REPLAY = [
    "replay=ucb",
    "replay.min_size=2",
    "replay.ratio=0.5",
    "training.per_device_train_batch_size=32",  # 4 groups of 8: two fresh, two replayed once warm
    "training.max_steps=4",
    "training.save_steps=2",
    "eval.enabled=false",
]


def metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "loss" in r]  # one row per optimizer step


def test_replay_run_mixes_groups_and_resumes_with_the_same_buffer(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    first = run_cli([*FAST, *REPLAY, f"hydra.run.dir={run_dir}"], cache_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    rows = metrics(run_dir)
    assert all("replay/buffer_size" in r for r in rows)
    assert rows[0]["replay/ratio"] == 0.0  # the buffer starts empty: the first batch is all fresh
    replayed = [r for r in rows if r["replay/ratio"] > 0]
    if rows[0]["replay/admissions"] >= 2:  # enough informative prompts after step 1 to start replaying
        assert replayed and all(r["replay/ratio"] == 0.5 for r in replayed)
        assert all("replay/reward_replay" in r for r in replayed)
    for step in (2, 4):
        ckpt = run_dir / f"checkpoint-{step}"
        saved = json.loads((ckpt / "rlvr_state.json").read_text())["replay"]["digest"]
        assert ReplayBuffer.load(ckpt / "replay_buffer.pkl").digest() == saved
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["replay"]["size"] == rows[-1]["replay/buffer_size"]

    # Resume from checkpoint-4 and train two more steps: the restored buffer is the saved one.
    saved4 = json.loads((run_dir / "checkpoint-4/rlvr_state.json").read_text())["replay"]["digest"]
    second = run_cli(
        [*FAST, *REPLAY, "training.max_steps=6", "training.resume_from_checkpoint=auto", f"hydra.run.dir={run_dir}"],
        cache_dir,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    restored = re.search(r"restored replay buffer \((\d+) prompts, digest (\w+)\)", second.stdout + second.stderr)
    assert restored and restored.group(2) == saved4
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 6
    assert [r["step"] for r in metrics(run_dir)][-2:] == [5, 6]


@pytest.mark.multiproc
def test_two_processes_keep_identical_buffers(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    # build the tiny model once before two ranks race for it
    assert (
        run_cli(
            [*FAST, "training.max_steps=1", "eval.enabled=false", f"hydra.run.dir={tmp_path / 'warm'}"], cache_dir
        ).returncode
        == 0
    )
    proc = run_accelerate(
        [
            *FAST,
            *REPLAY,
            "training.per_device_train_batch_size=8",  # 2 ranks x 1 group each: replay swaps one of them
            # skipping and refill too: every rank must make the same skip draws and run the same refill rounds
            "replay.skip.enabled=true",
            "replay.refill.enabled=true",
            "dataset.generator_kwargs.n_train=8",
            f"hydra.run.dir={run_dir}",
        ],
        cache_dir,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    # summary_extra gathers every rank's digest (buffer and prompt statistics) and raises if they differ
    assert summary["replay"]["ranks_agree"] == 2 and summary["steps"] == 4
    assert os.path.exists(run_dir / "checkpoint-4/replay_buffer.pkl")
    assert summary["replay"]["prompts"]["seen"] > 0
    rows = metrics(run_dir)
    assert all("replay/refill_rounds" in r and "replay/skipped" in r for r in rows)


def test_replay_with_gradient_accumulation_and_multiple_iterations(tmp_path: Path, cache_dir: Path) -> None:
    # steps_per_generation = gradient_accumulation_steps = 2 and num_iterations = 2: one generation
    # batch (2 x 16 completions = 4 groups) feeds 2 x 2 micro-steps, so 4 optimizer steps = 1 generation.
    run_dir = tmp_path / "run"
    overrides = [
        *FAST,
        *REPLAY,
        "training.per_device_train_batch_size=16",
        "training.gradient_accumulation_steps=2",
        "training.num_iterations=2",
        "training.max_steps=4",
        "replay.refill.enabled=true",  # a refilled generation batch is split over the micro-steps like any other
        "replay.skip.enabled=true",
        f"hydra.run.dir={run_dir}",
    ]
    proc = run_cli(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = metrics(run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    # generation happens at steps 1 and 3 only (every steps_per_generation * num_iterations / GA = 2 steps)
    assert sum("replay/buffer_size" in r for r in rows) == 2
    assert sum("replay/refill_rounds" in r for r in rows) == 2


def test_easy_pool_follows_its_schedule(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [
        *FAST,
        *REPLAY,
        "replay.ratio=0.0",
        "replay.easy.enabled=true",
        "replay.easy.p_schedule=[[0,1.0],[2,0.0]]",
        "training.max_steps=3",
        f"hydra.run.dir={run_dir}",
    ]
    proc = run_cli(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = metrics(run_dir)
    # generation for optimizer step s happens at global_step s - 1: p = 1, 1, then 0
    assert [r["replay/easy_ratio"] for r in rows] == [1.0, 1.0, 0.0]
    assert "replay/reward_easy" in rows[0] and "replay/reward_fresh" not in rows[0]
    assert rows[1]["replay/buffer_size"] == 0  # EASY groups are never admitted to the buffer


# -- the feedback path and resume, in process on the real trainer ---------------------------------------------------
# No generation here: the scored per-function rewards of a generation batch are constructed and fed through the
# mixin's feedback path (replay_feedback, what after_scoring calls).
IN_PROCESS = [o for o in FAST if not o.startswith(("training.max_steps", "training.save_steps"))] + [
    "training.save_strategy=no",
    "eval.enabled=false",
    "replay=ucb",
]


def built_trainer(overrides: list[str], run_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("RLVR_CACHE_DIR", str(cache_dir))
    return build(compose_cfg([*IN_PROCESS, *overrides]), run_dir).trainer


def prompt_rows(trainer, n: int, start: int = 0) -> list[dict]:  # noqa: ANN001
    return [dict(trainer.train_dataset[i]) for i in range(start, start + n)]


def feed(trainer, rows: list[dict], origins: list[str], per_func: list[list[list[float]]]) -> None:  # noqa: ANN001
    """One scored generation batch: ``per_func[g]`` is group g's rewards, one list per reward function."""
    k = trainer.num_generations
    cols = [th.tensor([funcs[f] for funcs in per_func], dtype=th.float32) for f in range(len(per_func[0]))]
    trainer.scored_rewards = th.stack([c.reshape(-1) for c in cols], dim=1)  # (groups * k, n_funcs)
    assert trainer.scored_rewards.shape == (len(rows) * k, len(trainer.reward_funcs))
    trainer.replay_pending = {"keys": [prompt_key(r["prompt"]) for r in rows], "origins": origins, "rows": rows}
    trainer.replay_feedback()


def test_success_and_failure_are_judged_on_the_correctness_reward(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rewards=math_format: accuracy (the correctness reward) + think_format + tag_count (shaping)
    trainer = built_trainer(["rewards=math_format", "replay.retire_after=2"], tmp_path, cache_dir, monkeypatch)
    assert [f.__name__ for f in trainer.reward_funcs] == ["accuracy", "think_format", "tag_count"]
    assert trainer.correctness_columns() == [0]
    trainer.reward_weights = th.tensor([0.5, 0.2, 0.2])  # a correct answer alone scores 0.5 < success_threshold
    k = trainer.num_generations
    alt = [float(i % 2) for i in range(k)]  # 1, 0, 1, 0, ...
    ones, zeros = [1.0] * k, [0.0] * k
    wrong, half, flat = prompt_rows(trainer, 3)
    feed(
        trainer,
        [wrong, half, flat],
        ["fresh"] * 3,
        [
            [zeros, alt, ones],  # all wrong, some well formatted: shaped 0.4 / 0.2, varies
            [alt, ones, ones],  # half solved: shaped 0.9 / 0.4
            [zeros, ones, ones],  # all wrong, all formatted: shaped 0.4 throughout
        ],
    )
    buf = trainer.replay_buffer
    assert prompt_key(wrong["prompt"]) not in buf  # formatting alone is not informative
    assert prompt_key(flat["prompt"]) not in buf
    entry = buf.entry(prompt_key(half["prompt"]))
    assert entry is not None and entry["successes"] == k // 2  # solved although the shaped reward is 0.9 < 1
    assert entry["learnability"] == pytest.approx(float(th.tensor([0.9, 0.4] * (k // 2)).var(unbiased=False)))

    # replayed twice, all wrong but variously formatted: all failed twice in a row -> retired (retire_after=2)
    for _ in range(2):
        feed(trainer, [half], ["replay"], [[zeros, alt, ones]])
    assert prompt_key(half["prompt"]) not in buf and buf.retirements == 1

    # admit=success: an all-correct group whose shaped reward stays below 1 is solved, and admitted
    trainer.replay_cfg.admit = "success"
    (solved,) = prompt_rows(trainer, 1, start=3)
    feed(trainer, [solved], ["fresh"], [[ones, alt, ones]])  # shaped 0.9 / 0.7
    assert buf.entry(prompt_key(solved["prompt"]))["successes"] == k


def test_resume_applies_the_runs_changed_replay_settings(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = built_trainer(["replay.retire_after=0"], tmp_path / "a", cache_dir, monkeypatch)
    k = first.num_generations
    alt, ones, zeros = [float(i % 2) for i in range(k)], [1.0] * k, [0.0] * k
    rows = prompt_rows(first, 4)
    feed(first, rows, ["fresh"] * 4, [[alt], [alt], [alt], [[1.0] + [0.0] * (k - 1)]])  # 4 informative
    for _ in range(3):  # the 4th prompt: all failed three pulls in a row (no retirement at retire_after=0)
        feed(first, rows[3:], ["replay"], [[zeros]])
    feed(first, rows[2:3], ["replay"], [[ones]])  # the 3rd: one all-solved pull
    assert len(first.replay_buffer) == 4
    folder = tmp_path / "checkpoint-9"
    folder.mkdir()
    first.save_extra(folder)
    saved_digest = first.replay_buffer.digest()

    changed = [
        "replay.capacity=3",
        "replay.sampling=proportional",
        "replay.ucb_c=0.7",
        "replay.temperature=0.5",
        "replay.retire_after=3",
        "replay.success_threshold=0.5",
    ]
    second = built_trainer(changed, tmp_path / "b", cache_dir, monkeypatch)
    second.load_extra(folder)
    buf = second.replay_buffer
    assert second.replay_saved_digest == saved_digest
    assert (buf.capacity, buf.sampling, buf.ucb_c, buf.temperature) == (3, "proportional", 0.7, 0.5)
    assert (buf.retire_after, buf.success_threshold) == (3, 0.5)
    keys = [prompt_key(r["prompt"]) for r in rows]
    # retire_after=3: the prompt failed three pulls in a row retires at once; capacity 3 then holds the rest
    assert keys[3] not in buf and buf.retirements == 1
    assert set(buf.keys()) == set(keys[:3]) and buf.evictions == 0
    second.replay_buffer.reconfigure(capacity=2)  # shrinking below the size evicts the lowest priority
    assert keys[2] not in buf and len(buf) == 2 and buf.evictions == 1  # the all-solved pull lowered its variance
    assert second.replay_buffer.sample(2) and buf.sampling == "proportional"


def test_unchanged_replay_settings_leave_the_restored_buffer_as_saved(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = built_trainer([], tmp_path, cache_dir, monkeypatch)
    k = trainer.num_generations
    feed(trainer, prompt_rows(trainer, 2), ["fresh"] * 2, [[[float(i % 2) for i in range(k)]]] * 2)
    digest = trainer.replay_buffer.digest()
    assert trainer.apply_replay_config() == {} and trainer.replay_buffer.digest() == digest
