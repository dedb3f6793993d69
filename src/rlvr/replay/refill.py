"""Dynamic-sampling refill (DAPO-style): which groups each process keeps, and the tensor surgery that joins them.

After a generation batch is scored, groups whose rewards all agree (zero variance: zero advantage, no gradient)
are dropped and further batches generated until every process holds as many informative groups as its batch has
slots, or the round cap is hit (then the earliest dropped groups fill the remaining slots: their advantage is 0,
so they only keep shapes). A process keeps its own groups only (no tensors move between processes); every process
runs the same number of rounds, decided from the gathered rewards, so the collectives inside generation line up.

The scored batch is TRL's dict (``GRPOTrainer._generate_and_score_completions``): per-row tensors, prompts
left-padded (``prompt_ids``, ``prompt_mask``), every other 2-D tensor per completion token and right-padded, and
``num_items_in_batch`` (the completion tokens of the whole step over all processes), which the caller recomputes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

__all__ = ["LEFT_PADDED", "choose_groups", "concat_rows", "take_rows"]

LEFT_PADDED = ("prompt_ids", "prompt_mask")
NOT_ROWS = ("num_items_in_batch",)


def choose_groups(informative: list[np.ndarray], need: int) -> list[np.ndarray]:
    """For one process: ``informative[r][g]`` says whether its group ``g`` of round ``r`` has reward variance.
    Returns, per round, the indices of the groups kept: informative groups in order until ``need``, then, if too
    few, the earliest uninformative ones."""
    kept: list[list[int]] = [[] for _ in informative]
    n = 0
    for r, flags in enumerate(informative):
        for g in np.flatnonzero(flags):
            if n < need:
                kept[r].append(int(g))
                n += 1
    for r, flags in enumerate(informative):
        for g in np.flatnonzero(~flags):
            if n < need:
                kept[r].append(int(g))
                n += 1
    return [np.array(sorted(k), dtype=np.int64) for k in kept]


def take_rows(batch: dict[str, Any], rows: th.Tensor) -> dict[str, Any]:
    """The rows ``rows`` of every per-row tensor of ``batch``; other entries are copied as they are."""
    n = batch["completion_ids"].size(0)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if key not in NOT_ROWS and isinstance(value, th.Tensor) and value.dim() >= 1 and value.size(0) == n:
            out[key] = value.index_select(0, rows.to(value.device))
        else:
            out[key] = value
    return out


def _pad(t: th.Tensor, width: int, left: bool) -> th.Tensor:
    missing = width - t.size(1)
    if missing <= 0:
        return t
    pad = t.new_zeros((t.size(0), missing, *t.shape[2:]))
    return th.cat([pad, t] if left else [t, pad], dim=1)


def concat_rows(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Row-wise concatenation of scored batches with the same keys; 2-D tensors are padded to the widest (left for
    prompts, right for completion-token tensors; padded positions are masked out: their mask is 0)."""
    keys = list(batches[0])
    if any(list(b) != keys for b in batches[1:]):
        raise RuntimeError(f"refill: scored batches differ in their entries: {[sorted(b) for b in batches]}")
    out: dict[str, Any] = {}
    for key in keys:
        values = [b[key] for b in batches]
        first = values[0]
        if key in NOT_ROWS or not isinstance(first, th.Tensor) or first.dim() == 0:
            out[key] = first
        elif first.dim() == 1:
            out[key] = th.cat(values)
        else:
            width = max(v.size(1) for v in values)
            out[key] = th.cat([_pad(v, width, key in LEFT_PADDED) for v in values])
    return out
