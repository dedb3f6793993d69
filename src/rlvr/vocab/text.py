"""Text of completions that use reasoning tokens: as the rewards read it, and marked for people to read."""

from __future__ import annotations

import torch as th
from transformers import PreTrainedTokenizerBase

from rlvr.vocab.token_map import TokenMap


def _as_list(ids: th.Tensor | list[int]) -> list[int]:
    return ids.tolist() if isinstance(ids, th.Tensor) else list(ids)


def decode_mapped(
    tokenizer: PreTrainedTokenizerBase,
    ids: th.Tensor | list[int],
    token_map: TokenMap,
    skip_special_tokens: bool = True,
) -> str:
    """``ids`` decoded with each reasoning token read as its source token: the text rewards see (``\\boxed{}``
    parsing is unchanged)."""
    return tokenizer.decode(token_map.to_source(_as_list(ids)), skip_special_tokens=skip_special_tokens)


def batch_decode_mapped(
    tokenizer: PreTrainedTokenizerBase,
    ids: th.Tensor | list[list[int]],
    token_map: TokenMap,
    skip_special_tokens: bool = True,
) -> list[str]:
    """:func:`decode_mapped` for each row of ``ids`` (a 2-D tensor or a list of id lists)."""
    rows = ids.tolist() if isinstance(ids, th.Tensor) else ids
    return tokenizer.batch_decode([token_map.to_source(list(r)) for r in rows], skip_special_tokens=skip_special_tokens)


def mark(text: str, marker: str) -> str:
    """``text`` shown as a reasoning token: ``{}`` in ``marker`` stands for it, else ``marker`` is a prefix."""
    return marker.replace("{}", text) if "{}" in marker else marker + text


def decode_marked(
    tokenizer: PreTrainedTokenizerBase,
    ids: th.Tensor | list[int],
    token_map: TokenMap,
    skip_special_tokens: bool = True,
    marker: str | None = None,
) -> str:
    """``ids`` decoded like :func:`decode_mapped`, each reasoning token's text marked (default: the token map's
    ``marker``, e.g. ``⟨x⟩``) so a person sees where thinking used the reasoning vocabulary.

    Runs of standard tokens decode together; each reasoning token decodes alone (a character split across a
    reasoning token and its neighbours by a byte-level tokenizer shows as a replacement character).
    """
    marker = token_map.marker if marker is None else marker
    ids = _as_list(ids)
    flags = token_map.is_reasoning(ids)
    mapped = token_map.to_source(ids)
    parts: list[str] = []
    run: list[int] = []
    for i, flag in zip(mapped, flags, strict=True):
        if not flag:
            run.append(i)
            continue
        if run:
            parts.append(tokenizer.decode(run, skip_special_tokens=skip_special_tokens))
            run = []
        text = tokenizer.decode([i], skip_special_tokens=skip_special_tokens)
        if text:
            parts.append(mark(text, marker))
    if run:
        parts.append(tokenizer.decode(run, skip_special_tokens=skip_special_tokens))
    return "".join(parts)
