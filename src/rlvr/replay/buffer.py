"""Prompt-level prioritised replay buffer for GRPO: the :class:`ReplayBuffer` storage class.

This module holds the storage (slots, running statistics, admission, eviction, retirement,
save/load, digest); the selection algorithms it calls are pure functions in
:mod:`rlvr.replay.select`, and the prompt key in :mod:`rlvr.replay.keys`.

One entry per prompt (keyed by :func:`~rlvr.replay.keys.prompt_key`), holding the dataset
row and running statistics of every reward its completions ever received:

- ``pulls``: groups scored for the prompt; ``n``: completions (rollouts) scored;
- ``mean`` / ``m2``: Welford running mean and sum of squared deviations over all rollouts
  (groups merged with Chan's parallel formula), so ``m2 / n`` is the population variance;
- ``successes``: rollouts with reward >= ``success_threshold``;
- ``consecutive_uniform``: consecutive pulls in which all completions were solved
  (>= ``success_threshold``) or all failed (<= ``failure_threshold``);
- ``last_step`` / ``admitted_step``: training steps of the last update and of admission.

Learnability is the reward variance ``m2 / n`` (``p (1 - p)`` for 0/1 rewards). Priorities:

- ``sampling="ucb"``: ``learnability + priority_floor + ucb_c * sqrt(ln(total_pulls) / pulls)``;
  :meth:`ReplayBuffer.sample` takes the top-k (ties broken at random with the buffer's RNG;
  :func:`~rlvr.replay.select.ucb_top_k`).
- ``sampling="proportional"``: ``learnability + priority_floor``; sampling draws k distinct
  entries with probability proportional to ``priority ** (1 / temperature)`` without
  replacement (successive sampling, the law of Gumbel-top-k: the k largest ``log w_i + G_i``),
  drawn by rejection from the cumulative weights with an exponential-race (Gumbel-top-k)
  fallback; see :func:`~rlvr.replay.select.successive_sample`.

``total_pulls`` counts every group fed to :meth:`ReplayBuffer.admit` (admitted or not) and
every group :meth:`ReplayBuffer.update` matched to an entry; it never decreases.

Statistics live in numpy arrays indexed by slot (grown geometrically up to ``capacity``);
rows in a Python list indexed by slot; ``key -> slot`` in a dict; freed slots on a stack.
All randomness comes from one ``np.random.Generator(np.random.PCG64(seed))`` whose state is
part of :meth:`ReplayBuffer.state_dict` and :meth:`ReplayBuffer.digest`, so two buffers
fed the same calls (e.g. on every rank) stay identical, and a saved-then-loaded buffer
continues exactly as the original would have.

File format (:meth:`ReplayBuffer.save` / :meth:`ReplayBuffer.load`): one pickle (protocol 5)
of :meth:`ReplayBuffer.state_dict` — plain Python containers and numpy arrays, with a
``format`` version field — written to a temporary file in the same directory and moved into
place with ``os.replace`` (atomic on POSIX). Pickle runs code on load: load only checkpoints
you wrote yourself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import tempfile
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from rlvr.replay.keys import prompt_key
from rlvr.replay.select import (
    priorities,
    proportional_sample,
    select_smallest,
    ucb_bonus_scale,
    ucb_top_k,
)

__all__ = ["RECONFIGURABLE", "ReplayBuffer", "SAMPLING_MODES"]

SAMPLING_MODES = ("ucb", "proportional")
# Settings :meth:`ReplayBuffer.reconfigure` may change on a live buffer (the others are fixed for its life).
RECONFIGURABLE = ("capacity", "sampling", "ucb_c", "retire_after", "temperature", "success_threshold")
FORMAT_VERSION = 1

_INT_FIELDS = ("pulls", "n", "successes", "last_step", "consecutive_uniform", "admitted_step")
_FLOAT_FIELDS = ("mean", "m2")
_FIELDS = _INT_FIELDS + _FLOAT_FIELDS
_COUNTERS = ("admissions", "evictions", "retirements", "merges", "rejected", "total_pulls")


def write_pickle_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Pickle ``obj`` (protocol 5) to ``path`` atomically: a temporary file in the same directory, fsynced, then
    ``os.replace``; a failure leaves the previous file (if any) untouched and no temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=5)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class _GroupStats:
    """Per-group reward statistics of a batch of groups (vectorised)."""

    __slots__ = ("n", "mean", "m2", "succ", "uniform")

    def __init__(self, n: np.ndarray, mean: np.ndarray, m2: np.ndarray, succ: np.ndarray, uniform: np.ndarray):
        self.n, self.mean, self.m2, self.succ, self.uniform = n, mean, m2, succ, uniform

    def take(self, idx: np.ndarray) -> _GroupStats:
        return _GroupStats(self.n[idx], self.mean[idx], self.m2[idx], self.succ[idx], self.uniform[idx])


class ReplayBuffer:
    """Prompt-level prioritised replay buffer (see the module docstring for the definitions).

    Args:
        capacity: maximum number of prompts held, >= 1.
        sampling: ``"ucb"`` (top-k by UCB priority) or ``"proportional"`` (without replacement,
            probability proportional to ``priority ** (1 / temperature)``).
        ucb_c: weight of the UCB exploration bonus, >= 0; unused by ``"proportional"``.
        retire_after: retire an entry after this many consecutive all-solved / all-failed
            pulls; 0 never retires.
        seed: seed of the buffer's RNG, >= 0.
        priority_floor: added to every priority, >= 0 (> 0 with ``"proportional"``, so its
            weights are never all zero).
        temperature: > 0; proportional sampling uses ``priority ** (1 / temperature)``.
        success_threshold: a rollout with reward >= this is a success.
        failure_threshold: a rollout with reward <= this is a failure, for the uniform-pull
            test; must be below ``success_threshold``.

    Raises:
        ValueError: an argument is out of range or of the wrong type; the one-line message
            names the argument (``"ReplayBuffer: capacity must be ..."``).
    """

    def __init__(
        self,
        capacity: int,
        sampling: str = "ucb",
        ucb_c: float = 1.0,
        retire_after: int = 0,
        seed: int = 0,
        priority_floor: float = 1e-3,
        temperature: float = 1.0,
        success_threshold: float = 1.0,
        failure_threshold: float = 0.0,
    ) -> None:
        def bad(msg: str) -> ValueError:
            return ValueError(f"ReplayBuffer: {msg}")

        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity <= 0:
            raise bad(f"capacity must be an integer >= 1, got {capacity!r}")
        if sampling not in SAMPLING_MODES:
            raise bad(f"sampling must be one of {list(SAMPLING_MODES)}, got {sampling!r}")
        if not (isinstance(ucb_c, int | float) and math.isfinite(ucb_c) and ucb_c >= 0):
            raise bad(f"ucb_c must be a finite number >= 0, got {ucb_c!r}")
        if isinstance(retire_after, bool) or not isinstance(retire_after, int | np.integer) or retire_after < 0:
            raise bad(f"retire_after must be an integer >= 0 (0 = never), got {retire_after!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise bad(f"seed must be an integer >= 0, got {seed!r}")
        if not (isinstance(priority_floor, int | float) and math.isfinite(priority_floor) and priority_floor >= 0):
            raise bad(f"priority_floor must be a finite number >= 0, got {priority_floor!r}")
        if sampling == "proportional" and priority_floor <= 0:
            raise bad(f"priority_floor must be > 0 with sampling='proportional', got {priority_floor!r}")
        if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
            raise bad(f"temperature must be a finite number > 0, got {temperature!r}")
        for name, val in (("success_threshold", success_threshold), ("failure_threshold", failure_threshold)):
            if not (isinstance(val, int | float) and math.isfinite(val)):
                raise bad(f"{name} must be a finite number, got {val!r}")
        if failure_threshold >= success_threshold:
            raise bad(f"failure_threshold ({failure_threshold}) must be below success_threshold ({success_threshold})")
        self.capacity = int(capacity)
        self.sampling = sampling
        self.ucb_c = float(ucb_c)
        self.retire_after = int(retire_after)
        self.seed = int(seed)
        self.priority_floor = float(priority_floor)
        self.temperature = float(temperature)
        self.success_threshold = float(success_threshold)
        self.failure_threshold = float(failure_threshold)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._reset_storage(min(self.capacity, 1024))
        for name in _COUNTERS:
            setattr(self, name, 0)

    # ------------------------------------------------------------------ storage
    def _reset_storage(self, alloc: int) -> None:
        for name in _INT_FIELDS:
            setattr(self, "_" + name, np.zeros(alloc, dtype=np.int64))
        for name in _FLOAT_FIELDS:
            setattr(self, "_" + name, np.zeros(alloc, dtype=np.float64))
        self._occupied = np.zeros(alloc, dtype=bool)
        self._learn = np.zeros(alloc, dtype=np.float64)  # derived: m2 / n
        self._isp = np.zeros(alloc, dtype=np.float64)  # derived: 1 / sqrt(pulls)
        self._keys: list[str] = []  # "" marks a free slot
        self._rows: list[dict[str, Any] | None] = []
        self._slot_of: dict[str, int] = {}
        self._free: list[int] = []  # freed slots below _high, used as a stack
        self._high = 0  # slots [0, _high) have been used at least once

    def _grow(self, need: int) -> None:
        alloc = len(self._occupied)
        if need <= alloc:
            return
        new = min(self.capacity, max(need, 2 * alloc))
        for name in (*("_" + f for f in _FIELDS), "_occupied", "_learn", "_isp"):
            old = getattr(self, name)
            arr = np.zeros(new, dtype=old.dtype)
            arr[: len(old)] = old
            setattr(self, name, arr)

    def _alloc_slots(self, count: int) -> np.ndarray:
        take = min(count, len(self._free))
        slots = [self._free.pop() for _ in range(take)]
        rest = count - take
        if rest:
            self._grow(self._high + rest)
            slots.extend(range(self._high, self._high + rest))
            self._keys.extend([""] * rest)
            self._rows.extend([None] * rest)
            self._high += rest
        return np.asarray(slots, dtype=np.int64)

    def _remove(self, slots: np.ndarray) -> None:
        idx = np.asarray(slots, dtype=np.int64)
        for slot in idx.tolist():
            key = self._keys[slot]
            assert key
            del self._slot_of[key]
            self._keys[slot] = ""
            self._rows[slot] = None
            self._free.append(slot)
        for name in _FIELDS:
            getattr(self, "_" + name)[idx] = 0
        self._occupied[idx] = False
        self._learn[idx] = 0.0
        self._isp[idx] = 0.0

    # ------------------------------------------------------------------ stats
    @staticmethod
    def _flatten(groups: Sequence[Any], what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(flat values, group sizes, 2-D array or None)`` of one sequence of groups (ragged allowed)."""
        try:
            arr = np.asarray(groups, dtype=np.float64)
        except ValueError:  # ragged groups
            arr = None
        if arr is not None and arr.ndim == 2 and arr.shape[1] > 0:
            return arr.reshape(-1), np.full(arr.shape[0], arr.shape[1], dtype=np.int64), arr
        parts = [np.asarray(r, dtype=np.float64) for r in groups]
        if any(g.ndim != 1 for g in parts):
            raise ValueError(f"ReplayBuffer: {what}s must hold one 1-D sequence of {what}s per group")
        n = np.fromiter((len(g) for g in parts), dtype=np.int64, count=len(parts))
        if (n == 0).any():
            raise ValueError(f"ReplayBuffer: every {what} group needs at least one {what}")
        return (np.concatenate(parts) if parts else np.zeros(0)), n, None

    def _group_stats(self, rewards: Sequence[Any], outcomes: Sequence[Any] | None = None) -> _GroupStats:
        """Statistics of reward groups; successes and uniform pulls are judged on ``outcomes`` (same shapes)
        when given, else on ``rewards``."""
        flat, n, arr = self._flatten(rewards, "reward")
        if not np.isfinite(flat).all():
            raise ValueError("ReplayBuffer: rewards must be finite (got NaN or inf)")
        if arr is not None:
            mean = arr.mean(axis=1)
            m2 = np.square(arr - mean[:, None]).sum(axis=1)
        else:
            starts = np.concatenate([[0], np.cumsum(n)[:-1]]) if len(n) else np.zeros(0, dtype=np.int64)
            mean = np.add.reduceat(flat, starts) / n if len(n) else np.zeros(0)
            m2 = np.add.reduceat(np.square(flat - np.repeat(mean, n)), starts) if len(n) else np.zeros(0)
        judged, judged_arr = flat, arr
        if outcomes is not None:
            judged, n_out, judged_arr = self._flatten(outcomes, "outcome")
            if not np.array_equal(n_out, n):
                raise ValueError("ReplayBuffer: outcomes must have the same group sizes as rewards")
            if not np.isfinite(judged).all():
                raise ValueError("ReplayBuffer: outcomes must be finite (got NaN or inf)")
        if judged_arr is not None:
            succ_mask = judged_arr >= self.success_threshold
            succ = succ_mask.sum(axis=1).astype(np.int64)
            uniform = succ_mask.all(axis=1) | (judged_arr <= self.failure_threshold).all(axis=1)
        elif len(n):
            starts = np.concatenate([[0], np.cumsum(n)[:-1]])
            succ = np.add.reduceat((judged >= self.success_threshold).astype(np.int64), starts)
            fails = np.add.reduceat((judged <= self.failure_threshold).astype(np.int64), starts)
            uniform = (succ == n) | (fails == n)
        else:
            succ, uniform = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        return _GroupStats(n, mean, m2, succ, uniform)

    def _merge(self, slots: np.ndarray, gs: _GroupStats, step: int) -> None:
        """Chan/Welford-merge groups into distinct ``slots`` and refresh derived arrays."""
        na = self._n[slots].astype(np.float64)
        nb = gs.n.astype(np.float64)
        nn = na + nb
        delta = gs.mean - self._mean[slots]
        self._mean[slots] += delta * nb / nn
        self._m2[slots] += gs.m2 + np.square(delta) * na * nb / nn
        self._n[slots] += gs.n
        self._pulls[slots] += 1
        self._successes[slots] += gs.succ
        self._last_step[slots] = step
        self._consecutive_uniform[slots] = np.where(gs.uniform, self._consecutive_uniform[slots] + 1, 0)
        self._learn[slots] = self._m2[slots] / self._n[slots]
        self._isp[slots] = 1.0 / np.sqrt(self._pulls[slots])

    def _retire_check(self, slots: np.ndarray) -> None:
        if self.retire_after <= 0 or len(slots) == 0:
            return
        gone = slots[self._consecutive_uniform[slots] >= self.retire_after]
        if len(gone):
            self._remove(gone)
            self.retirements += len(gone)

    def _bonus_scale(self) -> float:
        return ucb_bonus_scale(self.ucb_c if self.sampling == "ucb" else 0.0, self.total_pulls)

    def _priority_all(self) -> np.ndarray:
        """Priorities over slots [0, _high) (a new array); values at free slots are meaningless (mask them)."""
        h = self._high
        return priorities(self._learn[:h], self.priority_floor, self._bonus_scale(), self._isp[:h])

    def _priority_of(self, gs: _GroupStats) -> np.ndarray:
        """Priorities that groups ``gs`` would have as new entries (one pull each)."""
        return priorities(gs.m2 / gs.n, self.priority_floor, self._bonus_scale())

    @staticmethod
    def _rounds(keys: Sequence[str]) -> list[np.ndarray]:
        """Split positions into rounds so that no key repeats within a round (order kept)."""
        if len(keys) == 0:
            return []
        if len(set(keys)) == len(keys):
            return [np.arange(len(keys))]
        seen: dict[str, int] = {}
        occ = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            c = seen.get(key, 0)
            occ[i] = c
            seen[key] = c + 1
        return [np.flatnonzero(occ == r) for r in range(int(occ.max()) + 1)]

    def _lookup(self, keys: Sequence[str], pos: np.ndarray) -> np.ndarray:
        """Slots of ``keys[pos]`` (-1 where absent)."""
        ks = keys if len(pos) == len(keys) else [keys[i] for i in pos.tolist()]
        return np.fromiter(map(self._slot_of.get, ks, repeat(-1)), dtype=np.int64, count=len(pos))

    # ------------------------------------------------------------------ public API
    def update(
        self, keys: Sequence[str], rewards: Sequence[Any], step: int, outcomes: Sequence[Any] | None = None
    ) -> int:
        """Merge one scored group per key into its entry; unknown keys are ignored.

        Each group adds one pull; entries that reach ``retire_after`` consecutive uniform
        pulls retire. A key repeated in one call is merged once per occurrence, in order.
        ``outcomes`` (optional, the same shapes as ``rewards``): the values successes and
        uniform pulls are judged on (e.g. the correctness reward while ``rewards`` is the
        shaped sum); by default the rewards themselves. Returns the number of groups merged.
        """
        if len(keys) != len(rewards):
            raise ValueError(f"ReplayBuffer.update: {len(keys)} keys but {len(rewards)} reward groups")
        if not len(keys):
            return 0
        gs = self._group_stats(rewards, outcomes)
        merged = 0
        for rnd in self._rounds(keys):
            found = self._lookup(keys, rnd)
            hit = found >= 0
            pos, slots = rnd[hit], found[hit]
            if not len(pos):
                continue
            self.total_pulls += len(pos)
            self._merge(slots, gs.take(pos), int(step))
            self._retire_check(slots)
            merged += len(pos)
        return merged

    def admit(
        self, rows: Sequence[dict[str, Any]], rewards: Sequence[Any], step: int, outcomes: Sequence[Any] | None = None
    ) -> int:
        """Offer scored prompts (one reward group per row) to the buffer.

        A row whose prompt is already held is merged into its entry (as :meth:`update`).
        A new prompt is inserted into a free slot, or, when the buffer is full, replaces the
        lowest-priority entry if its own priority (from its group alone) is strictly higher;
        ties among the lowest go to the least recently updated, then lowest slot. A new prompt
        whose first pulls already reach ``retire_after`` uniform pulls is not inserted.
        Rows are stored as shallow copies. ``outcomes``: as in :meth:`update`. Returns the
        number of new entries inserted.
        """
        if len(rows) != len(rewards):
            raise ValueError(f"ReplayBuffer.admit: {len(rows)} rows but {len(rewards)} reward groups")
        if not len(rows):
            return 0
        keys = []
        for row in rows:
            if not isinstance(row, dict) or "prompt" not in row:
                raise ValueError("ReplayBuffer.admit: each row must be a dict with a 'prompt' column")
            keys.append(prompt_key(row["prompt"]))
        gs = self._group_stats(rewards, outcomes)
        step = int(step)
        inserted = 0
        for rnd in self._rounds(keys):
            self.total_pulls += len(rnd)
            found = self._lookup(keys, rnd)
            hit = found >= 0
            old, slots, new = rnd[hit], found[hit], rnd[~hit]
            if len(old):
                self._merge(slots, gs.take(old), step)
                self._retire_check(slots)
                self.merges += len(old)
            if len(new):
                inserted += self._insert_new(new, keys, rows, gs, step)
        return inserted

    def _insert_new(
        self, pos: np.ndarray, keys: list[str], rows: Sequence[dict[str, Any]], gs: _GroupStats, step: int
    ) -> int:
        cand = gs.take(pos)
        if self.retire_after == 1:
            keep = ~cand.uniform
            self.rejected += int((~keep).sum())
            pos, cand = pos[keep], cand.take(np.flatnonzero(keep))
            if not len(pos):
                return 0
        pr = self._priority_of(cand)
        order = np.argsort(-pr, kind="stable")
        pos, pr = pos[order], pr[order]
        free = self.capacity - len(self._slot_of)
        direct = min(free, len(pos))
        if direct:
            self._place(pos[:direct], keys, rows, gs, step)
        rest_pos, rest_pr = pos[direct:], pr[direct:]
        if not len(rest_pos):
            return direct
        victims, vpr = self._lowest(len(rest_pos))
        m = min(len(rest_pos), len(victims))
        win = int((rest_pr[:m] > vpr[:m]).sum())  # prefix: candidates desc, victims asc
        self.rejected += len(rest_pos) - win
        if win:
            self._remove(victims[:win])
            self.evictions += win
            self._place(rest_pos[:win], keys, rows, gs, step)
        return direct + win

    def _place(self, pos: np.ndarray, keys: list[str], rows: Sequence[dict[str, Any]], gs: _GroupStats, step: int):
        slots = self._alloc_slots(len(pos))
        for slot, i in zip(slots.tolist(), pos.tolist(), strict=True):
            key = keys[i]
            self._slot_of[key] = slot
            self._keys[slot] = key
            self._rows[slot] = dict(rows[i])
        self._occupied[slots] = True
        self._admitted_step[slots] = step
        self._merge(slots, gs.take(pos), step)
        self.admissions += len(pos)

    def _lowest(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``m`` lowest-priority occupied slots, ascending by (priority, last_step, slot)."""
        pr = self._priority_all()
        if self._free:
            pr[np.asarray(self._free, dtype=np.int64)] = np.inf
        size = len(self._slot_of)
        m = min(m, size)
        if m <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if m >= size:
            cand = np.flatnonzero(self._occupied[: self._high])
        else:
            strict, ties = select_smallest(pr, m)
            ties = ties[np.lexsort((ties, self._last_step[ties]))][: m - len(strict)]
            cand = np.concatenate([strict, ties])
        cand = cand[np.lexsort((cand, self._last_step[cand], pr[cand]))]
        return cand, pr[cand]

    def _exclude_slots(self, exclude_keys: Iterable[str] | None) -> np.ndarray:
        if not exclude_keys:
            return np.zeros(0, dtype=np.int64)
        got = {self._slot_of[k] for k in exclude_keys if k in self._slot_of}
        return np.asarray(sorted(got), dtype=np.int64)

    def sample(self, k: int, exclude_keys: set[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Draw up to ``k`` distinct entries (never one in ``exclude_keys``), highest first.

        ``ucb``: the k highest priorities (random tie-breaking); ``proportional``: successive
        sampling without replacement with probability proportional to priority ** (1/T).
        Returns ``[(key, row_copy), ...]``; deterministic given the seed and call sequence.
        """
        excl = self._exclude_slots(exclude_keys)
        avail = len(self._slot_of) - len(excl)
        k = min(int(k), avail)
        if k <= 0:
            return []
        free = np.asarray(self._free, dtype=np.int64)
        skip = np.concatenate([free, excl]) if len(excl) else free
        pr = self._priority_all()  # proportional: no bonus, learnability + floor
        if self.sampling == "ucb":
            chosen = ucb_top_k(pr, k, self._rng, skip, overwrite=True)
        else:
            chosen = proportional_sample(pr, k, self._rng, skip, self.temperature, overwrite=True)
        return [(self._keys[s], dict(self._rows[s])) for s in chosen.tolist()]

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def keys(self) -> list[str]:
        """Keys of the occupied slots, in slot order (the order of :meth:`priorities`)."""
        return [k for k in self._keys if k]

    def get(self, key: str) -> dict[str, Any] | None:
        """A copy of the stored row for ``key`` (None when absent)."""
        slot = self._slot_of.get(key)
        return None if slot is None else dict(self._rows[slot])

    def entry(self, key: str) -> dict[str, float] | None:
        """Statistics of one entry (None when absent), including its priority and learnability."""
        slot = self._slot_of.get(key)
        if slot is None:
            return None
        out: dict[str, float] = {f: getattr(self, "_" + f)[slot].item() for f in _FIELDS}
        out["learnability"] = float(self._learn[slot])
        out["success_rate"] = out["successes"] / out["n"]
        out["priority"] = float(
            priorities(self._learn[slot], self.priority_floor, self._bonus_scale(), self._isp[slot])
        )
        return out

    def priorities(self) -> np.ndarray:
        """Current priorities of the occupied entries, in slot order (see :meth:`keys`)."""
        return self._priority_all()[self._occupied[: self._high]]

    def learnability(self) -> np.ndarray:
        """Reward variance of the occupied entries, in slot order."""
        return self._learn[: self._high][self._occupied[: self._high]].copy()

    def stats(self) -> dict[str, float]:
        """Buffer-level metrics for logging (counters are cumulative)."""
        occ = self._occupied[: self._high]
        size = len(self._slot_of)
        out: dict[str, float] = {"size": float(size), "capacity": float(self.capacity)}
        if size:
            out["mean_priority"] = float(self._priority_all()[occ].mean())
            out["mean_learnability"] = float(self._learn[: self._high][occ].mean())
            out["mean_pulls"] = float(self._pulls[: self._high][occ].mean())
            out["success_rate"] = float(self._successes[: self._high][occ].sum() / self._n[: self._high][occ].sum())
            out["frac_uniform"] = float((self._consecutive_uniform[: self._high][occ] > 0).mean())
        else:
            out.update(mean_priority=0.0, mean_learnability=0.0, mean_pulls=0.0, success_rate=0.0, frac_uniform=0.0)
        for name in _COUNTERS:
            out[name] = float(getattr(self, name))
        return out

    # ------------------------------------------------------------------ settings
    def reconfigure(self, **changes: Any) -> dict[str, tuple[Any, Any]]:
        """Change settings of a live (e.g. just restored) buffer; returns ``{name: (old, new)}`` of the changed ones.

        Only :data:`RECONFIGURABLE` settings may change (``ValueError`` names any other), and the
        result must be a valid configuration (as the constructor checks). Effects:

        - ``capacity``: growing only raises the bound; shrinking below the current size evicts the
          lowest-priority entries at once (after any retirement below; ties: least recently
          updated, then lowest slot), counted in ``evictions``.
        - ``sampling``, ``ucb_c``, ``temperature``: priorities and sampling follow the new values
          from the next call on (the statistics they are computed from do not depend on them).
        - ``retire_after``: entries already at or above a lowered limit retire at once (counted in
          ``retirements``); 0 stops retiring.
        - ``success_threshold``: judges the groups merged from now on; ``successes`` and
          ``consecutive_uniform`` counted so far keep the old threshold's verdicts.
        """
        unknown = sorted(set(changes) - set(RECONFIGURABLE))
        if unknown:
            raise ValueError(f"ReplayBuffer.reconfigure: {', '.join(unknown)} cannot change on a live buffer")
        old = self._config()
        changed = {k: (old[k], v) for k, v in changes.items() if v != old[k]}
        if not changed:
            return {}
        ReplayBuffer(**{**old, **{k: new for k, (_, new) in changed.items()}})  # validates the result
        for name, (_, value) in changed.items():
            setattr(self, name, type(old[name])(value))
        if "retire_after" in changed and self.retire_after > 0:  # first: retiring may make room
            self._retire_check(np.flatnonzero(self._occupied[: self._high]))
        excess = len(self._slot_of) - self.capacity
        if excess > 0:
            victims, _ = self._lowest(excess)
            self._remove(victims)
            self.evictions += len(victims)
        return changed

    # ------------------------------------------------------------------ state
    def _config(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "sampling": self.sampling,
            "ucb_c": self.ucb_c,
            "retire_after": self.retire_after,
            "seed": self.seed,
            "priority_floor": self.priority_floor,
            "temperature": self.temperature,
            "success_threshold": self.success_threshold,
            "failure_threshold": self.failure_threshold,
        }

    def digest(self) -> str:
        """SHA-256 hex digest (first 32 characters) of the full state except the rows (which the
        keys identify): config, keys in slot order, stats arrays, free-slot stack, counters and
        RNG state."""
        h = hashlib.sha256()  # hardware-accelerated on x86/arm: ~0.2 s for 1M entries
        h.update(json.dumps(self._config(), sort_keys=True).encode())
        h.update(json.dumps({c: getattr(self, c) for c in _COUNTERS}, sort_keys=True).encode())
        h.update(json.dumps(self._rng.bit_generator.state, sort_keys=True).encode())
        h.update(f"high={self._high}".encode())
        h.update("\n".join(self._keys).encode())
        h.update(np.asarray(self._free, dtype=np.int64).tobytes())
        hi = self._high
        for name in _FIELDS:
            h.update(memoryview(getattr(self, "_" + name)[:hi]))
        h.update(memoryview(self._occupied[:hi]))
        return h.hexdigest()[:32]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically: config, counters, RNG state, arrays, keys, rows."""
        hi = self._high
        return {
            "format": FORMAT_VERSION,
            "config": self._config(),
            "counters": {c: getattr(self, c) for c in _COUNTERS},
            "rng_state": self._rng.bit_generator.state,
            "high": hi,
            "arrays": {name: getattr(self, "_" + name)[:hi].copy() for name in _FIELDS},
            "occupied": self._occupied[:hi].copy(),
            "keys": list(self._keys),  # "" at free slots
            "rows": [None if r is None else dict(r) for r in self._rows],
            "free": list(self._free),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (config included) into this buffer."""
        if state.get("format") != FORMAT_VERSION:
            raise ValueError(f"ReplayBuffer: unsupported state format {state.get('format')!r}")
        cfg = state["config"]
        ReplayBuffer(**cfg)  # validates the config
        for name, value in cfg.items():
            setattr(self, name, value)
        hi = int(state["high"])
        self._reset_storage(max(hi, min(self.capacity, 1024)))
        for name in _FIELDS:
            arr = np.asarray(state["arrays"][name])
            if arr.shape != (hi,):
                raise ValueError(f"ReplayBuffer: state array {name} has shape {arr.shape}, expected ({hi},)")
            getattr(self, "_" + name)[:hi] = arr
        self._occupied[:hi] = np.asarray(state["occupied"], dtype=bool)
        self._keys = list(state["keys"])
        self._rows = list(state["rows"])
        self._free = [int(s) for s in state["free"]]
        self._high = hi
        self._slot_of = {k: i for i, k in enumerate(self._keys) if k}
        occ = self._occupied[:hi]
        if len(self._keys) != hi or len(self._rows) != hi or int(occ.sum()) != len(self._slot_of):
            raise ValueError("ReplayBuffer: inconsistent state (keys, rows and occupied slots disagree)")
        self._learn[:hi][occ] = self._m2[:hi][occ] / self._n[:hi][occ]
        self._isp[:hi][occ] = 1.0 / np.sqrt(self._pulls[:hi][occ])
        for name in _COUNTERS:
            setattr(self, name, int(state["counters"][name]))
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._rng.bit_generator.state = state["rng_state"]

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ReplayBuffer:
        buf = cls(**state["config"])
        buf.load_state_dict(state)
        return buf

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the state atomically (temp file in the same directory + ``os.replace``)."""
        path = write_pickle_atomic(self.state_dict(), path)
        logger.debug(f"replay buffer ({len(self)} entries) saved to {path}")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReplayBuffer:
        """Load a buffer written by :meth:`save` (trusted files only: pickle)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ReplayBuffer.load: no such file: {path}")
        with path.open("rb") as fh:
            state = pickle.load(fh)
        return cls.from_state_dict(state)

    def __repr__(self) -> str:
        return (
            f"ReplayBuffer(size={len(self)}, capacity={self.capacity}, sampling={self.sampling!r}, "
            f"ucb_c={self.ucb_c}, retire_after={self.retire_after})"
        )
