"""Dataset entry point: ``load_datasets(cfg, seed) -> (train, held_out)`` for the ``dataset`` group
(a :class:`rlvr.config.DatasetConfig`).

One source (:mod:`rlvr.data.sources`: a generator, a hub id, a local directory or data files) or
a mixture of several (:mod:`rlvr.data.mixtures`, when ``dataset.sources`` is set). Prompts longer
than ``dataset.max_prompt_length`` are dropped later, once the tokenizer is loaded
(:func:`rlvr.data.prompts.filter_prompts_by_length`, called by ``rlvr.train.build``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datasets import Dataset
from loguru import logger

from rlvr.data.generators import generator_n_train
from rlvr.data.mixtures import load_mixture
from rlvr.data.sources import load_splits, spec_from_dataset

if TYPE_CHECKING:
    from rlvr.config import DatasetConfig


def load_datasets(cfg: DatasetConfig, seed: int) -> tuple[Dataset, Dataset]:
    """Return ``(train, held_out)`` datasets in prompt format for ``cfg`` (the ``dataset`` group)."""
    if cfg.sources:
        train, held_out = load_mixture(cfg, seed)
    else:
        spec = spec_from_dataset(cfg)
        n_train = None
        if spec.generator and cfg.max_train_samples is not None:
            n_train = min(cfg.max_train_samples, generator_n_train(spec.generator, spec.generator_kwargs))
        train, held_out = load_splits(spec, seed, n_train)
    if cfg.max_train_samples is not None:
        train = train.select(range(min(cfg.max_train_samples, len(train))))
    logger.info(f"dataset {cfg.name}: {len(train)} train rows, {len(held_out)} held-out rows")
    return train, held_out
