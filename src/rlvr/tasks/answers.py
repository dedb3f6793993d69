"""Answer extraction shared by data loading and the task rewards: the last ``\\boxed{...}`` and the
last ``<answer>...</answer>`` block of a text.

This is the one place these rules live: ``dataset.answer_format=boxed`` (:mod:`rlvr.data.sources`)
reads gold answers with :func:`last_boxed`, and the math rewards read model answers with it: a
completion's final answer is its last box (``accuracy``, ``cosine``), or the last box inside its
last ``<answer>`` block when that block holds one (``answer_tag``, :func:`payload_answer`).
"""

from __future__ import annotations

ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
BOXED = "\\boxed"


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text``, stripped, or None.

    - Whitespace may separate ``\\boxed`` from its ``{`` (``\\boxed {7}`` -> ``7``); a ``\\boxed``
      not followed by ``{`` is not a box.
    - The content runs to the brace that balances the opening one, so nested braces are kept
      (``\\boxed{\\frac{1}{2}}`` -> ``\\frac{1}{2}``).
    - With several boxes the last one wins (the one that starts last, so an inner box beats the
      box around it); when that box never closes, the answer is None (not an earlier box).
    """
    start = text.rfind(BOXED)
    while start >= 0:
        i = start + len(BOXED)
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "{":
            depth, j = 1, i + 1
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            return text[i + 1 : j - 1].strip() if depth == 0 else None
        start = text.rfind(BOXED, 0, start)
    return None


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


def payload_answer(payload: str) -> str | None:
    """The answer an ``<answer>`` payload gives: its last ``\\boxed{...}`` when it holds a ``\\boxed``
    (None when that box never closes or has no brace), else the whole payload, stripped."""
    return last_boxed(payload) if BOXED in payload else payload.strip()
