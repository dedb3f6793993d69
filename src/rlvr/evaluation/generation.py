"""Greedy completions of chat prompts with a transformers model, batched, stopped at the training stop tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch as th
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase


@th.no_grad()
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
    """Greedy completions (text up to the first stop token) and their token counts.

    ``eos_token_ids`` are the stop tokens (default: the tokenizer's EOS); ``chat_template_kwargs`` go to
    ``apply_chat_template`` (e.g. ``enable_thinking``), as in training; ``logits_processors`` apply to every
    ``generate`` call (each ``reset()`` before it, when it has one); ``decode`` turns a completion's ids into text
    (default: the tokenizer's decode without special tokens).
    """
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    stops = list(eos_token_ids) if eos_token_ids else [tokenizer.eos_token_id]
    texts, lengths = [], []
    device = next(model.parameters()).device
    try:
        for i in range(0, len(prompts), batch_size):
            chunk = [
                tokenizer.apply_chat_template(
                    p, add_generation_prompt=True, tokenize=False, **(chat_template_kwargs or {})
                )
                for p in prompts[i : i + batch_size]
            ]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            for proc in logits_processors or []:
                if hasattr(proc, "reset"):
                    proc.reset()
            extra = {"logits_processor": LogitsProcessorList(logits_processors)} if logits_processors else {}
            out = model.generate(
                **enc,
                **extra,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=stops,
            )
            for row in out[:, enc["input_ids"].shape[1] :].tolist():
                cut = next((j for j, tok in enumerate(row) if tok in stops), None)
                if cut is not None:
                    row = row[: cut + 1]
                while row and row[-1] == tokenizer.pad_token_id and row[-1] not in stops:
                    row.pop()
                lengths.append(len(row))
                texts.append(decode(row) if decode else tokenizer.decode(row, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return texts, lengths
