"""The task registry: each task declares, once and where it is defined, everything the rest of the code needs to
know about it, with ``register_task(Task(...))``.

A task is the label in a row's ``task`` column. Its :class:`Task` holds

- ``correctness``: the reward names that verify it (success and failure: the held-out accuracy, replay's solved
  counts, pass@k) as opposed to shaping rewards;
- ``shaping``: other rewards it offers (named in error messages that suggest rewards for the task);
- ``answer_key``: the canonical final answer of a completion (the majority vote of maj@k);
- ``fields``: ``fields(row, prompt_text) -> dict``, columns its rewards read, added or normalised while rows load;
- ``required_column``: rows of the task whose value there is None are dropped while loading;
- ``generators``: synthetic data generators by name (``dataset.generator``, a mixture ``source``);
- ``aliases``: other labels its rows may carry.

Rows without a task label are ``DEFAULT_TASK`` rows. A generator can also be named by reference
(``my_pkg.data:make_rows`` or ``path/to/file.py:make_rows``, :mod:`rlvr.plugins`); its rows get ``dataset.task``.
``rlvr.tasks`` imports every built-in task module, so ``import rlvr.tasks`` registers them all; this module imports
no task, so that task modules and plugins can register here without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rlvr.errors import UserError
from rlvr.plugins import is_reference, resolve_callable

DEFAULT_TASK = "math"  # the label of rows that carry none

Rows = list[dict[str, Any]]
MakeRows = Callable[[int, int, dict[str, Any], int], tuple[Rows, Rows]]


@dataclass(frozen=True)
class Generator:
    """A synthetic data generator: ``make(n_train, n_eval, kwargs, seed) -> (train_rows, eval_rows)``, seeded and
    with disjoint splits; ``n_train`` is its default number of train rows (``generator_kwargs.n_train``)."""

    make: MakeRows
    n_train: int = 1000


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (one object per registered task)
class Task:
    name: str
    correctness: tuple[str, ...]
    shaping: tuple[str, ...] = ()
    answer_key: Callable[[str], str | None] | None = None
    fields: Callable[[dict, str], dict] | None = None
    required_column: str | None = None
    generators: Mapping[str, Generator] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


TASKS: dict[str, Task] = {}  # every label (names and aliases) -> its task
GENERATORS: dict[str, tuple[Generator, str]] = {}  # generator name -> (generator, the task label of its rows)


def register_task(task: Task) -> Task:
    """Register ``task`` under its name and aliases, with its generators. A label or generator name that another
    task already holds is an error (a plugin cannot silently replace a built-in)."""
    for label in task.labels:
        if label in TASKS and TASKS[label] is not task:
            raise ValueError(f"task label {label!r} is registered twice")
    for name in task.generators:
        if name in GENERATORS or is_reference(name):
            raise ValueError(f"generator {name!r} is registered twice (or holds a colon)")
    for label in task.labels:
        TASKS[label] = task
    for name, generator in task.generators.items():
        GENERATORS[name] = (generator, task.name)
    return task


def find_task(label: Any) -> Task | None:
    """The task of a row's label (an empty label is ``DEFAULT_TASK``); None for a label no module registered."""
    return TASKS.get(str(label or DEFAULT_TASK))


def correctness_rewards() -> frozenset[str]:
    """Every registered task's correctness reward names."""
    return frozenset(name for task in TASKS.values() for name in task.correctness)


def is_correctness_reward(func_or_name: Any) -> bool:
    """Whether a reward (a function named by its registered name, or the name itself) verifies some task."""
    name = func_or_name if isinstance(func_or_name, str) else getattr(func_or_name, "__name__", None)
    return name in correctness_rewards()


def answer_key(task: Any, text: str) -> str | None:
    """The canonical final answer of ``text`` under its task's ``answer_key`` (``DEFAULT_TASK``'s for a task that
    declares none); None when the completion gives no answer."""
    found = find_task(task)
    key = found.answer_key if found is not None and found.answer_key is not None else None
    if key is None:
        default = TASKS.get(DEFAULT_TASK)
        key = default.answer_key if default is not None else None
    if key is None:
        raise RuntimeError(f"no answer key for task {task!r}: is rlvr.tasks imported?")
    return key(text)


def task_fields(task: Any, row: dict, prompt_text: str) -> dict:
    """The columns task ``task`` adds or normalises for ``row`` (``{}`` for a task without ``fields``)."""
    found = find_task(task)
    return found.fields(row, prompt_text) if found is not None and found.fields is not None else {}


def generator(name: str, key: str = "dataset") -> tuple[Generator, str | None]:
    """``(generator, task label of its rows)`` for a registered name, or ``(generator, None)`` for a
    ``module:function`` reference (its rows take ``dataset.task``). ``key`` is the config prefix errors name."""
    if is_reference(name):
        return Generator(resolve_callable(name, f"{key}.generator")), None
    if name not in GENERATORS:
        raise UserError(f"{key}.generator: unknown generator {name!r} (known: {', '.join(sorted(GENERATORS))})")
    return GENERATORS[name]


def is_generator(name: str) -> bool:
    """Whether a mixture source names a generator (registered, or a ``module:function`` reference) rather than
    data (a hub id, a directory or files)."""
    return name in GENERATORS or is_reference(name)


def offered_rewards(task: Any) -> tuple[str, ...]:
    """The rewards task ``task`` offers (correctness first), for messages that suggest rewards."""
    found = find_task(task)
    return () if found is None else (*found.correctness, *found.shaping)
