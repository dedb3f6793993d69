"""Helpers shared by the reward functions: column access, per-item safety, int parsing.

Answer extraction (``\\boxed{}``, ``<answer>`` blocks) lives in :mod:`rlvr.tasks.answers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from loguru import logger

from rlvr.errors import UserError


def column(kwargs: dict[str, Any], name: str, n: int, reward: str, required: bool = True) -> list[Any]:
    """The dataset column ``name`` as a list of ``n`` values (all None when absent and optional)."""
    values = kwargs.get(name)
    if values is None:
        if required:
            given = sorted(k for k, v in kwargs.items() if isinstance(v, list))
            raise UserError(f"reward {reward} needs the dataset column {name!r}; the rows have {given}")
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"reward {reward}: column {name!r} has {len(values)} values for {n} completions")
    return values


def score_each(reward: str, fn: Callable[..., float | None], *columns: Sequence[Any]) -> list[float | None]:
    """``[fn(*row) for row in zip(*columns)]``, where a failure on one item scores None (and warns)
    instead of ending a training run: model output is arbitrary text."""
    out: list[float | None] = []
    failures = 0
    first = ""
    for args in zip(*columns, strict=True):
        try:
            out.append(fn(*args))
        except Exception as err:  # a reward must never crash training on odd output
            failures += 1
            first = first or f"{type(err).__name__}: {err}"[:300]
            out.append(None)
    if failures:
        logger.warning(f"reward {reward}: {failures} of {len(out)} completions could not be scored ({first})")
    return out


def as_int(value: Any) -> int | None:
    """``value`` as an int (``3``, ``"3"``, ``3.0``), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None
