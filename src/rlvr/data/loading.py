"""Dataset loading: a synthetic generator, a hub dataset, a local ``save_to_disk`` directory, or
json/jsonl/parquet/csv files; then conversion to TRL's conversational prompt format.

Every row that reaches the trainer has ``prompt`` (a list of chat messages), ``solution`` (the
gold answer as text) and keeps its other columns, which TRL forwards to reward functions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk
from loguru import logger

from rlvr.data.arith import generate_arith
from rlvr.errors import UserError

FILE_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def _looks_local(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~")) or Path(path).suffix in FILE_FORMATS or Path(path).exists()


def load_source(path: str, split: str, config_name: str | None = None, key: str = "dataset.path") -> Dataset:
    """Load one split from a hub id, a ``save_to_disk`` directory, or data files."""
    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        data = load_from_disk(str(local))
        if isinstance(data, DatasetDict):
            if split not in data:
                raise UserError(f"{key}: {path} has splits {list(data)}, not {split!r} (set dataset.split)")
            data = data[split]
        return data
    if local.is_dir():
        files = sorted(p for p in local.rglob("*") if p.suffix in FILE_FORMATS)
        if not files:
            raise UserError(f"{key}: directory {path} holds no dataset (save_to_disk output or data files)")
        fmt = FILE_FORMATS[files[0].suffix]
        return load_dataset(fmt, data_files=[str(p) for p in files if FILE_FORMATS[p.suffix] == fmt], split="train")
    if local.suffix in FILE_FORMATS:
        if not local.exists():
            raise UserError(f"{key}: file {path} does not exist")
        return load_dataset(FILE_FORMATS[local.suffix], data_files=str(local), split="train")
    if _looks_local(path):
        raise UserError(f"{key}: {path} does not exist")
    try:
        return load_dataset(path, config_name, split=split)
    except Exception as err:  # offline, unknown repo, unknown split: all are the user's to fix
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{key}: cannot load hub dataset {path!r} split {split!r}: {first}") from None


_BOXED = re.compile(r"\\boxed\s*\{")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text`` (balanced braces), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    i = starts[-1]
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i : j - 1].strip() if depth == 0 else None


def extract_answer(raw: Any, answer_format: str) -> str | None:
    """Normalise a gold answer cell according to ``dataset.answer_format``."""
    if raw is None:
        return None
    text = str(raw).strip()
    if answer_format == "raw":
        return text or None
    if answer_format == "gsm8k":
        if "####" not in text:
            return None
        return text.split("####")[-1].strip().replace(",", "") or None
    if answer_format == "boxed":
        return last_boxed(text)
    raise UserError(f"dataset.answer_format: {answer_format!r} is not one of raw, gsm8k, boxed")


def to_prompt_rows(data: Dataset, cfg: Any) -> Dataset:
    """Map raw rows to ``prompt`` + ``solution``; drop rows whose answer is missing."""
    for key in ("problem_column", "answer_column"):
        column = cfg[key]
        if column not in data.column_names:
            raise UserError(
                f"dataset.{key}: column {column!r} not found; available columns: {', '.join(data.column_names)}"
            )
    system_prompt = cfg.system_prompt

    def convert(row: dict) -> dict:
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": str(row[cfg.problem_column])})
        return {"prompt": messages, "solution": extract_answer(row[cfg.answer_column], cfg.answer_format)}

    before = len(data)
    drop = [c for c in ("prompt", "solution") if c in data.column_names]
    data = data.remove_columns(drop).map(convert) if drop else data.map(convert)
    data = data.filter(lambda r: r["solution"] is not None and r["solution"] != "")
    if len(data) < before:
        logger.info(f"dataset: dropped {before - len(data)} of {before} rows with an empty or unparsable answer")
    return data


def load_datasets(cfg: Any, seed: int) -> tuple[Dataset, Dataset]:
    """Return ``(train, held_out)`` datasets in prompt format for ``cfg`` (the ``dataset`` group)."""
    if cfg.generator:
        if cfg.generator != "arith":
            raise UserError(f"dataset.generator: unknown generator {cfg.generator!r} (known: arith)")
        kwargs = dict(cfg.generator_kwargs or {})
        n_train = int(kwargs.pop("n_train", 20000))
        levels = list(kwargs.pop("levels", ["2+2"]))
        if kwargs:
            raise UserError(f"dataset.generator_kwargs: unknown keys {sorted(kwargs)} (known: n_train, levels)")
        if cfg.max_train_samples is not None:
            n_train = min(n_train, cfg.max_train_samples)
        train_rows, eval_rows = generate_arith(n_train, cfg.eval_size, levels, seed=seed)
        train = to_prompt_rows(Dataset.from_list(train_rows), cfg)
        held_out = to_prompt_rows(Dataset.from_list(eval_rows), cfg)
        return train, held_out

    if not cfg.path:
        raise UserError("dataset.path is not set: give a hub id, a save_to_disk directory or a data file")
    raw = load_source(cfg.path, cfg.split, cfg.config_name)
    train = to_prompt_rows(raw, cfg).shuffle(seed=seed)
    if cfg.eval_split:
        held_out = to_prompt_rows(load_source(cfg.path, cfg.eval_split, cfg.config_name), cfg)
        held_out = held_out.select(range(min(cfg.eval_size, len(held_out))))
    else:
        if len(train) < 2:
            raise UserError(f"dataset.path: {cfg.path} has {len(train)} usable rows; need at least 2")
        n_eval = min(cfg.eval_size, max(1, len(train) // 5))
        held_out = train.select(range(n_eval))
        train = train.select(range(n_eval, len(train)))
    if cfg.max_train_samples is not None:
        train = train.select(range(min(cfg.max_train_samples, len(train))))
    logger.info(f"dataset {cfg.name}: {len(train)} train rows, {len(held_out)} held-out rows")
    return train, held_out
