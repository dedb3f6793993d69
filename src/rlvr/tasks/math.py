"""The math task (rows labelled ``math``; the ``arith`` generator's rows too): its correctness rewards.

- ``accuracy``: TRL's math-verify accuracy on the first ``\\boxed{}`` answer against the gold
  ``solution`` (with an optional ``strict_numeric`` guard against echoed expressions).
- ``answer_tag``: the last ``<answer>...</answer>`` payload against the gold, after the
  canonicalisation of :mod:`rlvr.tasks.math_norm`.

Both serve the ``math`` and ``arith`` tasks by default (``MATH_TASKS``). Gold answers come from
the dataset's answer column (``answer_format=boxed`` reads them with
:func:`rlvr.tasks.answers.last_boxed`); the prompt text is the preset's system prompt
(``conf/dataset/deepscaler.yaml``: "... Put the final answer in \\boxed{}."). The length-scaled
``cosine`` variant is a shaping reward and lives in :mod:`rlvr.rewards.cosine`.
"""

from __future__ import annotations

from typing import Any

from trl.rewards import accuracy_reward

from rlvr.rewards.common import score_each
from rlvr.rewards.registry import completion_text, register
from rlvr.tasks.answers import answer_block, last_boxed
from rlvr.tasks.math_norm import as_gold, as_number, canon_math, math_equal

MATH_TASKS = ("math", "arith")


def _echo_guard(text: str, gold: Any) -> bool:
    """True when a number gold meets a boxed answer that is not a number literal (``47+38``)."""
    if as_number(canon_math(gold)) is None:
        return False
    boxed = last_boxed(text)
    return boxed is not None and as_number(canon_math(boxed)) is None


@register("accuracy", tasks=MATH_TASKS)
def accuracy(strict_numeric: bool = False):
    """1.0 when the first ``\\boxed{}`` answer equals the gold (math-verify), else 0.0; ``None``
    when the gold itself cannot be parsed.

    ``strict_numeric``: a number gold only matches a boxed number literal. Without it,
    math-verify evaluates expressions, so ``\\boxed{47+38}`` scores 1.0 against the gold ``85``.
    """

    def reward(completions: list, solution: list, **kwargs: Any) -> list[float | None]:
        raw = [completion_text(c) for c in completions]
        texts = [[{"role": "assistant", "content": t}] for t in raw]
        golds = [as_gold(s) for s in solution]
        scores = accuracy_reward(texts, golds, log_extra=kwargs.get("log_extra"))
        if strict_numeric:
            scores = [0.0 if s and _echo_guard(t, g) else s for s, t, g in zip(scores, raw, solution, strict=True)]
        return scores

    return reward


def score_answer_tag(text: str, gold: Any, strict_numeric: bool = True, max_chars: int = 256) -> float | None:
    """1.0 when the last ``<answer>`` payload equals the gold after canonicalisation (or is
    math-verify equivalent; number golds need a number literal with ``strict_numeric``), 0.0
    otherwise, None when the gold is empty. Payloads longer than ``max(max_chars, 20 x gold)``
    score 0.0 without parsing: no correct answer is that long, and parsing would be slow."""
    gold_text = "" if gold is None else str(gold).strip()
    if not canon_math(gold_text):
        return None
    payload = answer_block(text)
    if payload is None or not payload.strip() or len(payload) > max(max_chars, 20 * len(gold_text)):
        return 0.0
    return 1.0 if math_equal(payload, gold_text, strict_numeric=strict_numeric) else 0.0


@register("answer_tag", tasks=MATH_TASKS)
def answer_tag(strict_numeric: bool = True, max_chars: int = 256):
    """Math answer inside ``<answer>`` tags; see :func:`score_answer_tag`."""

    def one(completion: Any, gold: Any) -> float | None:
        return score_answer_tag(completion_text(completion), gold, strict_numeric, max_chars)

    def reward(completions: list, solution: list, **_: Any) -> list[float | None]:
        return score_each("answer_tag", one, completions, solution)

    return reward
