"""Task labels and the per-task columns their rewards read, filled in while rows are converted.

Every row carries a ``task`` column; rewards registered with ``tasks=...`` score only the rows
of their tasks (``rlvr.rewards.registry``). Some tasks also need columns that sources spell
differently, so each task may add or normalise them:

- ``rush_hour``: ``board`` as the grid the Rush Hour rewards read (one row per line, ``.`` empty,
  ``#`` wall). Row-major strings like ``oAABCooBCoooDDoo`` (``o`` empty, ``x`` wall, as in
  od2961/rush4-5-6-balanced) are converted; a row without a ``board`` column gets it from the
  ``Board: ...`` line of its prompt. ``moves`` (the optimal move count) becomes an int.
- ``crossword``: an ``enumeration`` taken from the clue's trailing ``(5)`` / ``(3,4)`` when the
  source has neither ``enumeration`` nor ``length``.
- ``rubric``: ``rubric`` as a list of criterion strings (from text, a list of strings, or a list
  of ``{description|criterion|title: ...}`` dicts) and ``reference_answer`` (the gold answer when
  the source has no such column).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

TASKS = ("math", "rush_hour", "crossword", "rubric")

_BOARD_LINE = re.compile(r"Board\s*:\s*([A-Za-z.#]+)\s*$", re.MULTILINE)
_BOARD_SIZE = re.compile(r"Board size\s*:\s*(\d+)\s*[x×]\s*(\d+)", re.IGNORECASE)
_ENUMERATION = re.compile(r"\((\d+(?:\s*[,\-\s]\s*\d+)*)\)\s*$")


def row_major_to_grid(board: str, height: int | None = None, width: int | None = None) -> str | None:
    """``oAABCooBCoooDDoo`` (row-major; ``o``/``.`` empty, ``x``/``#`` wall) -> a grid string, or None."""
    cells = board.strip()
    if height is None or width is None:
        side = math.isqrt(len(cells))
        height = width = side
    if height * width != len(cells) or not cells:
        return None
    cells = cells.replace("o", ".").replace("x", "#")
    return "\n".join(cells[r * width : (r + 1) * width] for r in range(height))


def rush_hour_board(board: Any, size: Any, prompt_text: str) -> str | None:
    """The row's board as a grid string (see the module docstring), or None when it cannot be read."""
    dims = None
    if isinstance(size, int) or (isinstance(size, str) and size.strip().isdigit()):
        dims = (int(size), int(size))
    if not isinstance(board, str) or not board.strip():
        found = _BOARD_LINE.search(prompt_text)
        if found is None:
            return None
        board = found.group(1)
        sized = _BOARD_SIZE.search(prompt_text)
        if dims is None and sized:
            dims = (int(sized.group(1)), int(sized.group(2)))
    text = board.strip()
    if "\n" in text:
        return text
    return row_major_to_grid(text, *(dims or (None, None)))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def rush_hour_fields(row: dict, prompt_text: str) -> dict:
    return {
        "board": rush_hour_board(row.get("board"), row.get("size"), prompt_text),
        "moves": _int_or_none(row.get("moves")),
    }


def crossword_fields(row: dict, prompt_text: str) -> dict:
    if "enumeration" in row or "length" in row:
        return {}
    found = _ENUMERATION.search(prompt_text.strip())
    return {"enumeration": f"({found.group(1)})" if found else None}


def rubric_criteria(value: Any) -> list[str]:
    """Rubric criteria as strings from text, a list of strings, or a list of dicts."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        value = [value]
    out = []
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, dict):
            text = next((item[k] for k in ("description", "criterion", "rubric", "title", "text") if item.get(k)), None)
            text = str(text) if text is not None else ", ".join(f"{k}: {v}" for k, v in item.items())
        else:
            text = str(item)
        if text.strip():
            out.append(text)
    return out


def rubric_fields(row: dict, prompt_text: str) -> dict:
    reference = row.get("reference_answer")
    return {
        "rubric": rubric_criteria(row.get("rubric")),
        "reference_answer": str(reference) if reference is not None else row.get("solution"),
    }


TASK_FIELDS: dict[str, Callable[[dict, str], dict]] = {
    "rush_hour": rush_hour_fields,
    "crossword": crossword_fields,
    "rubric": rubric_fields,
}


def task_fields(task: str, row: dict, prompt_text: str) -> dict:
    """Extra or normalised columns for a row of ``task`` (``row`` already holds the mapped columns)."""
    fill = TASK_FIELDS.get(task)
    return fill(row, prompt_text) if fill else {}
