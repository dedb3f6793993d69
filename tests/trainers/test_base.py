"""The trainer seams: the private TRL methods and the TRL attributes rlvr relies on still exist (a TRL upgrade that
renames one fails here, naming it), mixins extend the trainer only through the base's public hooks, and ``trainer_class``
assembles the right mixins for a config."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch as th
import trl
from transformers import Trainer

from rlvr.objectives.mixin import ObjectivesMixin
from rlvr.replay.mixin import ReplayMixin
from rlvr.rewards import build_reward
from rlvr.run import build
from rlvr.trainers.assembled import GRPOTrainer, ReplayGRPOTrainer, trainer_class
from rlvr.trainers.base import CALLED_PRIVATE, OVERRIDDEN_PRIVATE, TRL_ATTRIBUTES, RLVRTrainer
from tests.helpers.cli import FAST
from tests.helpers.config import typed_cfg

HOOKS = {
    "prepare_generation_batch",
    "after_scoring",
    "complete_generation_batch",
    "policy_loss",
    "on_optimizer_step",
    "before_checkpoint",
    "save_extra",
    "load_extra",
    "state_dict_extra",
    "load_state_dict_extra",
    "summary_extra",
}


@pytest.mark.parametrize("name", sorted({**OVERRIDDEN_PRIVATE, **CALLED_PRIVATE}))
def test_trl_still_has_the_private_methods_the_base_relies_on(name: str) -> None:
    method = getattr(trl.GRPOTrainer, name, None)
    assert method is not None, (
        f"trl {trl.__version__} has no GRPOTrainer.{name}: rlvr.trainers.base overrides or calls it; "
        "adapt that hook and the trl pin in pyproject.toml"
    )
    wanted = {**OVERRIDDEN_PRIVATE, **CALLED_PRIVATE}[name]
    params = list(inspect.signature(method).parameters)[1:]  # without self
    missing = [p for p in wanted if p not in params]
    assert not missing, f"trl {trl.__version__} GRPOTrainer.{name} lost parameters {missing}: adapt rlvr.trainers.base"


def test_the_base_overrides_exactly_the_private_methods_it_declares() -> None:
    own_private = {n for n in vars(RLVRTrainer) if n.startswith("_") and not n.startswith("__")}
    assert own_private == set(OVERRIDDEN_PRIVATE)


@pytest.mark.parametrize("mixin", [ObjectivesMixin, ReplayMixin], ids=lambda m: m.__name__)
def test_mixins_use_only_the_base_hooks(mixin: type) -> None:
    for name, value in vars(mixin).items():
        if name.startswith("__") or not callable(value):
            continue
        assert not name.startswith("_"), f"{mixin.__name__}.{name}: mixins define no private methods"
        inherited = hasattr(trl.GRPOTrainer, name) or hasattr(Trainer, name)
        assert not inherited or name in HOOKS, (
            f"{mixin.__name__}.{name} overrides a TRL/transformers method: extend a hook of RLVRTrainer instead"
        )
    for hook in HOOKS:
        assert hasattr(RLVRTrainer, hook)


def test_trainer_class_assembles_the_mixins_the_config_asks_for() -> None:
    assert trainer_class(typed_cfg([])) is GRPOTrainer
    assert trainer_class(typed_cfg(["objective=maxent"])) is GRPOTrainer
    assert trainer_class(typed_cfg(["replay=ucb"])) is ReplayGRPOTrainer
    mro = ReplayGRPOTrainer.__mro__
    assert mro.index(ReplayMixin) < mro.index(ObjectivesMixin) < mro.index(RLVRTrainer) < mro.index(trl.GRPOTrainer)


def test_correctness_rewards_take_each_rows_task_verifier_not_the_shaping() -> None:
    # rewards=mixture + a format reward: accuracy serves math rows, rush_hour_exact rush-hour rows (None elsewhere)
    trainer = object.__new__(RLVRTrainer)  # only the reward bookkeeping is used: no TRL set-up needed
    trainer.reward_funcs = [build_reward(n) for n in ("think_format", "accuracy", "rush_hour_exact", "tag_count")]
    trainer.reward_weights = th.tensor([0.2, 1.0, 1.0, 0.2])
    nan = float("nan")
    trainer.scored_rewards = th.tensor(
        [
            [1.0, 0.0, nan, 1.0],  # math row, wrong but well formatted
            [0.0, 1.0, nan, 0.0],  # math row, right
            [1.0, nan, 1.0, 0.5],  # rush-hour row, solved
            [1.0, nan, nan, 1.0],  # a row no correctness reward serves
        ]
    )
    assert trainer.correctness_columns() == [1, 2]
    got = trainer.correctness_rewards()
    assert got[:3].tolist() == [0.0, 1.0, 1.0] and th.isnan(got[3])
    assert trainer.weighted_rewards().tolist() == pytest.approx([0.4, 1.0, 1.3, 0.4])
    trainer.reward_funcs = [build_reward("think_format")]
    trainer.scored_rewards = th.tensor([[1.0]])
    assert trainer.correctness_columns() == [] and th.isnan(trainer.correctness_rewards()).all()


@pytest.mark.parametrize("name", sorted(TRL_ATTRIBUTES))
def test_trl_still_sets_the_attributes_the_base_reads(name: str) -> None:
    """Each attribute the base's accessors read or write is still assigned where TRL_ATTRIBUTES says; an upgrade
    that renames or moves one fails here, naming it."""
    owner_name, _, method = TRL_ATTRIBUTES[name].partition(".")
    owner = {"GRPOTrainer": trl.GRPOTrainer, "Trainer": Trainer}[owner_name]
    source = inspect.getsource(getattr(owner, method))
    assert re.search(rf"self\.{name}\s*=", source), f"{owner_name}.{method} no longer sets self.{name}"


def test_a_built_trainer_has_the_attributes_and_the_accessors_read_them(tmp_path: Path, cache_dir: Path) -> None:
    """On a real trainer (transformers generate, no vLLM): every TRL attribute set in __init__ for this mode is
    there, and the accessors give TRL's values and write where TRL reads."""
    cfg = typed_cfg([*FAST, "training.save_strategy=no", "eval.enabled=false", "training.beta=0.02"])
    trainer = build(cfg, tmp_path).trainer
    for name, where in TRL_ATTRIBUTES.items():
        if where == "GRPOTrainer.__init__" and name != "vllm_generation":  # vLLM's only exists with use_vllm
            assert hasattr(trainer, name), f"GRPOTrainer no longer sets {name}"
    assert trainer.kl_coef == 0.02 and trainer.group_size(True) == trainer.num_generations
    trainer.kl_coef = 0.05
    assert trainer.beta == 0.05  # what TRL's loss reads
    trainer.apply_sampling_temperature(1.3)
    assert trainer.generation_config.temperature == 1.3 and trainer.generation_kwargs["temperature"] == 1.3
    assert trainer.policy_temperature == cfg.model.generation_kwargs.temperature  # the trained policy's is unchanged
    assert trainer.loss_normaliser(False) == 1.0
    ref, logps = th.tensor([-1.0, -2.0]), th.tensor([-1.5, -2.0])
    assert th.allclose(trainer.kl_per_token(ref, logps), th.exp(ref - logps) - (ref - logps) - 1)
