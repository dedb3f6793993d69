"""The objectives inside the real trainer: config keys, the temperature that generation really samples at, the
KL / entropy controllers across a checkpoint resume, and an end-to-end ``objective=maxent`` CLI run.

The math itself (closed-form weights, controller update rules, schedule) is tested in test_maxent.py,
test_controllers.py and test_temperature.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch as th
from transformers.generation import logits_process

from rlvr.errors import UserError
from rlvr.objectives import EntropyController, KLController, sequence_logps
from rlvr.objectives.mixin import OBJECTIVES, GRPOObjective, MaxEntObjective, objective_class, register_objective
from rlvr.run import build, run
from rlvr.trainers.args import grpo_args
from tests.helpers.cli import FAST, run_cli
from tests.helpers.config import compose_cfg, typed_cfg

# Small steps for in-process runs: 2 prompts x 8 generations, no checkpoints unless a test asks.
TINY = [o for o in FAST if not o.startswith(("training.max_steps", "training.save_steps"))] + [
    "training.save_strategy=no",
    "eval.enabled=false",
]
KL_CTL = [
    "training.beta=0.05",
    "objective.kl_ctl.target=0.001",
    "objective.kl_ctl.horizon=10",
    "objective.kl_ctl.step_size=0.2",
]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_rows(run_dir: Path) -> dict[int, dict]:
    return {m["step"]: m for m in read_jsonl(run_dir / "metrics.jsonl") if "beta" in m}


# -- config: fast ---------------------------------------------------------------------------------------------------
def test_maxent_option_composes_and_keeps_objective_keys_out_of_grpo_config(tmp_path: Path) -> None:
    cfg = typed_cfg(["objective=maxent"])
    assert cfg.objective.is_maxent and cfg.objective.entropy_ctl.target is not None
    assert cfg.training.learning_rate == typed_cfg([]).training.learning_rate  # the same budget as grpo
    args = grpo_args(cfg, tmp_path, [1.0])
    assert not any(hasattr(args, key) for key in ("tau", "q_temperature", "kl_ctl", "entropy_ctl"))
    assert args.beta == 0.0


def test_cli_examples_of_the_objective_group_compose() -> None:
    assert typed_cfg(["objective=maxent", "objective.tau=0.5"]).objective.tau == 0.5
    cfg = typed_cfg([*KL_CTL[1:], "training.beta=0.04"])
    assert cfg.objective.kl_ctl.enabled and cfg.training.beta == 0.04


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["objective.name=max-ent"], "objective.name must name a registered objective"),
        (
            ["objective=maxent", "objective.q_epsilon=0.2"],
            r"objective.q_epsilon \* training.num_generations must be < 1",
        ),
        (["objective=maxent", "objective.q_temperature=0"], "objective.q_temperature must be > 0"),
        (
            ["objective=maxent", "objective.tau=0", "objective.entropy_ctl.target=null"],
            r"objective.tau \+ training.beta must be > 0",
        ),
        (["objective=maxent", "objective.tau=20"], "objective.tau=20.0 must lie in"),
        (["objective=maxent", "objective.entropy_ctl.target=3"], r"above log\(training.num_generations\)"),
        (["objective=maxent", "objective.entropy_ctl.tau_min=0"], "objective.entropy_ctl.tau_min must be > 0"),
        (KL_CTL[1:], "set training.beta > 0"),
        (["objective.kl_ctl.target=-1"], "objective.kl_ctl.target must be a finite number >= 0"),
        (
            ["objective.temperature_schedule.enabled=true", "objective.temperature_schedule.temp_end=0"],
            "objective.temperature_schedule.temp_end must be a positive number",
        ),
    ],
)
def test_bad_objective_settings_fail_with_one_clear_message(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        typed_cfg(overrides)


def test_an_unknown_objective_fails_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="objective: 'maxnet' is not one of grpo, maxent"):
        build(typed_cfg(["objective.name=maxnet"]), tmp_path)
    assert not any(tmp_path.iterdir())


# -- objectives are strategies chosen by name ------------------------------------------------------------------------
class CountingGRPO(GRPOObjective):
    """A test objective: TRL's loss, plus a metric counting the micro-batches it scored."""

    def policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        self.trainer.log_metric("counting/micro_batches", 1.0)
        return super().policy_loss(model, inputs)


@pytest.fixture
def counting_objective() -> Iterator[type[GRPOObjective]]:
    """``objective.name=counting_grpo`` for one test only."""
    register_objective("counting_grpo")(CountingGRPO)
    try:
        yield CountingGRPO
    finally:
        del OBJECTIVES["counting_grpo"]


def test_objectives_are_registered_by_name() -> None:
    assert objective_class("grpo") is GRPOObjective and objective_class("maxent") is MaxEntObjective
    assert MaxEntObjective.has_tau and not GRPOObjective.has_tau
    with pytest.raises(ValueError, match="already registered"):
        register_objective("grpo")(MaxEntObjective)


@pytest.mark.slow
def test_a_registered_objective_is_the_runs_loss(tmp_path: Path, cache_dir: Path, counting_objective: type) -> None:
    summary = run(compose_cfg([*TINY, "training.max_steps=2", "objective.name=counting_grpo"]), tmp_path / "run")
    assert summary["steps"] == 2 and summary["objectives"]["objective"] == "counting_grpo"
    rows = [r for r in read_jsonl(tmp_path / "run/metrics.jsonl") if "loss" in r]
    assert [r["counting/micro_batches"] for r in rows] == [1.0, 1.0]


# -- rewards -> weights -> loss inside the real trainer --------------------------------------------------------------
@pytest.mark.slow
def test_maxent_weights_follow_the_weighted_rewards_and_the_loss_raises_their_likelihood(
    tmp_path: Path, cache_dir: Path
) -> None:
    t_q, tau = 0.5, 0.8
    cfg = compose_cfg(
        [*TINY, "objective=maxent", f"objective.q_temperature={t_q}", f"objective.tau={tau}"]
        + ["objective.entropy_ctl.target=null"]
    )
    trainer = build(cfg, tmp_path).trainer

    def length_reward(prompts, completions, completion_ids, **kwargs):  # noqa: ANN001, ANN003
        return [len(ids) / 10 for ids in completion_ids]

    trainer.reward_funcs[0] = length_reward  # a graded reward the 20-step tiny model really varies on
    trainer.reward_weights = th.tensor([2.0])  # utilities are the *weighted* rewards
    trainer.model.train()
    k = trainer.num_generations
    rows = [row for row in trainer.train_dataset.select(range(2)) for _ in range(k)]  # two whole groups
    out = trainer._generate_and_score_completions(rows)

    lengths = out["completion_mask"].sum(dim=1).double()  # no truncation masking: one mask entry per token
    u = (2.0 * lengths / 10).reshape(-1, k)
    log_w = out["maxent_weights"].double().log().reshape(-1, k)
    assert th.allclose(out["maxent_weights"].reshape(-1, k).sum(dim=1), th.ones(2))
    # beta = 0: w = softmax(u / (T_q * tau)) within each group, row by row
    expected = th.log_softmax(u / (t_q * tau), dim=1)
    assert th.allclose(log_w, expected, atol=1e-5)
    assert (u.max(dim=1).values > u.min(dim=1).values).any()

    def weighted_loglik() -> float:
        with th.no_grad():
            logps, _, _ = trainer.per_token_logps_and_entropies(
                trainer.model,
                th.cat([out["prompt_ids"], out["completion_ids"]], dim=1),
                th.cat([out["prompt_mask"], out["completion_mask"]], dim=1),
                out["completion_ids"].size(1),
            )
        return float((out["maxent_weights"] * sequence_logps(logps, out["completion_mask"], True)).sum())

    before = weighted_loglik()
    trainer.current_gradient_accumulation_steps = 1
    loss = trainer.policy_loss(trainer.model, out)
    loss.backward()
    with th.no_grad():
        for p in trainer.model.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
    assert weighted_loglik() > before  # a descent step on the loss is an ascent step on sum_i w_i m_i


# -- the temperature generation really samples at (grpo + KL controller) --------------------------------------------
@pytest.mark.slow
def test_temperature_schedule_reaches_generation_each_step(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = {"temp_start": 2.0, "temp_end": 0.5, "anneal_steps": 2, "high_temp_period": 3}
    expected = [2.0, 1.25, 0.5]  # step 0, 1 (linear anneal), 2 (after the anneal, 2 % 3 != 0: temp_end)
    cfg = compose_cfg(
        [
            *TINY,
            *KL_CTL,
            "training.max_steps=3",
            "objective.temperature_schedule.enabled=true",
            *(f"objective.temperature_schedule.{k}={v}" for k, v in schedule.items()),
        ]
    )
    built = build(cfg, tmp_path)
    trainer = built.trainer

    calls: list[dict] = []  # one per generate(): the config it got and the temperatures the sampler applied
    model = trainer.accelerator.unwrap_model(trainer.model)
    generate = model.generate

    def recording_generate(*args, **kwargs):  # noqa: ANN002, ANN003
        calls.append({"config": kwargs["generation_config"].temperature, "applied": set()})
        return generate(*args, **kwargs)

    warp = logits_process.TemperatureLogitsWarper.__call__

    def recording_warp(self, input_ids, scores):  # noqa: ANN001
        calls[-1]["applied"].add(self.temperature)
        return warp(self, input_ids, scores)

    monkeypatch.setattr(model, "generate", recording_generate)
    monkeypatch.setattr(logits_process.TemperatureLogitsWarper, "__call__", recording_warp)
    trainer.train()

    assert [c["config"] for c in calls] == expected
    assert [c["applied"] for c in calls] == [{t} for t in expected]  # the warper really scaled the logits
    assert trainer.temperature == 1.0  # log-probabilities keep model.generation_kwargs.temperature
    rows = train_rows(tmp_path)
    assert [rows[s]["sampling_temperature"] for s in (1, 2, 3)] == expected
    # KL controller with objective=grpo: beta follows the rule on the KL TRL measured at each step
    ctl = KLController(0.05, kl_target=0.001, kl_horizon=10, kl_ctl_step_size=0.2)
    for step in (1, 2, 3):
        assert rows[step]["beta"] == pytest.approx(ctl.update(rows[step]["kl_ctl/kl"]), rel=1e-9)
    assert rows[3]["beta"] != 0.05


# -- controller state across a real checkpoint resume (maxent + both controllers) -----------------------------------
@pytest.mark.slow
def test_controller_state_survives_checkpoint_resume(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    common = [
        *[o for o in TINY if o != "training.save_strategy=no"],
        *KL_CTL,
        "objective=maxent",
        "training.save_steps=2",
        "objective.entropy_ctl.warmup_steps=0",
        "objective.entropy_ctl.lr=0.5",
        "objective.entropy_ctl.target=1.0",
    ]
    run(compose_cfg([*common, "training.max_steps=4"]), run_dir)
    saved = json.loads((run_dir / "checkpoint-4/rlvr_state.json").read_text())["objectives"]
    assert saved["kl_ctl"]["num_updates"] == 4 and saved["entropy_ctl"]["num_updates"] == 4
    assert saved["beta"] != 0.05 and saved["tau"] != 0.5  # both moved
    rows = train_rows(run_dir)
    assert (rows[4]["beta"], rows[4]["maxent/tau"]) == pytest.approx((saved["beta"], saved["tau"]), rel=1e-12)

    summary = run(compose_cfg([*common, "training.max_steps=6", "training.resume_from_checkpoint=auto"]), run_dir)
    assert summary["resumed_from"] == str(run_dir / "checkpoint-4")
    rows = train_rows(run_dir)
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    # step 5 starts from the checkpoint's state: replay the controllers from it on the logged inputs
    kl_ctl = KLController(0.05, kl_target=0.001, kl_horizon=10, kl_ctl_step_size=0.2)
    kl_ctl.load_state_dict(saved["kl_ctl"])
    ent_ctl = EntropyController(0.5, target_entropy=1.0, tau_lr=0.5, tau_min=0.05, tau_max=5.0, ema_decay=0.9)
    ent_ctl.load_state_dict(saved["entropy_ctl"])
    for step in (5, 6):
        assert rows[step]["beta"] == pytest.approx(kl_ctl.update(rows[step]["kl_ctl/kl"]), rel=1e-9)
        tau = ent_ctl.update(rows[step]["maxent/weight_entropy_informative"], step=step - 1)
        assert rows[step]["maxent/tau"] == pytest.approx(tau, rel=1e-9)
        assert rows[step]["maxent/weight_entropy_ema"] == pytest.approx(ent_ctl.ema, rel=1e-9)
    final = json.loads((run_dir / "checkpoint-6/rlvr_state.json").read_text())["objectives"]
    assert final["kl_ctl"]["num_updates"] == 6 and final["entropy_ctl"]["num_updates"] == 6
    assert summary["objectives"]["beta"] == pytest.approx(rows[6]["beta"], rel=1e-12)


# -- the real CLI --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_objective_maxent_logs_weight_entropy_and_controller_state(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_cli(
        [
            *FAST,
            "objective=maxent",
            "objective.tau=0.6",
            "training.max_steps=3",
            "training.save_strategy=no",
            f"hydra.run.dir={run_dir}",
        ],
        cache_dir,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rows = train_rows(run_dir)
    assert sorted(rows) == [1, 2, 3]
    for row in rows.values():
        assert 0.0 <= row["maxent/weight_entropy"] <= math.log(8) + 1e-6
        assert row["beta"] == 0.0 and row["maxent/tau"] > 0 and math.isfinite(row["maxent/nll"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["objectives"]["objective"] == "maxent" and summary["steps"] == 3
    assert 0.0 <= summary["accuracy_before"] <= 1.0 and 0.0 <= summary["accuracy_after"] <= 1.0
