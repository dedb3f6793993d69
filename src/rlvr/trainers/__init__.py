"""The trainer: :class:`RLVRTrainer` (TRL's GRPOTrainer + hooks, ``base.py``) and its mixins, assembled here.

``trainer_class(cfg)`` is the one place that decides which extensions a run's trainer has:

* ``ObjectivesMixin`` (``rlvr.objectives.mixin``) always: the objective (``objective=grpo|maxent``), the KL and
  entropy controllers and the temperature schedule;
* ``ReplayMixin`` (``rlvr.replay.mixin``) when ``replay.enabled``;
* ``ReasoningVocabMixin`` (``rlvr.vocab.mixin``) when ``model.reasoning_vocab.size != 0``.

Mixins use only the hooks of ``RLVRTrainer``; the private TRL overrides live in ``base.py`` alone. The mixins
import ``rlvr.trainers.base``, so the assembled classes (``assembled.py``) are loaded on first use, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlvr.trainers.base import RLVRTrainer

if TYPE_CHECKING:
    from rlvr.config import RootConfig
    from rlvr.trainers.assembled import GRPOTrainer, ReplayGRPOTrainer

__all__ = ["GRPOTrainer", "RLVRTrainer", "ReplayGRPOTrainer", "trainer_class"]


def trainer_class(cfg: RootConfig) -> type[RLVRTrainer]:
    """The trainer class for a run: which mixins it has follows from the config."""
    from rlvr.trainers import assembled

    if cfg.model.reasoning_vocab.enabled:
        if cfg.replay.enabled:
            return assembled.ReasoningVocabReplayGRPOTrainer
        return assembled.ReasoningVocabGRPOTrainer
    return assembled.ReplayGRPOTrainer if cfg.replay.enabled else assembled.GRPOTrainer


def __getattr__(name: str) -> Any:
    if name in ("GRPOTrainer", "ReplayGRPOTrainer", "ReasoningVocabGRPOTrainer", "ReasoningVocabReplayGRPOTrainer"):
        from rlvr.trainers import assembled

        return getattr(assembled, name)
    raise AttributeError(f"module 'rlvr.trainers' has no attribute {name!r}")
