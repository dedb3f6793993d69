"""Step schedules for the replay ratio and the EASY-pool probability."""

from __future__ import annotations

from collections.abc import Sequence


def piecewise(points: Sequence[Sequence[float]], step: int) -> float:
    """Piecewise-constant schedule: the value of the last ``(step, value)`` point at or before ``step``.

    Before the first point the first value applies; ``[]`` means 0.
    """
    if not points:
        return 0.0
    ordered = sorted((int(s), float(v)) for s, v in points)
    value = ordered[0][1]
    for start, v in ordered:
        if start <= step:
            value = v
        else:
            break
    return value


def replay_ratio(kind: str, ratio: float, start: float, ramp_steps: int, points: Sequence, step: int) -> float:
    """The fraction of prompt groups to take from the buffer at ``step``.

    ``constant``: ``ratio``; ``linear``: from ``start`` to ``ratio`` over ``ramp_steps``;
    ``piecewise``: :func:`piecewise` over ``points``.
    """
    if kind == "constant":
        return ratio
    if kind == "linear":
        if ramp_steps <= 0 or step >= ramp_steps:
            return ratio
        return start + (ratio - start) * step / ramp_steps
    if kind == "piecewise":
        return piecewise(points, step)
    raise ValueError(f"replay.ratio_schedule: {kind!r} is not one of constant, linear, piecewise")
