"""The extension record: what the trainer assembly (:mod:`rlvr.trainers.assembled`) needs to know of one optional
piece of the trainer.

An :class:`Extension` names a mixin (a subclass of :class:`rlvr.trainers.base.RLVRTrainer` that overrides only the
base's public hooks), the config test that switches it on (``enabled(cfg)``) and the keyword arguments its
``__init__`` takes, built from an :class:`ExtensionContext` (what ``rlvr.run.build`` has prepared: the config, the
training rows, the reasoning-vocabulary token map, the model and tokenizer, the run directory, a loader for
another dataset's rows). Each built-in
extension defines its record next to its mixin (``EXTENSION`` in ``rlvr.vocab.mixin``, ``rlvr.replay.mixin``,
``rlvr.objectives.mixin``); :mod:`rlvr.trainers.assembled` lists them in MRO order.

This module imports no mixin (the mixins import it), so it adds no import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset

    from rlvr.config import RootConfig
    from rlvr.trainers.base import RLVRTrainer


@dataclass(frozen=True)
class ExtensionContext:
    """What ``rlvr.run.build`` hands every enabled extension to build its constructor kwargs from."""

    cfg: RootConfig
    train_dataset: Dataset
    run_dir: Path
    model: Any = None  # the policy before TRL wraps it (LoRA is applied by the trainer)
    tokenizer: Any = None
    token_map: Any = None  # rlvr.vocab.token_map.TokenMap when model.reasoning_vocab is on, else None
    # the train rows of another dataset config (replay's EASY pool), loaded as the run loads its own
    load_train_rows: Callable[[Any], list[dict[str, Any]]] | None = None


def no_kwargs(ctx: ExtensionContext) -> dict[str, Any]:
    """For an extension whose mixin takes no constructor arguments."""
    return {}


@dataclass(frozen=True, eq=False)
class Extension:
    """One optional trainer extension: ``mixin`` joins the run's trainer class when ``enabled(cfg)``, and its
    ``__init__`` gets ``kwargs(ctx)`` (keyword arguments no other enabled extension uses).

    Compared and hashed by identity: two records with the same name are different extensions (the registry
    refuses a second one of a name).
    """

    name: str  # short and stable: it appears in the trainer class's name (``RLVRTrainer[replay+objectives]``)
    mixin: type[RLVRTrainer]
    enabled: Callable[[RootConfig], bool]
    kwargs: Callable[[ExtensionContext], dict[str, Any]] = no_kwargs

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"extension name {self.name!r}: use a Python identifier (letters, digits, _)")
