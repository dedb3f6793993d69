"""The trainer classes a run can get: :class:`RLVRTrainer` with the mixins stacked in their one valid order, and
``trainer_class(cfg)``, the one place that decides which extensions a run's trainer has:

* ``ObjectivesMixin`` (``rlvr.objectives.mixin``) always: the objective (``objective=grpo|maxent``), the KL and
  entropy controllers and the temperature schedule;
* ``ReplayMixin`` (``rlvr.replay.mixin``) when ``replay.enabled``;
* ``ReasoningVocabMixin`` (``rlvr.vocab.mixin``) when ``model.reasoning_vocab.size != 0``.

Mixins use only the hooks of ``RLVRTrainer``; the private TRL overrides live in ``base.py`` alone. This module sits
above the mixins (they import ``rlvr.trainers.base``, never this), so ``rlvr.trainers`` itself imports only the
base and no import runs in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlvr.objectives.mixin import ObjectivesMixin
from rlvr.replay.mixin import ReplayMixin
from rlvr.vocab.mixin import ReasoningVocabMixin

if TYPE_CHECKING:
    from rlvr.config import RootConfig
    from rlvr.trainers.base import RLVRTrainer


class GRPOTrainer(ObjectivesMixin):
    """rlvr's GRPO trainer: the base hooks + objectives (no replay)."""


class ReplayGRPOTrainer(ReplayMixin, ObjectivesMixin):
    """rlvr's GRPO trainer with prioritised prompt replay (``replay.enabled=true``)."""


class ReasoningVocabGRPOTrainer(ReasoningVocabMixin, ObjectivesMixin):
    """GRPO with a reasoning vocabulary (``model.reasoning_vocab.size != 0``)."""


class ReasoningVocabReplayGRPOTrainer(ReasoningVocabMixin, ReplayMixin, ObjectivesMixin):
    """GRPO with a reasoning vocabulary and prioritised prompt replay."""


def trainer_class(cfg: RootConfig) -> type[RLVRTrainer]:
    """The trainer class for a run: which mixins it has follows from the config."""
    if cfg.model.reasoning_vocab.enabled:
        return ReasoningVocabReplayGRPOTrainer if cfg.replay.enabled else ReasoningVocabGRPOTrainer
    return ReplayGRPOTrainer if cfg.replay.enabled else GRPOTrainer
