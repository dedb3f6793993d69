"""Dataset mixtures (``dataset=mixture_*``): several sources concatenated and shuffled with the seed.

``dataset.sources`` lists ``{source, weight, task, split, config_name, columns, system_prompt, ...}``
entries (the schema is ``rlvr.config.DataSource``). ``source`` is a generator name (``arith``,
``rush_hour``) or a hub id / local path. ``weight`` is a fraction of the source's train rows
(``<= 1``) or an absolute row count (``> 1``); generators make exactly that many rows, so the
proportions are exact. Every row keeps its source's ``task`` label for reward routing. Each
source carves out its own held-out rows (its ``eval_split``, or ``eval_size`` rows of its train
split); the held-out split is their concatenation, shuffled too.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from datasets import Dataset, Value, concatenate_datasets
from loguru import logger

from rlvr.config.dataset import source_fields
from rlvr.data.generators import generator_n_train
from rlvr.data.sources import SourceSpec, load_splits, quiet_progress
from rlvr.errors import UserError
from rlvr.tasks import is_generator as names_generator

if TYPE_CHECKING:
    from rlvr.config import DatasetConfig, DataSource


def spec_from_source(src: DataSource, parent: DatasetConfig, index: int) -> SourceSpec:
    """The spec of ``dataset.sources[index]``; ``eval_size`` and ``system_prompt`` default to the parent's."""
    key = f"dataset.sources[{index}]"
    name = str(src.source)
    is_generator = names_generator(name)
    fields = source_fields(src)
    if src.system_prompt is None:
        fields["system_prompt"] = parent.system_prompt
    return SourceSpec(
        key=key,
        label=f"{parent.name}[{index}:{name}]",
        generator=name if is_generator else None,
        path=None if is_generator else name,
        eval_size=int(parent.eval_size if src.eval_size is None else src.eval_size),
        **fields,
    )


def rows_for_weight(weight: float, available: int, key: str) -> int:
    """Rows a source contributes: ``round(weight * available)`` for a fraction, ``weight`` for a count."""
    if weight <= 0:
        raise UserError(f"{key}.weight: {weight} must be > 0 (a fraction <= 1 or a row count > 1)")
    if weight <= 1:
        return max(1, round(weight * available)) if available else 0
    if weight != int(weight):
        raise UserError(f"{key}.weight: {weight} is neither a fraction <= 1 nor a whole row count")
    return int(weight)


def _unify_types(parts: list[Dataset]) -> list[Dataset]:
    """Cast columns whose plain types differ between sources (int32 vs int64, int vs str) to one type."""
    columns = {c for d in parts for c in d.column_names}
    for column in sorted(columns):
        found = [d.features[column] for d in parts if column in d.column_names]
        types = {repr(t): t for t in found if not (isinstance(t, Value) and t.dtype == "null")}
        if len(types) <= 1:
            continue
        if not all(isinstance(t, Value) for t in types.values()):
            raise UserError(
                f"dataset.sources: column {column!r} has different types in different sources "
                f"({', '.join(sorted(types))}); map it to another name with `columns:`"
            )
        dtypes = {t.dtype for t in types.values()}
        target = (
            "int64"
            if all(d.startswith(("int", "uint")) for d in dtypes)
            else "float64"
            if all(d.startswith(("int", "uint", "float")) for d in dtypes)
            else "string"
        )
        parts = [d.cast_column(column, Value(target)) if column in d.column_names else d for d in parts]
    return parts


def concat_aligned(parts: list[Dataset]) -> Dataset:
    """Concatenate datasets with different columns: missing columns are filled with None."""
    parts = [d for d in parts if len(d)] or parts[:1]
    order: list[str] = []
    for d in parts:
        order += [c for c in d.column_names if c not in order]
    filled = []
    with quiet_progress(sum(len(d) for d in parts)):
        for d in parts:
            for column in order:
                if column not in d.column_names:
                    d = d.add_column(column, [None] * len(d))
            filled.append(d.select_columns(order))
        return concatenate_datasets(_unify_types(filled))


def load_mixture(cfg: DatasetConfig, seed: int) -> tuple[Dataset, Dataset]:
    """``(train, held_out)`` of the mixture ``cfg.sources`` (see the module docstring)."""
    if cfg.generator or cfg.path:
        raise UserError(
            f"dataset {cfg.name}: set either dataset.sources (a mixture) or dataset.generator/dataset.path, "
            "not both (dataset.generator=null dataset.path=null)"
        )
    trains, held = [], []
    for i, src in enumerate(cfg.sources):
        spec = spec_from_source(src, cfg, i)
        weight = float(src.weight)
        if spec.generator:
            n = rows_for_weight(weight, generator_n_train(spec.generator, spec.generator_kwargs, spec.key), spec.key)
            train, held_out = load_splits(spec, seed + i, n_train=n)
        else:
            train, held_out = load_splits(spec, seed + i)
            n = rows_for_weight(weight, len(train), spec.key)
            if n > len(train):
                logger.warning(f"{spec.key}.weight: asks for {n} rows but {spec.path} has {len(train)}; using all")
                n = len(train)
            train = train.select(range(n))
        logger.info(f"dataset {spec.label}: {len(train)} train rows, {len(held_out)} held-out rows (weight {weight:g})")
        trains.append(train)
        held.append(held_out)
    train = concat_aligned(trains).shuffle(seed=seed)
    held_out = concat_aligned(held).shuffle(seed=seed)
    counts = dict(sorted(Counter(train["task"]).items()))
    logger.info(f"dataset {cfg.name}: train rows per task {counts}")
    return train, held_out
