"""The trainer classes a run can get: :class:`RLVRTrainer` with the mixins stacked in their one valid order."""

from __future__ import annotations

from rlvr.objectives.mixin import ObjectivesMixin
from rlvr.replay.mixin import ReplayMixin
from rlvr.vocab.mixin import ReasoningVocabMixin


class GRPOTrainer(ObjectivesMixin):
    """rlvr's GRPO trainer: the base hooks + objectives (no replay)."""


class ReplayGRPOTrainer(ReplayMixin, ObjectivesMixin):
    """rlvr's GRPO trainer with prioritised prompt replay (``replay.enabled=true``)."""


class ReasoningVocabGRPOTrainer(ReasoningVocabMixin, ObjectivesMixin):
    """GRPO with a reasoning vocabulary (``model.reasoning_vocab.size != 0``)."""


class ReasoningVocabReplayGRPOTrainer(ReasoningVocabMixin, ReplayMixin, ObjectivesMixin):
    """GRPO with a reasoning vocabulary and prioritised prompt replay."""
