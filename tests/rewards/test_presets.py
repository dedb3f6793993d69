"""Every conf/rewards option composes against the schema, converts to typed ``RewardSpec`` entries and
builds its reward functions."""

from __future__ import annotations

import pytest

from rlvr.config import RewardsConfig
from rlvr.rewards import build_rewards, declared_routes
from tests.helpers.cli import CONF_DIR
from tests.helpers.config import typed_cfg

OPTIONS = sorted(p.stem for p in (CONF_DIR / "rewards").glob("*.yaml"))


def compose_rewards(option: str) -> RewardsConfig:
    return typed_cfg([f"rewards={option}"]).rewards


@pytest.mark.parametrize("option", OPTIONS)
def test_rewards_option_builds(option: str) -> None:
    specs = compose_rewards(option).funcs
    funcs, weights = build_rewards(specs)
    assert [f.__name__ for f in funcs] == [s.name for s in specs]
    assert len(weights) == len(funcs) and all(w > 0 for w in weights)


@pytest.mark.parametrize("option", OPTIONS)
def test_declared_routes_are_what_the_built_rewards_serve(option: str) -> None:
    """The CLI checks task coverage from the registry before it builds anything (rlvr.preflight): it must read the
    same served tasks as the built rewards, with and without a ``tasks`` override."""
    specs = compose_rewards(option).funcs
    specs[0].kwargs["tasks"] = ["rush_hour"]  # an override on the first; the others keep their defaults
    built, _ = build_rewards(specs)
    declared = declared_routes(specs)
    assert [(r.name, r.tasks) for r in declared] == [(f.__name__, f.tasks) for f in built]
    assert declared[0].tasks == {"rush_hour"}


def test_mixture_routes_each_task_to_its_reward() -> None:
    funcs, _ = build_rewards(compose_rewards("mixture").funcs)
    batch = {
        "completions": ["\\boxed{85}", "<answer>A>2</answer>", "<answer>apple</answer>"],
        "task": ["arith", "rush_hour", "crossword"],
        "solution": ["85", "A>2", "APPLE"],
        "board": [None, "....\nAA..\n....\n....", None],
        "moves": [None, 1, None],
    }
    table = [f(**batch) for f in funcs]
    assert table == [[1.0, None, None], [None, 1.0, None], [None, None, 1.0]]
