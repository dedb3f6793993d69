"""Completions of chat prompts with transformers ``generate``: the one decoding loop of the repository (held-out
evaluation during training, ``exp/evaluate.py``'s transformers backend, the tiny model's warm start, ``quick_test``,
the reasoning-vocabulary entropy profile).

Prompts go through the chat template (``add_generation_prompt``, the training ``chat_template_kwargs``), are
batched with left padding, and each completion is cut after its first stop token (default: the tokenizer's EOS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch as th
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from rlvr.evaluation.completions import Completion


@dataclass
class GeneratedBatch:
    """One ``generate`` call on a batch of chat prompts, as tensors (for analyses that need more than text)."""

    prompt_ids: th.Tensor  # (B, P), left-padded
    prompt_mask: th.Tensor  # (B, P)
    completion_ids: th.Tensor  # (B * n, T): each prompt's n completions in a row, padded after their end
    scores: tuple[th.Tensor, ...] | None  # T tensors (B * n, V): the logits after the processors, before sampling


@th.no_grad()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[list[dict[str, str]]],
    max_new_tokens: int,
    n: int = 1,
    sampling: dict[str, Any] | None = None,
    eos_token_ids: Sequence[int] | None = None,
    chat_template_kwargs: dict[str, Any] | None = None,
    logits_processors: list[Any] | None = None,
    output_scores: bool = False,
) -> GeneratedBatch:
    """One ``generate`` call: ``prompts`` through the chat template (``add_generation_prompt``), left-padded, ``n``
    completions each, greedy when ``sampling`` is None, else sampled with its settings. ``output_scores`` keeps
    each step's processed logits. The tokenizer's padding side and the model's train mode are restored after."""
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    try:
        texts = [
            tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False, **(chat_template_kwargs or {}))
            for p in prompts
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(next(model.parameters()).device)
        for proc in logits_processors or []:
            if hasattr(proc, "reset"):
                proc.reset()
        extra = {"logits_processor": LogitsProcessorList(logits_processors)} if logits_processors else {}
        gen: dict[str, Any] = {"do_sample": False} if sampling is None else {"do_sample": True, **sampling}
        out = model.generate(
            **enc,
            **extra,
            **gen,
            max_new_tokens=max_new_tokens,
            num_return_sequences=n,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=list(eos_token_ids) if eos_token_ids else [tokenizer.eos_token_id],
            output_scores=output_scores,
            return_dict_in_generate=True,
        )
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    plen = enc["input_ids"].shape[1]
    return GeneratedBatch(
        enc["input_ids"], enc["attention_mask"], out.sequences[:, plen:], tuple(out.scores) if output_scores else None
    )


def generate_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[list[dict[str, str]]],
    max_new_tokens: int,
    batch_size: int = 64,
    n: int = 1,
    sampling: dict[str, Any] | None = None,
    eos_token_ids: Sequence[int] | None = None,
    chat_template_kwargs: dict[str, Any] | None = None,
    logits_processors: list[Any] | None = None,
    decode: Callable[[list[int]], str] | None = None,
) -> list[list[Completion]]:
    """``n`` completions per chat prompt: greedy when ``sampling`` is None, else sampled with its ``generate``
    settings (``temperature``, ``top_p``, ...). About ``batch_size`` sequences go to each ``generate`` call
    (:func:`generate_batch`).

    ``eos_token_ids`` are the stop tokens (default: the tokenizer's EOS); ``logits_processors`` apply to every call
    (each ``reset()`` before it, when it has one); ``decode`` turns a completion's ids into text (default: the
    tokenizer's decode without special tokens). A completion that hit ``max_new_tokens`` without a stop token is
    ``truncated``. The model is put in eval mode for the call and back as it was.
    """
    stops = list(eos_token_ids) if eos_token_ids else [tokenizer.eos_token_id]
    per_call = max(1, batch_size // n)
    out: list[list[Completion]] = []
    for i in range(0, len(prompts), per_call):
        batch = generate_batch(
            model, tokenizer, prompts[i : i + per_call], max_new_tokens, n, sampling, stops, chat_template_kwargs,
            logits_processors,
        )  # fmt: skip
        rows = batch.completion_ids.tolist()
        for j in range(0, len(rows), n):
            group = []
            for row in rows[j : j + n]:
                cut = next((t for t, tok in enumerate(row) if tok in stops), None)
                if cut is not None:
                    row = row[: cut + 1]
                while row and row[-1] == tokenizer.pad_token_id and row[-1] not in stops:
                    row.pop()
                text = decode(row) if decode else tokenizer.decode(row, skip_special_tokens=True)
                group.append(Completion(text, len(row), cut is None))
            out.append(group)
    return out


def greedy_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[dict[str, str]]],
    max_new_tokens: int,
    batch_size: int = 64,
    eos_token_ids: Sequence[int] | None = None,
    chat_template_kwargs: dict[str, Any] | None = None,
    logits_processors: list[Any] | None = None,
    decode: Callable[[list[int]], str] | None = None,
) -> tuple[list[str], list[int]]:
    """Greedy completions (text up to the first stop token) and their token counts; see
    :func:`generate_completions` for the arguments."""
    groups = generate_completions(
        model, tokenizer, prompts, max_new_tokens, batch_size, 1, None, eos_token_ids, chat_template_kwargs,
        logits_processors, decode,
    )  # fmt: skip
    return [g[0].text for g in groups], [g[0].tokens for g in groups]
