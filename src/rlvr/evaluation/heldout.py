"""Held-out greedy accuracy during a training run, as a collective that every rank joins.

Each rank generates for its shard of the rows (``rows[rank::world]``, padded so every rank makes the same
number of ``generate`` calls: ZeRO-3 and FSDP need all ranks in every forward pass), on the training device,
through TRL's ``unwrap_model_for_generation`` (which gathers ZeRO-3 parameters) and, under FSDP, with the full
parameters summoned, with the trainer's stop tokens and chat-template kwargs. Each rank scores its own
completions; the scores are gathered, so every rank returns the same :class:`EvalResult`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch as th
from accelerate.utils import gather_object
from trl.distributed import DistributedBackend
from trl.models.utils import unwrap_model_for_generation

from rlvr.evaluation.decoding import greedy_completions
from rlvr.evaluation.scoring import EvalResult, Scorer, score_rows, summarize


@dataclass
class HeldOutSpec:
    """What to evaluate and how (from the ``eval`` keys)."""

    max_new_tokens: int
    batch_size: int = 64
    success_threshold: float = 1.0
    group_column: str | None = None


@contextlib.contextmanager
def generation_model(trainer: Any) -> Iterator[th.nn.Module]:
    """The policy ready for ``generate`` on every rank: unwrapped, ZeRO-3 parameters gathered, FSDP summoned."""
    gather = bool(getattr(trainer.args, "ds3_gather_for_generation", True))
    with (
        unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=gather
        ) as model,
        th.no_grad(),
        DistributedBackend(trainer.accelerator).summon_full_params(trainer.model_wrapped, recurse=False),
    ):
        yield model


def evaluate_held_out(trainer: Any, rows: list[dict[str, Any]], score: Scorer, spec: HeldOutSpec) -> EvalResult:
    """Greedy accuracy of the trainer's current policy on ``rows``; call it on EVERY rank (a collective)."""
    start = time.time()
    accelerator = trainer.accelerator
    rank, world = accelerator.process_index, accelerator.num_processes
    mine = list(range(rank, len(rows), world))
    per_rank = -(-len(rows) // world) if rows else 0
    shard = [rows[i] for i in mine] + [rows[0]] * (per_rank - len(mine))  # padding: same number of calls
    texts: list[str] = []
    lengths: list[int] = []
    if shard:
        with generation_model(trainer) as model:
            texts, lengths = greedy_completions(
                model,
                trainer.processing_class,
                [r["prompt"] for r in shard],
                spec.max_new_tokens,
                spec.batch_size,
                eos_token_ids=trainer.stop_token_ids,
                chat_template_kwargs=trainer.prompt_template_kwargs,
                logits_processors=trainer.logits_processors(),  # RLVRTrainer's hooks: the extensions' sampling
                decode=trainer.decode_completion,  # and decoding rules (the reasoning vocabulary's)
            )
    texts, lengths = texts[: len(mine)], lengths[: len(mine)]
    scores = score_rows([rows[i] for i in mine], texts, score)
    local = list(zip(mine, scores, lengths, strict=True))
    records = sorted(gather_object(local) if world > 1 else local)
    return summarize(
        rows,
        [s for _, s, _ in records],
        [n for _, _, n in records],
        spec.success_threshold,
        spec.group_column,
        time.time() - start,
        world,
    )
