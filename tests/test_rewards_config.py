"""Every conf/rewards option composes against the schema and builds its reward functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rlvr.config import register_configs
from rlvr.rewards import build_rewards

CONF = Path(__file__).resolve().parents[1] / "conf"
OPTIONS = sorted(p.stem for p in (CONF / "rewards").glob("*.yaml"))


@pytest.mark.parametrize("option", OPTIONS)
def test_rewards_option_builds(option: str) -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"rewards={option}"])
    specs = OmegaConf.to_container(cfg.rewards.funcs, resolve=True)
    funcs, weights = build_rewards(specs)
    assert [f.__name__ for f in funcs] == [s["name"] for s in specs]
    assert len(weights) == len(funcs) and all(w > 0 for w in weights)


def test_mixture_routes_each_task_to_its_reward() -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["rewards=mixture"])
    funcs, _ = build_rewards(OmegaConf.to_container(cfg.rewards.funcs, resolve=True))
    batch = {
        "completions": ["\\boxed{85}", "<answer>A>2</answer>", "<answer>apple</answer>"],
        "task": ["arith", "rush_hour", "crossword"],
        "solution": ["85", "A>2", "APPLE"],
        "board": [None, "....\nAA..\n....\n....", None],
        "moves": [None, 1, None],
    }
    table = [f(**batch) for f in funcs]
    assert table == [[1.0, None, None], [None, 1.0, None], [None, None, 1.0]]
