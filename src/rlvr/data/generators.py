"""Synthetic data generators by name (``dataset.generator`` or a mixture source named after one).

A small dispatch table: each entry points at a task module's ``generate_rows(n_train, n_eval,
kwargs, seed) -> (train_rows, eval_rows)`` (seeded, disjoint lists of plain dicts that the loader
turns into prompts like any other source), with the ``task`` label of its rows and its default
number of train rows. ``generator_kwargs`` go to the generator; ``n_train`` (how many train rows)
is common to all of them.

- ``arith``: :func:`rlvr.tasks.arith.generate_rows` (``levels`` and the other arguments of
  ``generate_arith``); rows labelled ``math``.
- ``rush_hour``: :func:`rlvr.tasks.rush_hour.generate_rows` (``sizes``, ``min_moves``,
  ``max_moves``, ``wall_prob``, ``max_states``); rows labelled ``rush_hour``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlvr.errors import UserError
from rlvr.tasks import arith, rush_hour


@dataclass(frozen=True)
class Generator:
    make: Callable[[int, int, dict[str, Any], int], tuple[list[dict], list[dict]]]
    task: str  # default `task` label of its rows
    n_train: int  # default number of train rows


GENERATORS: dict[str, Generator] = {
    "arith": Generator(arith.generate_rows, task="math", n_train=20000),
    "rush_hour": Generator(rush_hour.generate_rows, task="rush_hour", n_train=2000),
}


def generator_n_train(name: str, kwargs: dict[str, Any] | None) -> int:
    return int((kwargs or {}).get("n_train", GENERATORS[name].n_train))


def generate(
    name: str,
    kwargs: dict[str, Any] | None,
    n_eval: int,
    seed: int,
    key: str = "dataset",
    n_train: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """Rows from generator ``name``; ``n_train`` overrides ``generator_kwargs.n_train``. ``key`` is the
    config prefix that error messages name (``dataset`` or ``dataset.sources[1]``)."""
    if name not in GENERATORS:
        raise UserError(f"{key}.generator: unknown generator {name!r} (known: {', '.join(GENERATORS)})")
    kwargs = dict(kwargs or {})
    default_n = int(kwargs.pop("n_train", GENERATORS[name].n_train))
    n = default_n if n_train is None else n_train
    try:
        return GENERATORS[name].make(n, n_eval, kwargs, seed)
    except TypeError as err:  # an unknown keyword argument
        raise UserError(f"{key}.generator_kwargs: {err} (generator {name!r})") from None
    except ValueError as err:
        raise UserError(f"{key}.generator_kwargs: {err}") from None
