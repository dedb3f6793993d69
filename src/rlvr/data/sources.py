"""One data source: a synthetic generator, a hub dataset, a local ``save_to_disk`` directory, or
json/jsonl/parquet/csv files; loaded, converted to TRL's conversational prompt format, and split
into train and held-out rows.

Every row that reaches the trainer has ``prompt`` (a list of chat messages, cleaned by
:mod:`rlvr.data.prompts`), ``solution`` (the gold answer as text, see :func:`extract_answer`),
``task`` (reward routing) with the columns that task's rewards read (the ``fields`` its task declares,
:mod:`rlvr.registry.tasks`), and keeps its other columns, which TRL forwards to reward
functions. A source's own ``solution`` column, when it is not the answer column (DeepScaleR's
worked solutions), is kept as ``reference_solution``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
from datasets import Dataset, DatasetDict, load_dataset, load_from_disk
from loguru import logger

from rlvr.config.dataset import ANSWER_FORMATS, SourceFields, source_fields
from rlvr.data.generators import generate
from rlvr.data.prompts import as_messages, clean_messages, has_user_turn
from rlvr.errors import UserError
from rlvr.tasks import DEFAULT_TASK, find_task, task_fields
from rlvr.tasks.answers import last_boxed

if TYPE_CHECKING:
    from rlvr.config import DatasetConfig

FILE_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
_FLAGS = ("dropped_assistant", "stripped", "injected")
QUIET_BELOW = 50_000  # rows; smaller maps and filters run without progress bars


@contextmanager
def quiet_progress(n_rows: int) -> Iterator[None]:
    """Hide datasets' progress bars while processing fewer than ``QUIET_BELOW`` rows."""
    hide = n_rows < QUIET_BELOW and not datasets.are_progress_bars_disabled()
    if hide:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hide:
            datasets.enable_progress_bars()


def _looks_local(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~")) or Path(path).suffix in FILE_FORMATS or Path(path).exists()


def check_source_exists(path: str, key: str) -> None:
    """A local file or directory named as a data source must exist (a hub id is checked when it loads). Light: the
    CLI calls it before torch is imported (``rlvr.preflight``)."""
    local = Path(path).expanduser()
    if local.exists() or not _looks_local(path):
        return
    raise UserError(
        f"{key}: file {path} does not exist" if local.suffix in FILE_FORMATS else f"{key}: {path} does not exist"
    )


def check_data_file(path: Path, key: str) -> None:
    """Reject an empty file, or a JSON-lines file with a line that is not a JSON object, naming file and line."""
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        raise UserError(f"{key}: {path} is empty")
    if path.suffix != ".jsonl":
        return
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{key}: {path} line {number} is not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise UserError(f"{key}: {path} line {number} is not a JSON object")


def load_files(files: list[Path], fmt: str, key: str) -> Dataset:
    """Data files of one format as one dataset; a file the loader cannot read is named in a one-line error."""
    for file in files:
        check_data_file(file, key)
    try:
        return load_dataset(fmt, data_files=[str(p) for p in files], split="train")
    except Exception as err:  # a malformed csv/parquet/json: the user's file to fix
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        names = ", ".join(str(p) for p in files[:3]) + (" ..." if len(files) > 3 else "")
        raise UserError(f"{key}: cannot read {names}: {first}") from None


def load_source(path: str, split: str, config_name: str | None = None, key: str = "dataset.path") -> Dataset:
    """Load one split from a hub id, a ``save_to_disk`` directory, or data files."""
    check_source_exists(path, key)
    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        data = load_from_disk(str(local))
        if isinstance(data, DatasetDict):
            if split not in data:
                raise UserError(f"{key}: {path} has splits {list(data)}, not {split!r} (set the split)")
            data = data[split]
        return data
    if local.is_dir():
        files = sorted(p for p in local.rglob("*") if p.suffix in FILE_FORMATS)
        if not files:
            raise UserError(f"{key}: directory {path} holds no dataset (save_to_disk output or data files)")
        fmt = FILE_FORMATS[files[0].suffix]
        return load_files([p for p in files if FILE_FORMATS[p.suffix] == fmt], fmt, key)
    if local.suffix in FILE_FORMATS:
        return load_files([local], FILE_FORMATS[local.suffix], key)
    if _looks_local(path):  # it exists (checked above) but is neither a directory nor a data file
        raise UserError(f"{key}: {path} is not a dataset (a save_to_disk directory, data files or a hub id)")
    try:
        return load_dataset(path, config_name, split=split)
    except Exception as err:  # offline, unknown repo, unknown split: all are the user's to fix
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{key}: cannot load hub dataset {path!r} split {split!r}: {first}") from None


def extract_answer(raw: Any, answer_format: str) -> str | None:
    """Normalise a gold answer cell according to ``answer_format`` (a list of moves is comma-joined)."""
    if raw is None:
        return None
    if isinstance(raw, list | tuple):
        raw = ",".join(str(x).strip() for x in raw)
    text = str(raw).strip()
    if answer_format == "raw":
        return text or None
    if answer_format == "gsm8k":
        if "####" not in text:
            return None
        return text.split("####")[-1].strip().replace(",", "") or None
    if answer_format == "boxed":
        return last_boxed(text)
    raise UserError(f"dataset.answer_format: {answer_format!r} is not one of {', '.join(ANSWER_FORMATS)}")


@dataclass(kw_only=True)
class SourceSpec(SourceFields):
    """One source's settings, whether it is the whole dataset or one entry of ``dataset.sources``: the
    ``SourceFields`` (how its rows are read) and where they come from."""

    key: str  # config prefix that error messages name: "dataset" or "dataset.sources[1]"
    label: str  # for logs
    generator: str | None = None
    path: str | None = None
    eval_size: int = 200

    @property
    def where_key(self) -> str:
        """The key that names where rows come from (for messages about the data itself)."""
        return f"{self.key}.source" if self.key != "dataset" else "dataset.path"


def spec_from_dataset(cfg: DatasetConfig) -> SourceSpec:
    """The single-source spec of a ``dataset`` config."""
    return SourceSpec(
        key="dataset",
        label=str(cfg.name),
        generator=cfg.generator,
        path=cfg.path,
        eval_size=int(cfg.eval_size),
        **source_fields(cfg),
    )


def _check_columns(data: Dataset, spec: SourceSpec) -> None:
    wanted = (
        [("prompt_column", spec.prompt_column)] if spec.prompt_column else [("problem_column", spec.problem_column)]
    )
    wanted.append(("answer_column", spec.answer_column))
    wanted += [(f"columns.{name}", column) for name, column in spec.columns.items()]
    where = spec.generator or spec.path
    for key, column in wanted:
        if column not in data.column_names:
            raise UserError(
                f"{spec.key}.{key}: column {column!r} not found in {where}; "
                f"available columns: {', '.join(data.column_names)}"
            )
    if spec.answer_format not in ANSWER_FORMATS:
        raise UserError(f"{spec.key}.answer_format: {spec.answer_format!r} is not one of {', '.join(ANSWER_FORMATS)}")


def _task_keys(tasks: set[str], columns: list[str]) -> set[str]:
    """Columns the task hooks add for ``tasks`` (so that every row of a mixed-task source has them)."""
    blank = {c: None for c in columns} | {"solution": None}
    return set().union(*(task_fields(t, blank, "") for t in tasks)) if tasks else set()


def to_prompt_rows(data: Dataset, spec: SourceSpec, default_task: str = DEFAULT_TASK) -> Dataset:
    """Map raw rows to ``prompt`` + ``solution`` + ``task`` (+ task columns); drop unusable rows."""
    _check_columns(data, spec)
    columns = data.column_names
    fixed_task = spec.task or (None if "task" in columns else default_task)
    tasks = {fixed_task} if fixed_task else {str(t or default_task) for t in data.unique("task")}
    extra_keys = _task_keys(tasks, columns)
    keep_reference = "solution" in columns and spec.answer_column != "solution" and "solution" not in spec.columns

    def convert(row: dict) -> dict:
        if spec.prompt_column:
            messages = as_messages(row[spec.prompt_column], spec.prompt_column, f"{spec.key}.prompt_column")
        else:
            problem = row[spec.problem_column]
            messages = [{"role": "user", "content": "" if problem is None else str(problem)}]
        messages, flags = clean_messages(messages, spec.system_prompt)
        task = fixed_task or str(row.get("task") or default_task)
        out: dict[str, Any] = {
            "prompt": messages,
            "solution": extract_answer(row[spec.answer_column], spec.answer_format),
            "task": task,
        }
        for name, column in spec.columns.items():
            out[name] = row[column]
        if keep_reference:
            out["reference_solution"] = row["solution"]
        user_text = "\n".join(m["content"] for m in messages if m["role"] == "user")
        out.update(task_fields(task, {**row, **out}, user_text))
        for k in extra_keys:
            out.setdefault(k, None)
        out.update({f"_rlvr_{name}": flags[name] for name in _FLAGS})
        out["_rlvr_has_user"] = has_user_turn(messages)
        return out

    replaced = {"prompt", "solution", "task", "reference_solution", *spec.columns, *extra_keys}
    if spec.prompt_column:
        replaced.add(spec.prompt_column)
    with quiet_progress(len(data)):
        data = data.map(convert, remove_columns=[c for c in columns if c in replaced], desc=f"{spec.label}: prompts")
    for name, what in (
        ("dropped_assistant", "dropped assistant turns from the prompts of"),
        ("stripped", "stripped <think>/<answer> blocks from the user turns of"),
        ("injected", "injected the system prompt into"),
    ):
        count = sum(data[f"_rlvr_{name}"])
        if count:
            logger.info(f"dataset {spec.label}: {what} {count} of {len(data)} rows")
    data = _drop(data, spec, ["_rlvr_has_user"], bool, "with an empty prompt (no user turn)")
    data = _drop(data, spec, ["solution"], lambda s: s is not None and s != "", "with an empty answer")
    for task in sorted(tasks):
        column = found.required_column if (found := find_task(task)) is not None else None
        if column is not None and column in data.column_names:
            keep = lambda t, value, task=task: t != task or value is not None  # noqa: E731
            data = _drop(data, spec, ["task", column], keep, f"of task {task} without a readable {column}")
    return data.remove_columns([c for c in data.column_names if c.startswith("_rlvr_")])


def _drop(data: Dataset, spec: SourceSpec, columns: list[str], keep: Any, why: str) -> Dataset:
    """``data`` filtered by ``keep(*values of columns)``, logging how many rows it removed."""
    before = len(data)
    with quiet_progress(before):
        data = data.filter(keep, input_columns=columns, desc=f"{spec.label}: filter")
    if len(data) < before:
        logger.info(f"dataset {spec.label}: dropped {before - len(data)} of {before} rows {why}")
    return data


def load_splits(spec: SourceSpec, seed: int, n_train: int | None = None) -> tuple[Dataset, Dataset]:
    """``(train, held_out)`` of one source, in prompt format and shuffled with ``seed``.

    Generators make ``n_train`` train rows (default: ``generator_kwargs.n_train``); other sources
    are cut to ``n_train`` rows when it is given. The held-out split is ``eval_split`` when set,
    else ``eval_size`` rows carved out of the train split (at most a fifth of it).
    """
    if spec.eval_size < 0:
        raise UserError(f"{spec.key}.eval_size: {spec.eval_size} must be >= 0")
    if spec.generator:
        train_rows, eval_rows, task = generate(
            spec.generator, spec.generator_kwargs, spec.eval_size, seed, spec.key, n_train=n_train
        )
        task = task or DEFAULT_TASK
        train = to_prompt_rows(Dataset.from_list(train_rows), spec, task)
        held_out = to_prompt_rows(Dataset.from_list(eval_rows), spec, task) if eval_rows else train.select([])
        return train, held_out
    if not spec.path:
        raise UserError(f"{spec.where_key} is not set: give a hub id, a save_to_disk directory or a data file")
    train = to_prompt_rows(load_source(spec.path, spec.split, spec.config_name, spec.where_key), spec)
    train = train.shuffle(seed=seed)
    if not len(train):
        raise UserError(f"{spec.where_key}: {spec.path} split {spec.split!r} has no usable rows")
    if spec.eval_split:
        held_out = load_source(spec.path, spec.eval_split, spec.config_name, spec.where_key)
        held_out = to_prompt_rows(held_out, spec).shuffle(seed=seed)
        held_out = held_out.select(range(min(spec.eval_size, len(held_out))))
    else:
        n_eval = min(spec.eval_size, max(1, len(train) // 5)) if spec.eval_size else 0
        if len(train) <= n_eval:
            raise UserError(f"{spec.where_key}: {spec.path} has {len(train)} usable rows; need at least {n_eval + 1}")
        held_out = train.select(range(n_eval))
        train = train.select(range(n_eval, len(train)))
    if n_train is not None:
        train = train.select(range(min(n_train, len(train))))
    return train, held_out
