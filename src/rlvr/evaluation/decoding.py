"""Completions of chat prompts with transformers ``generate``: the one decoding loop of the repository (held-out
evaluation during training, ``exp/evaluate.py``'s transformers backend, the tiny model's warm start, ``quick_test``).

Prompts go through the chat template (``add_generation_prompt``, the training ``chat_template_kwargs``), are
batched with left padding, and each completion is cut after its first stop token (default: the tokenizer's EOS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch as th
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from rlvr.evaluation.completions import Completion


@th.no_grad()
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
    settings (``temperature``, ``top_p``, ...). About ``batch_size`` sequences go to each ``generate`` call.

    ``eos_token_ids`` are the stop tokens (default: the tokenizer's EOS); ``logits_processors`` apply to every call
    (each ``reset()`` before it, when it has one); ``decode`` turns a completion's ids into text (default: the
    tokenizer's decode without special tokens). A completion that hit ``max_new_tokens`` without a stop token is
    ``truncated``. The model is put in eval mode for the call and back as it was.
    """
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    stops = list(eos_token_ids) if eos_token_ids else [tokenizer.eos_token_id]
    device = next(model.parameters()).device
    per_call = max(1, batch_size // n)
    gen: dict[str, Any] = {"do_sample": False} if sampling is None else {"do_sample": True, **sampling}
    out: list[list[Completion]] = []
    try:
        for i in range(0, len(prompts), per_call):
            chunk = [
                tokenizer.apply_chat_template(
                    p, add_generation_prompt=True, tokenize=False, **(chat_template_kwargs or {})
                )
                for p in prompts[i : i + per_call]
            ]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            for proc in logits_processors or []:
                if hasattr(proc, "reset"):
                    proc.reset()
            extra = {"logits_processor": LogitsProcessorList(logits_processors)} if logits_processors else {}
            ids = model.generate(
                **enc,
                **extra,
                **gen,
                max_new_tokens=max_new_tokens,
                num_return_sequences=n,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=stops,
            )
            rows = ids[:, enc["input_ids"].shape[1] :].tolist()
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
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
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
