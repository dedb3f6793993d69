"""Step schedules of the replay ratio and the EASY-pool probability (``rlvr.replay.schedule``)."""

from __future__ import annotations

import pytest

from rlvr.replay.schedule import piecewise, replay_ratio


def test_schedules() -> None:
    assert replay_ratio("constant", 0.5, 0.0, 0, [], 7) == 0.5
    assert replay_ratio("linear", 0.5, 0.1, 10, [], 5) == pytest.approx(0.3)
    assert replay_ratio("linear", 0.5, 0.1, 10, [], 20) == 0.5
    points = [[0, 0.2], [10, 0.5], [20, 0.0]]
    assert [piecewise(points, s) for s in (0, 9, 10, 25)] == [0.2, 0.2, 0.5, 0.0]
    with pytest.raises(ValueError, match="replay.ratio_schedule"):
        replay_ratio("cosine", 0.5, 0.0, 0, [], 0)
