"""Rush Hour columns filled while rows are loaded (:mod:`rlvr.data.sources`), whatever the source.

- ``board``: the grid the rewards read (format in :mod:`.board`). Row-major strings like
  ``oAABCooBCoooDDoo`` (``o`` empty, ``x`` wall, as in od2961/rush4-5-6-balanced) are converted;
  a row without a ``board`` column gets it from the ``Board: ...`` line of its prompt (sized by
  the row's ``size`` or the prompt's ``Board size: 4x4``). Rows left without a readable board
  are dropped (``REQUIRED_COLUMN``).
- ``moves``: the optimal move count, as an int (None when missing).
"""

from __future__ import annotations

import math
import re
from typing import Any

REQUIRED_COLUMN = "board"

_BOARD_LINE = re.compile(r"Board\s*:\s*([A-Za-z.#]+)\s*$", re.MULTILINE)
_BOARD_SIZE = re.compile(r"Board size\s*:\s*(\d+)\s*[x×]\s*(\d+)", re.IGNORECASE)


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


def task_fields(row: dict, prompt_text: str) -> dict:
    """``board`` and ``moves`` of a Rush Hour row (``row`` already holds the mapped columns)."""
    return {
        "board": rush_hour_board(row.get("board"), row.get("size"), prompt_text),
        "moves": _int_or_none(row.get("moves")),
    }
