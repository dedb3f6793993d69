"""Seeding every random generator a run draws from (Python, NumPy, torch) from the config's ``seed``."""

from __future__ import annotations

import random

import numpy as np
import torch as th


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    th.manual_seed(seed)
