"""The trainer: :class:`RLVRTrainer` (TRL's GRPOTrainer + the hooks extensions use, ``base.py``).

A run's trainer class is composed from the extensions its config enables (``trainer_class(cfg)`` in
:mod:`rlvr.trainers.assembled`). An extension is a mixin on the base's public hooks plus one
:class:`rlvr.trainers.extensions.Extension` record (name, ``enabled(cfg)``, the mixin, its constructor kwargs), listed in
``rlvr.trainers.assembled.EXTENSIONS`` or added with ``register_extension``. This package imports only the base, so
the mixins (which import it) and the assembly (which imports them) run in no circle."""

from __future__ import annotations

from rlvr.trainers.base import RLVRTrainer

__all__ = ["RLVRTrainer"]
