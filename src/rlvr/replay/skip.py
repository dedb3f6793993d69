"""Pre-rollout skipping (GRESO-style): cheap per-prompt statistics and the skip rule.

:class:`PromptStats` keeps, for every prompt ever scored (not only those the replay buffer admitted), how many
of its most recent pulls in a row were *uniform*: all completions solved (a positive streak) or all failed (a
negative streak); a pull with mixed outcomes resets the streak to 0. Before generation a prompt with a streak of
``s`` (``|s| >= min_streak``) is kept with probability ``explore ** |s|`` (``explore_solved`` for solved streaks,
``explore_failed`` for failed ones) and skipped otherwise, so a prompt that has been all-solved three times is
rarely generated for again, yet never excluded for good: it may have become informative (GRESO, "Act Only When
It Pays", 2025, skips with the same exponential decay in the zero-variance streak).

With ``target_zero_std`` set, both explore values adapt once per generation: multiplied by ``1 - adapt_rate``
when the share of zero-variance groups in the trained batch is above the target, by ``1 + adapt_rate`` below
it, clipped to ``[0.01, 1]``.

Everything here is deterministic given the calls (the randomness is the caller's RNG), so every process holds
identical statistics; :meth:`PromptStats.digest` lets the trainer check that. The state is plain Python data,
pickled into each checkpoint (``replay_prompt_stats.pkl``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from rlvr.replay.buffer import write_pickle_atomic

__all__ = ["PromptStats", "uniform_outcome"]

EXPLORE_MIN = 0.01
FORMAT_VERSION = 1


def uniform_outcome(outcomes: np.ndarray, success_threshold: float, failure_threshold: float = 0.0) -> int:
    """+1 when every outcome is a solve (>= ``success_threshold``), -1 when every one is a failure
    (<= ``failure_threshold``), 0 otherwise (mixed, or nothing scored)."""
    if outcomes.size == 0:
        return 0
    if bool((outcomes >= success_threshold).all()):
        return 1
    if bool((outcomes <= failure_threshold).all()):
        return -1
    return 0


class PromptStats:
    """Uniform-pull streaks of every prompt seen, and the skip rule built on them (see the module docstring)."""

    def __init__(
        self,
        explore_solved: float,
        explore_failed: float,
        min_streak: int = 1,
        target_zero_std: float | None = None,
        adapt_rate: float = 0.1,
    ) -> None:
        self.explore_solved = float(explore_solved)
        self.explore_failed = float(explore_failed)
        self.min_streak = int(min_streak)
        self.target_zero_std = target_zero_std
        self.adapt_rate = float(adapt_rate)
        self.streak: dict[str, int] = {}  # key -> signed streak (+ solved, - failed, 0 mixed last time)
        self.skipped_total = 0  # prompts skipped before generation, over the whole run

    def __len__(self) -> int:
        return len(self.streak)

    def record(self, key: str, verdict: int) -> None:
        """One scored group of ``key``: ``verdict`` from :func:`uniform_outcome`."""
        old = self.streak.get(key, 0)
        if verdict == 0:
            new = 0
        elif verdict > 0:
            new = old + 1 if old > 0 else 1
        else:
            new = old - 1 if old < 0 else -1
        self.streak[key] = new

    def keep_probability(self, key: str) -> float:
        """Probability that ``key`` is generated for when it comes up (1.0 for an unseen or informative prompt)."""
        s = self.streak.get(key, 0)
        if abs(s) < self.min_streak:
            return 1.0
        return (self.explore_solved if s > 0 else self.explore_failed) ** abs(s)

    def adapt(self, zero_std_share: float) -> None:
        """One generation's share of zero-variance groups moves the explore values toward ``target_zero_std``."""
        if self.target_zero_std is None:
            return
        factor = 1 - self.adapt_rate if zero_std_share > self.target_zero_std else 1 + self.adapt_rate
        self.explore_solved = float(np.clip(self.explore_solved * factor, EXPLORE_MIN, 1.0))
        self.explore_failed = float(np.clip(self.explore_failed * factor, EXPLORE_MIN, 1.0))

    def counts(self) -> dict[str, int]:
        """Prompts seen, and how many of them are on a solved / failed streak now."""
        vals = np.fromiter(self.streak.values(), dtype=np.int64, count=len(self.streak))
        return {
            "seen": len(vals),
            "solved_streak": int((vals >= self.min_streak).sum()),
            "failed_streak": int((vals <= -self.min_streak).sum()),
            "skipped_total": self.skipped_total,
        }

    # -- state -------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "explore_solved": self.explore_solved,
            "explore_failed": self.explore_failed,
            "streak": dict(self.streak),
            "skipped_total": self.skipped_total,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("format") != FORMAT_VERSION:
            raise ValueError(f"prompt statistics format {state.get('format')!r}, expected {FORMAT_VERSION}")
        self.explore_solved = float(state["explore_solved"])
        self.explore_failed = float(state["explore_failed"])
        self.streak = dict(state["streak"])
        self.skipped_total = int(state["skipped_total"])

    def digest(self) -> str:
        """A hash of the whole state (equal on every process that saw the same calls)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((self.explore_solved, self.explore_failed, self.skipped_total)).encode())
        for key in sorted(self.streak):
            h.update(f"{key}:{self.streak[key]};".encode())
        return h.hexdigest()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Atomic pickle of :meth:`state_dict` (the replay buffer's writer)."""
        return write_pickle_atomic(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        with open(path, "rb") as f:
            self.load_state_dict(pickle.load(f))  # noqa: S301 - our own checkpoint file
