"""The trainer seams: the private TRL methods and the TRL attributes rlvr relies on still exist (a TRL upgrade that
renames one fails here, naming it), mixins extend the trainer only through the base's public hooks, ``trainer_class``
assembles the right mixins for a config, and an extension registered from outside ``rlvr`` joins a real run."""

from __future__ import annotations

import inspect
import json
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch as th
import trl
from transformers import Trainer

from rlvr.config import RootConfig
from rlvr.objectives.mixin import ObjectivesMixin
from rlvr.replay.mixin import ReplayMixin
from rlvr.rewards import build_reward
from rlvr.run import build, prepare, train
from rlvr.trainers.assembled import EXTENSIONS, extension_registered, register_extension, trainer_class
from rlvr.trainers.base import CALLED_PRIVATE, OVERRIDDEN_PRIVATE, TRL_ATTRIBUTES, RLVRTrainer
from rlvr.trainers.extensions import Extension, ExtensionContext
from rlvr.vocab.mixin import ReasoningVocabMixin
from tests.helpers.cli import FAST
from tests.helpers.config import compose_cfg, typed_cfg

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


# -- a test extension, defined here the way a plugin would: one mixin on the base's public hooks + one record ----------
STEP_COUNTER_SEED = 4321  # the test extension is on for runs with this seed


class StepCounterMixin(RLVRTrainer):
    """Counts optimizer steps, logs the count every step, reports it in the summary and writes it next to the
    final model: only public hooks of RLVRTrainer, each calling super()."""

    def __init__(self, *args: Any, train_rows: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.train_rows, self.optimizer_steps = train_rows, 0

    def on_optimizer_step(self) -> None:
        super().on_optimizer_step()
        self.optimizer_steps += 1
        self.log_metric("step_counter/steps", self.optimizer_steps)

    def summary_extra(self) -> dict[str, Any]:
        counts = {"optimizer_steps": self.optimizer_steps, "train_rows": self.train_rows}
        return {**super().summary_extra(), "step_counter": counts}

    def save_model_files(self, folder: Path) -> None:
        super().save_model_files(folder)
        (folder / "step_counter.json").write_text(json.dumps({"optimizer_steps": self.optimizer_steps}))


def step_counter_enabled(cfg: RootConfig) -> bool:
    return cfg.seed == STEP_COUNTER_SEED


def step_counter_kwargs(ctx: ExtensionContext) -> dict[str, Any]:
    return {"train_rows": len(ctx.train_dataset)}


STEP_COUNTER = Extension("step_counter", StepCounterMixin, step_counter_enabled, step_counter_kwargs)


@pytest.fixture
def step_counter() -> Iterator[Extension]:
    """The test extension registered for one test only."""
    with extension_registered(STEP_COUNTER) as extension:
        yield extension
    assert STEP_COUNTER not in EXTENSIONS


@pytest.mark.parametrize(
    "mixin", [ObjectivesMixin, ReplayMixin, ReasoningVocabMixin, StepCounterMixin], ids=lambda m: m.__name__
)
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


VOCAB = ["model.reasoning_vocab.size=8"]


@pytest.mark.parametrize(
    ("overrides", "mixins"),
    [
        ([], [ObjectivesMixin]),
        (["objective=maxent"], [ObjectivesMixin]),
        (["replay=ucb"], [ReplayMixin, ObjectivesMixin]),
        (VOCAB, [ReasoningVocabMixin, ObjectivesMixin]),
        ([*VOCAB, "replay=ucb", "objective=maxent"], [ReasoningVocabMixin, ReplayMixin, ObjectivesMixin]),
    ],
)
def test_trainer_class_assembles_the_mixins_the_config_asks_for(overrides: list[str], mixins: list[type]) -> None:
    cls = trainer_class(typed_cfg(overrides))
    assert cls.__mro__[1 : len(mixins) + 1] == tuple(mixins)
    assert cls.__mro__[len(mixins) + 1 :] == RLVRTrainer.__mro__  # the mixins sit between the class and the base
    assert cls.__bases__ == tuple(mixins)
    assert trainer_class(typed_cfg(overrides)) is cls  # one class object per combination
    assert pickle.loads(pickle.dumps(cls)) is cls  # found again by its name
    names = {ReasoningVocabMixin: "reasoning_vocab", ReplayMixin: "replay", ObjectivesMixin: "objectives"}
    assert cls.__name__ == f"RLVRTrainer[{'+'.join(names[m] for m in mixins)}]"


def test_an_extension_needs_a_new_name_and_its_registration_ends_with_the_block(step_counter: Extension) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_extension(Extension("replay", StepCounterMixin, step_counter_enabled))
    assert EXTENSIONS[-1] is step_counter  # appended: inside the built-ins, just above the objectives
    cls = trainer_class(typed_cfg([f"seed={STEP_COUNTER_SEED}", "replay=ucb"]))
    assert cls.__bases__ == (ReplayMixin, StepCounterMixin, ObjectivesMixin)
    assert cls.__name__ == "RLVRTrainer[replay+step_counter+objectives]"
    assert trainer_class(typed_cfg([])).__bases__ == (ObjectivesMixin,)  # off: its predicate is false


@pytest.mark.slow
def test_a_registered_extension_runs_in_a_real_training(
    tmp_path: Path, cache_dir: Path, step_counter: Extension
) -> None:
    """A 2-step run of the tiny model with the test extension on: its hooks run (one count per optimizer step,
    logged every step), its summary entry and its file next to the final model are written."""
    overrides = [o for o in FAST if not o.startswith("training.save_steps")]
    cfg = compose_cfg([*overrides, "training.save_strategy=no", "eval.enabled=false", f"seed={STEP_COUNTER_SEED}"])
    session = prepare(cfg, tmp_path / "run")
    assert isinstance(session.trainer, StepCounterMixin) and isinstance(session.trainer, ObjectivesMixin)
    assert type(session.trainer).__name__ == "RLVRTrainer[step_counter+objectives]"
    summary = train(session)
    assert summary["steps"] == 2
    assert summary["step_counter"] == {"optimizer_steps": 2, "train_rows": len(session.train_dataset)}
    rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["step_counter/steps"] for r in rows if "step_counter/steps" in r] == [1, 2]
    assert json.loads((tmp_path / "run/model/step_counter.json").read_text()) == {"optimizer_steps": 2}


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
    assert trainer.stop_token_ids == [trainer.processing_class.eos_token_id] and trainer.prompt_template_kwargs == {}
    ref, logps = th.tensor([-1.0, -2.0]), th.tensor([-1.5, -2.0])
    assert th.allclose(trainer.kl_per_token(ref, logps), th.exp(ref - logps) - (ref - logps) - 1)
