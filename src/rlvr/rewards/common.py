"""Helpers shared by the reward families: answer extraction, column access, per-item safety."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from loguru import logger

from rlvr.errors import UserError

ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def answer_block(text: str) -> str | None:
    """The payload of the last complete ``<answer>...</answer>`` block, or None.

    Found with ``rfind`` rather than a regex so that adversarial text (a megabyte of unclosed
    ``<answer>`` tags) costs linear time.
    """
    end = text.rfind(ANSWER_CLOSE)
    if end < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, end)
    if start < 0:
        return None
    return text[start + len(ANSWER_OPEN) : end]


_BOXED = re.compile(r"\\boxed\s*\{")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text`` (balanced braces), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    i = j = starts[-1]
    depth = 1
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i : j - 1].strip() if depth == 0 else None


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
