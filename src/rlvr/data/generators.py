"""Rows from a synthetic data generator (``dataset.generator``, or a mixture source named after one).

Generators are declared by their tasks (``Task(generators={...})``, :mod:`rlvr.registry.tasks`; the built-in
ones: ``arith`` in :mod:`rlvr.tasks.math`, rows labelled ``math``; ``rush_hour`` in :mod:`rlvr.tasks.rush_hour`)
or named by reference (``my_pkg.data:make_rows``, ``path/to/file.py:make_rows``). Each is
``make(n_train, n_eval, kwargs, seed) -> (train_rows, eval_rows)``: seeded, disjoint lists of plain dicts that
the loader turns into prompts like any other source. ``generator_kwargs`` go to the generator, except
``n_train`` (how many train rows, default the generator's own), which is common to all of them.
"""

from __future__ import annotations

from typing import Any

from rlvr.errors import UserError
from rlvr.tasks import generator


def generator_n_train(name: str, kwargs: dict[str, Any] | None, key: str = "dataset") -> int:
    return int((kwargs or {}).get("n_train", generator(name, key)[0].n_train))


def generate(
    name: str,
    kwargs: dict[str, Any] | None,
    n_eval: int,
    seed: int,
    key: str = "dataset",
    n_train: int | None = None,
) -> tuple[list[dict], list[dict], str | None]:
    """``(train_rows, eval_rows, task)`` from generator ``name``; ``task`` is the label its task declares (None
    for a generator named by reference: the source's ``task`` labels its rows). ``n_train`` overrides
    ``generator_kwargs.n_train``. ``key`` is the config prefix that error messages name (``dataset`` or
    ``dataset.sources[1]``)."""
    gen, task = generator(name, key)
    kwargs = dict(kwargs or {})
    default_n = int(kwargs.pop("n_train", gen.n_train))
    n = default_n if n_train is None else n_train
    try:
        train, held_out = gen.make(n, n_eval, kwargs, seed)
    except TypeError as err:  # an unknown keyword argument
        raise UserError(f"{key}.generator_kwargs: {err} (generator {name!r})") from None
    except ValueError as err:
        raise UserError(f"{key}.generator_kwargs: {err}") from None
    return list(train), list(held_out), task
