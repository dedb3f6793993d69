"""``dataset`` group: where prompts come from (a generator, a hub id, local files, or a mixture of sources)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rlvr.errors import UserError

ANSWER_FORMATS = ("raw", "gsm8k", "boxed")


@dataclass
class SourceFields:
    """How the rows of one source are read: declared once, for the whole dataset (``DatasetConfig``), for each
    entry of a mixture (``DataSource``) and for the loader (``rlvr.data.sources.SourceSpec``)."""

    generator_kwargs: dict[str, Any] = field(default_factory=dict)  # arguments of the generator (n_train, ...)
    config_name: str | None = None  # hub dataset configuration, e.g. "main" for gsm8k
    split: str = "train"
    eval_split: str | None = None  # held-out split; None carves eval_size rows out of the train split
    problem_column: str = "problem"  # text of the user turn
    prompt_column: str | None = None  # chat messages column (e.g. "messages"); used instead of problem_column
    answer_column: str = "answer"  # gold answer -> the `solution` column
    answer_format: str = "raw"  # raw | gsm8k (final number after ####) | boxed (last \boxed{} in text)
    columns: dict[str, str] = field(default_factory=dict)  # {column rewards read: source column}, copied
    task: str | None = None  # `task` column (reward routing): math, rush_hour, crossword, rubric, ...
    # None: the generator's task (arith -> math, rush_hour -> rush_hour), else the rows' own `task`, else math
    system_prompt: str | None = None  # injected only into rows without a system turn; None: none

    def check_source_fields(self, key: str) -> None:
        if self.answer_format not in ANSWER_FORMATS:
            raise UserError(f"{key}.answer_format: {self.answer_format!r} is not one of {', '.join(ANSWER_FORMATS)}")


def source_fields(fields_of: SourceFields) -> dict[str, Any]:
    """The ``SourceFields`` of a dataset, a mixture entry or a spec, as keyword arguments (dicts copied)."""
    out = {f.name: getattr(fields_of, f.name) for f in dataclasses.fields(SourceFields)}
    return {k: dict(v) if isinstance(v, dict) else v for k, v in out.items()}


@dataclass
class DataSource(SourceFields):
    """One source of a dataset mixture (``dataset.sources``): the ``SourceFields`` keys mean what they mean in
    ``DatasetConfig``, for this source only (``system_prompt`` None: the dataset's)."""

    source: str = "arith"  # a generator name (arith, rush_hour), a module:function generator, a hub id or path
    weight: float = 1.0  # <= 1: that fraction of the source's train rows; > 1: that many rows
    eval_size: int | None = None  # None: dataset.eval_size


@dataclass
class DatasetConfig(SourceFields):
    name: str = "arith"
    # Where rows come from: `generator` (synthetic, declared by a task: arith, rush_hour; or module:function) or
    # `path`, which may be a hub dataset id, a local `save_to_disk` directory, or a .json/.jsonl/.parquet/.csv
    # file (or a directory of them). A non-empty `sources` list makes a mixture instead.
    generator: str | None = "arith"
    path: str | None = None
    max_prompt_length: int | None = None  # tokens after the chat template; longer prompts are dropped
    max_train_samples: int | None = None
    eval_size: int = 200  # held-out rows (per source in a mixture)
    group_column: str | None = None  # column to break eval accuracy down by (e.g. arith "level", "task")
    sources: list[DataSource] = field(default_factory=list)  # mixture: see conf/dataset/mixture_*.yaml

    def __post_init__(self) -> None:
        self.check_source_fields("dataset")
        if self.eval_size < 0:
            raise UserError(f"dataset.eval_size must be >= 0, got {self.eval_size}")
        if self.generator and self.path and not self.sources:
            raise UserError(
                f"dataset.path={self.path} and dataset.generator={self.generator} exclude each other: rows come from "
                "one of them. To train on the file add dataset.generator=null (or start from a file preset such as "
                "dataset=deepscaler)"
            )
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise UserError(f"dataset.max_train_samples must be >= 1 or null, got {self.max_train_samples}")
        if self.max_prompt_length is not None and self.max_prompt_length < 1:
            raise UserError(f"dataset.max_prompt_length must be >= 1 or null, got {self.max_prompt_length}")
        for i, src in enumerate(self.sources):
            key = f"dataset.sources[{i}]"
            if not src.weight > 0:
                raise UserError(f"{key}.weight: {src.weight} must be > 0 (a fraction <= 1 or a row count > 1)")
            src.check_source_fields(key)
