"""The training pool as the replay mixin draws from it: :class:`PromptPool`.

Pre-rollout skipping fills a skipped slot with the next fresh prompt, and dynamic-sampling refill generates
further groups; both take them from the training dataset through this cursor: a seeded permutation of the rows,
walked in order and reshuffled at the end of each pass. Its state (seed, pass, position) is three integers,
saved in every checkpoint (``rlvr_state.json``), so a resumed run draws the same prompts; every process holds
the same cursor and draws the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PromptPool"]


class PromptPool:
    """A seeded, endlessly reshuffled walk over ``rows`` (see the module docstring)."""

    def __init__(self, rows: list[dict[str, Any]], seed: int) -> None:
        if not rows:
            raise ValueError("PromptPool: no rows")
        self.rows = rows
        self.seed = int(seed)
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))

    def draw(self) -> dict[str, Any]:
        """The next row of the walk."""
        if self.position == len(self.rows):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        row = self.rows[int(self._order[self.position])]
        self.position += 1
        return row

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position, "size": len(self.rows)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["size"]) != len(self.rows):
            raise ValueError(f"the checkpoint's pool had {state['size']} rows, this run's has {len(self.rows)}")
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)
