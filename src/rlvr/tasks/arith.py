"""The arithmetic task (`dataset=arith`, the offline default): seeded synthetic problems.

Problems are expressions like ``47+38`` (the prompt text is the bare expression; the tiny model
is warm-started on it without a system prompt) whose gold answer is the integer result, scored
by the math task's rewards (:mod:`rlvr.tasks.math`; rows are labelled ``math``). The
generator mixes operators and operand sizes so that prompts differ in pass rate (easy
one-digit sums next to hard three-digit ones), which gives prompt prioritisation something
to find. The train and held-out splits are disjoint by construction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

OPS = ("+", "-", "*")


@dataclass(frozen=True)
class ArithLevel:
    """One difficulty level: an operator and the digit counts of its two operands."""

    op: str
    digits_a: int
    digits_b: int
    weight: float = 1.0


def parse_levels(spec: list[str]) -> list[ArithLevel]:
    """Parse level strings like ``"2+2"`` (2-digit plus 2-digit) or ``"3*1:0.5"`` (weight 0.5)."""
    levels = []
    for item in spec:
        body, _, weight = str(item).partition(":")
        op = next((c for c in body if c in OPS), None)
        if op is None:
            raise ValueError(f"dataset.generator_kwargs.levels: {item!r} has no operator (use one of {OPS})")
        left, right = body.split(op, 1)
        try:
            level = ArithLevel(op, int(left), int(right), float(weight) if weight else 1.0)
        except ValueError:
            raise ValueError(f"dataset.generator_kwargs.levels: {item!r} must look like '2+2' or '3*1:0.5'") from None
        if not (1 <= level.digits_a <= 6 and 1 <= level.digits_b <= 6) or level.weight <= 0:
            raise ValueError(f"dataset.generator_kwargs.levels: {item!r} needs 1-6 digits and a positive weight")
        levels.append(level)
    if not levels:
        raise ValueError("dataset.generator_kwargs.levels must list at least one level, e.g. ['2+2']")
    return levels


def _operand(rng: random.Random, digits: int) -> int:
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def make_problem(rng: random.Random, level: ArithLevel) -> tuple[str, int]:
    a, b = _operand(rng, level.digits_a), _operand(rng, level.digits_b)
    if level.op == "-" and b > a:
        a, b = b, a  # keep answers non-negative: the task is about arithmetic, not signs
    value = a + b if level.op == "+" else a - b if level.op == "-" else a * b
    return f"{a}{level.op}{b}", value


def generate_arith(n_train: int, n_eval: int, levels: list[str], seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Return ``(train_rows, eval_rows)``; rows are ``{"problem", "answer", "level"}``.

    The held-out rows are drawn first (distinct problems) and every train row whose problem
    appears among them is redrawn, so the splits never share a problem; train rows may repeat
    (small levels such as ``1+1`` have only 100 problems). The same seed gives the same rows.
    """
    parsed = parse_levels(levels)
    weights = [lv.weight for lv in parsed]
    rng = random.Random(seed)

    def draw(n: int, exclude: set[str], distinct: bool) -> list[dict]:
        rows, seen = [], set()
        attempts = 0
        while len(rows) < n:
            attempts += 1
            if attempts > 50 * n + 1000:
                raise ValueError(
                    f"dataset: cannot draw {n} distinct arithmetic problems from levels {levels}; "
                    "lower max_train_samples/eval_size or add harder levels"
                )
            level = rng.choices(parsed, weights)[0]
            problem, value = make_problem(rng, level)
            if problem in exclude or (distinct and problem in seen):
                continue
            seen.add(problem)
            rows.append(
                {"problem": problem, "answer": str(value), "level": f"{level.digits_a}{level.op}{level.digits_b}"}
            )
        return rows

    eval_rows = draw(n_eval, set(), distinct=True)
    train_rows = draw(n_train, {r["problem"] for r in eval_rows}, distinct=False)
    return train_rows, eval_rows


def generate_rows(n_train: int, n_eval: int, kwargs: dict[str, Any], seed: int) -> tuple[list[dict], list[dict]]:
    """The ``arith`` generator (:mod:`rlvr.data.generators`): ``levels`` (default ``["2+2"]``) and
    the other keyword arguments of :func:`generate_arith` come from ``generator_kwargs``."""
    kwargs = dict(kwargs)
    levels = list(kwargs.pop("levels", ["2+2"]))
    return generate_arith(n_train, n_eval, levels, seed=seed, **kwargs)
