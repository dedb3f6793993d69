"""The crossword task (rows labelled ``crossword``): clue columns and the letters-only ``crossword`` reward.

Columns: ``solution`` (the gold answer) and a letter count in ``enumeration`` (``"(5)"``,
``"(3,4)"``, ``"3-4"``) or ``length``. When a source has neither, :func:`task_fields` takes the
enumeration from the clue's trailing ``(5)`` / ``(3,4)``.

Reward ``crossword``: the answer is the last ``<answer>...</answer>`` payload, else the completion's
last non-empty line (with a leading ``Answer:`` dropped). Both sides are canonicalised to letters
only: NFKD with accents stripped, curly quotes made straight, ``&`` read as ``AND``, uppercase, and
every character outside A-Z dropped, so ``Sea-horse`` matches ``SEAHORSE``. When the row has an
``enumeration`` or ``length``, an answer with another letter count scores 0. A gold with no letters
(``"???"``) scores None: it would otherwise match every answer that has no letters either.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from rlvr.registry.reward_helpers import as_int, column, score_each
from rlvr.registry.rewards import completion_text, register
from rlvr.registry.tasks import Task, register_task
from rlvr.tasks.answers import answer_block

QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'", "`": "'"})
_PREFIX = re.compile(r"^\s*(final\s+answer|answer)\s*[:\-=]\s*", re.IGNORECASE)
_ENUMERATION = re.compile(r"\((\d+(?:\s*[,\-\s]\s*\d+)*)\)\s*$")


def task_fields(row: dict, prompt_text: str) -> dict:
    """``enumeration`` from the clue's trailing ``(5)`` / ``(3,4)`` when the source has neither
    ``enumeration`` nor ``length`` (None when the clue has none)."""
    if "enumeration" in row or "length" in row:
        return {}
    found = _ENUMERATION.search(prompt_text.strip())
    return {"enumeration": f"({found.group(1)})" if found else None}


def canon_letters(text: Any) -> str:
    """Letters-only canonical form: ``"Café & Bar!"`` -> ``"CAFEANDBAR"``."""
    s = unicodedata.normalize("NFKD", "" if text is None else str(text)).translate(QUOTES)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).replace("&", " AND ")
    return "".join(ch for ch in s.upper() if "A" <= ch <= "Z")


def enumeration_length(value: Any) -> int | None:
    """Letter count from an enumeration: ``5``, ``"(5)"``, ``"(3,4)"``, ``"3-4"`` -> 5, 5, 7, 7."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    parts = re.findall(r"\d+", str(value))
    total = sum(int(p) for p in parts) if parts and len(str(value)) < 100 else 0
    return total or None


def extract_crossword_answer(text: str) -> str:
    payload = answer_block(text)
    if payload is not None:
        return payload
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return _PREFIX.sub("", lines[-1]) if lines else ""


def score_crossword(text: str, gold: Any, expected_len: int | None = None) -> float | None:
    gold_c = canon_letters(gold)
    if not gold_c:
        return None
    answer = canon_letters(extract_crossword_answer(text))
    if expected_len is not None and len(answer) != expected_len:
        return 0.0
    return 1.0 if answer == gold_c else 0.0


@register("crossword", tasks=("crossword",))
def crossword(length_columns: Sequence[str] = ("enumeration", "length")):
    """1.0 for an exact letters-only match, else 0.0 (see the module docstring)."""
    names = [length_columns] if isinstance(length_columns, str) else list(length_columns)

    def reward(completions: list, solution: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        lengths: list[int | None] = [None] * n
        for name in reversed(names):  # the first listed column wins where several are present
            for i, value in enumerate(column(kwargs, name, n, "crossword", required=False)):
                parsed = enumeration_length(value) if not isinstance(value, float) else as_int(value)
                lengths[i] = parsed if parsed is not None else lengths[i]
        return score_each(
            "crossword", lambda c, g, k: score_crossword(completion_text(c), g, k), completions, solution, lengths
        )

    return reward


def crossword_answer_key(text: str) -> str | None:
    """The answer's letters (as ``crossword`` compares them), for the majority vote."""
    return canon_letters(extract_crossword_answer(text)) or None


TASK = register_task(Task("crossword", correctness=("crossword",), answer_key=crossword_answer_key, fields=task_fields))
