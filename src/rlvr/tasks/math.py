"""The math task (rows labelled ``math``; the ``arith`` generator's rows too): its correctness rewards.

- ``accuracy``: the final answer (the last ``\\boxed{}``) against the gold ``solution`` (with an
  optional ``strict_numeric`` guard against echoed expressions); see
  :func:`rlvr.tasks.math_norm.score_boxed`.
- ``answer_tag``: the last ``<answer>...</answer>`` payload against the gold; see
  :func:`score_answer_tag`.

Both judge answers with :func:`rlvr.tasks.math_norm.score_answer` (numbers, percentages, words,
math-verify for the rest; unscorable golds give None), as does the length-scaled ``cosine`` shaping
reward (:mod:`rlvr.rewards.cosine`), so the three agree on what is correct. All three serve the
``math`` and ``arith`` tasks by default (``MATH_TASKS``, defined in :mod:`rlvr.tasks.math_norm` so
that ``rlvr.rewards`` can import it without importing this module back). Gold answers come from
the dataset's answer column (``answer_format=boxed`` reads them with
:func:`rlvr.tasks.answers.last_boxed`); the prompt text is the preset's system prompt
(``conf/dataset/deepscaler.yaml``: "... Put the final answer in \\boxed{}.").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlvr.registry.reward_helpers import score_each
from rlvr.registry.rewards import completion_text, register
from rlvr.registry.tasks import Generator, Task, register_task
from rlvr.tasks import arith
from rlvr.tasks.answers import answer_block, last_boxed, payload_answer
from rlvr.tasks.math_norm import MATH_TASKS, canon_math, read_gold, score_answer, score_boxed

__all__ = ["MATH_TASKS", "TASK", "accuracy", "answer_tag", "math_answer_key", "score_answer_tag", "score_boxed"]


@register("accuracy", tasks=MATH_TASKS)
def accuracy(strict_numeric: bool = False, max_chars: int = 256):
    """1.0 when the final answer equals the gold, else 0.0; ``None`` when the gold cannot be scored.

    - The final answer is the content of the **last** ``\\boxed{...}`` (``\\boxed {7}`` with a space
      counts; an unclosed last box, or none, is no answer: 0.0). Only that content is judged, so
      ``\\boxed{85}, i.e. \\boxed{84}`` answers 84.
    - Golds: a number, plain words (``Yes``, ``New York``: compared case-, whitespace- and
      punctuation-insensitively, never as products of symbols), or math that math-verify parses;
      anything else (``unparseable_latex``, ``5 apples``, empty) scores None.
    - Percentages: ``50\\%``, ``50 \\%``, ``50%`` and ``50`` are the same answer, gold or answer
      side; ``0.5`` is not ``50\\%`` (else ``0.5`` would equal ``50``).
    - ``strict_numeric``: a number gold only matches a number literal (``\\frac{170}{2}`` counts).
      Without it, math-verify evaluates expressions, so ``\\boxed{47+38}`` scores 1.0 against ``85``.
    - ``max_chars``: answers longer than ``max(max_chars, 20 x gold)`` score 0.0 unparsed.

    See :mod:`rlvr.tasks.math_norm` for the exact rules. Logs ``solution``, ``gold_parsed`` and
    ``answer_parsed`` to the completions table when the trainer passes ``log_extra``.
    """

    def one(completion: Any, gold: Any) -> float | None:
        return score_boxed(completion_text(completion), gold, strict_numeric, max_chars)

    def reward(completions: list, solution: list, **kwargs: Any) -> list[float | None]:
        scores = score_each("accuracy", one, completions, solution)
        log_extra: Callable[[str, list], None] | None = kwargs.get("log_extra")
        if callable(log_extra):
            golds = [read_gold(s) for s in solution]
            answers = [last_boxed(completion_text(c)) for c in completions]
            log_extra("solution", list(solution))
            log_extra("gold_parsed", ["[unscorable]" if g is None else g.describe() for g in golds])
            log_extra("answer_parsed", ["[no box]" if a is None else a for a in answers])
        return scores

    return reward


def score_answer_tag(text: str, gold: Any, strict_numeric: bool = True, max_chars: int = 256) -> float | None:
    """1.0 when the last ``<answer>`` payload (or the last ``\\boxed{}`` inside it) answers the gold
    under the rules of ``accuracy`` (number golds need a number literal with ``strict_numeric``),
    0.0 otherwise, None when the gold cannot be scored. Payloads longer than
    ``max(max_chars, 20 x gold)`` score 0.0 without parsing."""
    read = read_gold(gold)
    if read is None:
        return None
    payload = answer_block(text)
    if payload is None or len(payload) > max(max_chars, 20 * len(read.content)):
        return 0.0
    return score_answer(payload_answer(payload), read, strict_numeric, max_chars)


@register("answer_tag", tasks=MATH_TASKS)
def answer_tag(strict_numeric: bool = True, max_chars: int = 256):
    """Math answer inside ``<answer>`` tags; see :func:`score_answer_tag`."""

    def one(completion: Any, gold: Any) -> float | None:
        return score_answer_tag(completion_text(completion), gold, strict_numeric, max_chars)

    def reward(completions: list, solution: list, **_: Any) -> list[float | None]:
        return score_each("answer_tag", one, completions, solution)

    return reward


def math_answer_key(text: str) -> str | None:
    """The final answer the math rewards read, for the majority vote: the last box (inside the last ``<answer>``
    block when it holds one; else that block's text), canonicalised by :func:`rlvr.tasks.math_norm.canon_math`."""
    payload = answer_block(text)
    answer = payload_answer(payload) if payload is not None and "\\boxed" in payload else last_boxed(text)
    if answer is None and payload is not None:
        answer = payload.strip()
    if not answer:
        return None
    return canon_math(answer) or answer


TASK = register_task(
    Task(
        "math",
        correctness=("accuracy", "answer_tag"),
        shaping=("cosine",),
        answer_key=math_answer_key,
        generators={"arith": Generator(arith.generate_rows, n_train=20000)},
        aliases=tuple(t for t in MATH_TASKS if t != "math"),
    )
)
