"""pass@k and maj@k from n sampled completions per problem, and the summary tables ``exp/evaluate.py`` writes.

- **pass@k** is the unbiased estimator of Chen et al. (2021): with ``c`` correct completions among ``n`` samples,
  ``1 - C(n-c, k) / C(n, k)``, computed as the product ``prod_{i=n-c+1}^{n} (1 - k/i)`` so that no binomial
  coefficient is ever formed (exact for small counts, no overflow for large ones).
- **maj@k**: the majority vote over the final answers of k completions (extracted the way the task's reward reads
  them: the ``answer_key`` its task declares, ``rlvr.registry.tasks``); the vote is correct when the completion that gave the voted answer scored as correct
  (so the task's own verifier decides, not a string comparison with the gold answer). Completions with no
  extractable answer do not vote; ties go to the answer seen first. With ``n`` samples the n samples are cut into
  ``n // k`` disjoint groups of k and maj@k is the mean vote accuracy over those groups.

Everything here is pure Python: no model, no torch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate for one problem: ``1 - C(n-c, k) / C(n, k)``.

    ``n`` samples, ``c`` of them correct, ``1 <= k <= n``. When fewer than k samples are wrong (``n - c < k``)
    every draw of k contains a correct one: 1.0.
    """
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def majority_vote(keys: Sequence[str | None]) -> int | None:
    """Index of the completion that represents the most frequent non-None answer (ties: the answer seen first),
    or None when no completion has an answer."""
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    top = max(counts.values())
    winner = next(k for k in keys if k is not None and counts[k] == top)
    return keys.index(winner)


def maj_at_k(keys: Sequence[str | None], solved: Sequence[bool], k: int) -> float:
    """maj@k of one problem: mean vote accuracy over the ``len(keys) // k`` disjoint groups of k samples."""
    if len(keys) != len(solved):
        raise ValueError(f"maj_at_k: {len(keys)} answers but {len(solved)} scores")
    if not 1 <= k <= len(keys):
        raise ValueError(f"maj_at_k: need 1 <= k <= n, got k={k}, n={len(keys)}")
    votes = []
    for start in range(0, len(keys) - k + 1, k):
        idx = majority_vote(keys[start : start + k])
        votes.append(idx is not None and bool(solved[start + idx]))
    return sum(votes) / len(votes)


@dataclass
class Sample:
    """One completion: whether it solved the problem, its answer key, tokens, and whether it hit the limit."""

    solved: bool
    tokens: int
    truncated: bool
    key: str | None = None


@dataclass
class ProblemResult:
    """Everything measured on one problem: the greedy completion and the n sampled ones."""

    index: int
    task: str
    group: str | None
    greedy: Sample
    samples: list[Sample] = field(default_factory=list)
    unscored: int = 0  # completions no correctness reward could score (counted as unsolved)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def metrics(problems: Sequence[ProblemResult], k_values: Sequence[int]) -> dict[str, Any]:
    """greedy (pass@1 greedy), pass@k, maj@k, mean completion tokens and truncation rates over ``problems``."""
    out: dict[str, Any] = {"n": len(problems), "greedy": _mean(p.greedy.solved for p in problems)}
    sampled = [p for p in problems if p.samples]
    for k in k_values:
        out[f"pass@{k}"] = _mean(pass_at_k(len(p.samples), sum(s.solved for s in p.samples), k) for p in sampled)
    for k in k_values:
        out[f"maj@{k}"] = _mean(maj_at_k([s.key for s in p.samples], [s.solved for s in p.samples], k) for p in sampled)
    out["greedy_mean_tokens"] = _mean(p.greedy.tokens for p in problems)
    out["greedy_truncation_rate"] = _mean(p.greedy.truncated for p in problems)
    samples = [s for p in sampled for s in p.samples]
    out["sample_mean_tokens"] = _mean(s.tokens for s in samples)
    out["sample_truncation_rate"] = _mean(s.truncated for s in samples)
    out["unscored"] = sum(p.unscored for p in problems)
    return out


def breakdown(problems: Sequence[ProblemResult], k_values: Sequence[int]) -> dict[str, Any]:
    """:func:`metrics` overall, per task and per value of the dataset's group column."""
    by_task: dict[str, list[ProblemResult]] = {}
    by_group: dict[str, list[ProblemResult]] = {}
    for p in problems:
        by_task.setdefault(p.task, []).append(p)
        if p.group is not None:
            by_group.setdefault(p.group, []).append(p)
    return {
        "metrics": metrics(problems, k_values),
        "per_task": {t: metrics(ps, k_values) for t, ps in sorted(by_task.items())},
        "per_group": {g: metrics(ps, k_values) for g, ps in sorted(by_group.items())},
    }
