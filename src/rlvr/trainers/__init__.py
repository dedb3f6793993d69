"""The trainer: :class:`RLVRTrainer` (TRL's GRPOTrainer + the hooks extensions use, ``base.py``). The classes a run
gets, with their mixins, and ``trainer_class(cfg)`` are in :mod:`rlvr.trainers.assembled`."""

from __future__ import annotations

from rlvr.trainers.base import RLVRTrainer

__all__ = ["RLVRTrainer"]
