"""Chat prompt processing: rows become conversational prompts, cleaned the same way for every source.

- A prompt comes from a chat-messages column (a list of ``{role, content}``, or its JSON text)
  or from a plain-text problem column (one user turn).
- Assistant turns are dropped: a prompt ends with the user's request, never with an answer.
- Stray ``<think>...</think>`` and ``<answer>...</answer>`` blocks (and lone tags) are stripped
  from user turns, so leaked reasoning or answers never reach the policy.
- The configured system prompt is injected only when the row has no system turn of its own.
- :func:`filter_long_prompts` drops prompts longer than ``max_prompt_length`` tokens after the
  tokenizer's chat template; it needs the tokenizer, so ``rlvr.train.build`` calls it after the
  model loads.
"""

from __future__ import annotations

import json
import re
from typing import Any

from datasets import Dataset
from loguru import logger

from rlvr.errors import UserError

Message = dict[str, str]

_BLOCKS = re.compile(r"<(think|answer)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_LONE_TAGS = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def strip_reasoning_tags(text: str) -> str:
    """``text`` without ``<think>``/``<answer>`` blocks or lone tags (whitespace tidied)."""
    out = _LONE_TAGS.sub("", _BLOCKS.sub("", text))
    return _BLANK_RUNS.sub("\n\n", out).strip() if out != text else text


def as_messages(value: Any, column: str, key: str) -> list[Message]:
    """Read a chat-messages cell: a list of ``{role, content}``, its JSON text, or plain text (a user turn)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                return [{"role": "user", "content": value}]
        else:
            return [{"role": "user", "content": value}]
    if isinstance(value, dict) and "role" in value:
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(m, dict) and "role" in m for m in value):
        raise UserError(
            f"{key}: column {column!r} holds {type(value).__name__} cells; expected chat messages "
            "(a list of {role, content}) or text"
        )
    return [{"role": str(m["role"]), "content": "" if m.get("content") is None else str(m["content"])} for m in value]


def clean_messages(messages: list[Message], system_prompt: str | None) -> tuple[list[Message], dict[str, bool]]:
    """Drop assistant turns, strip tags from user turns, inject ``system_prompt`` when the row has none.

    Returns the cleaned messages and what was done (``dropped_assistant``, ``stripped``, ``injected``).
    """
    kept = [m for m in messages if m["role"] != "assistant"]
    flags = {"dropped_assistant": len(kept) < len(messages), "stripped": False, "injected": False}
    out = []
    for m in kept:
        if m["role"] == "user":
            text = strip_reasoning_tags(m["content"])
            if text != m["content"]:
                flags["stripped"] = True
                m = {"role": "user", "content": text}
        out.append(m)
    if system_prompt and not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": system_prompt})
        flags["injected"] = True
    return out, flags


def has_user_turn(messages: list[Message]) -> bool:
    return any(m["role"] == "user" and m["content"].strip() for m in messages)


def prompt_lengths(data: Dataset, tokenizer: Any, batch_size: int = 512) -> list[int]:
    """Token count of every row's ``prompt`` after the chat template (with the generation prompt),
    as TRL tokenizes it for generation."""
    lengths: list[int] = []
    for start in range(0, len(data), batch_size):
        prompts = data[start : start + batch_size]["prompt"]
        texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        lengths.extend(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    return lengths


def filter_long_prompts(data: Dataset, tokenizer: Any, max_length: int | None, label: str = "train") -> Dataset:
    """Drop rows whose prompt is longer than ``max_length`` tokens (``None``: keep every row)."""
    if max_length is None or len(data) == 0:
        return data
    lengths = prompt_lengths(data, tokenizer)
    keep = [i for i, n in enumerate(lengths) if n <= max_length]
    if len(keep) < len(data):
        logger.info(
            f"dataset ({label}): dropped {len(data) - len(keep)} of {len(data)} rows with prompts longer than "
            f"dataset.max_prompt_length={max_length} tokens (longest: {max(lengths)})"
        )
        data = data.select(keep)
    return data


def filter_prompts_by_length(
    train: Dataset, held_out: Dataset, tokenizer: Any, max_length: int | None
) -> tuple[Dataset, Dataset]:
    """:func:`filter_long_prompts` on both splits; a train split left empty is the user's to fix."""
    if max_length is None:
        return train, held_out
    if max_length <= 0:
        raise UserError(f"dataset.max_prompt_length: {max_length} must be a positive token count (or null)")
    before = len(train)
    train = filter_long_prompts(train, tokenizer, max_length, "train")
    held_out = filter_long_prompts(held_out, tokenizer, max_length, "held-out")
    if before and not len(train):
        raise UserError(
            f"dataset.max_prompt_length: every one of {before} training prompts is longer than {max_length} tokens"
        )
    return train, held_out
