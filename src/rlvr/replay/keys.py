"""Canonical prompt keys: :func:`prompt_key`, the identity of a prompt in the replay buffer.

A key must be equal for prompts that differ only in whitespace, differ for prompts whose
messages differ in role or text, and be stable across processes and runs (every rank and a
resumed run must compute the same key), so it is a blake2b-128 digest of a canonical
string, never Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["prompt_key"]


def _collapse(text: Any) -> str:
    """``text`` as a string with every whitespace run collapsed to one space, stripped."""
    return " ".join(str(text).split())


def _collapse_nested(obj: Any) -> Any:
    """``obj`` with :func:`_collapse` applied to every string inside dicts, lists and tuples."""
    if isinstance(obj, str):
        return _collapse(obj)
    if isinstance(obj, dict):
        return {str(k): _collapse_nested(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_collapse_nested(v) for v in obj]
    return obj


def prompt_key(prompt: str | Sequence[dict[str, Any]] | Any) -> str:
    """Canonical, process-stable key of a prompt (blake2b-128 hex, 32 characters).

    A chat prompt (list of ``{"role", "content"}`` messages) is keyed on each message's role
    and whitespace-collapsed content; a string on its whitespace-collapsed text. Message
    content given as a list of parts (``[{"type": "text", "text": ...}]``) is canonicalised
    with sorted-key JSON after collapsing its text fields. A string and a one-message chat
    with the same text get different keys.

    Raises:
        TypeError: ``prompt`` is neither a string nor a sequence of message dicts.
    """
    if isinstance(prompt, str):
        canon = "s\x1e" + _collapse(prompt)
    elif isinstance(prompt, Sequence) and all(isinstance(m, dict) for m in prompt):
        parts = []
        for msg in prompt:
            content = msg.get("content", "")
            if isinstance(content, str) or content is None:
                text = _collapse(content or "")
            else:
                text = json.dumps(_collapse_nested(content), sort_keys=True, ensure_ascii=False)
            parts.append(f"{_collapse(msg.get('role', ''))}\x1f{text}")
        canon = "m\x1e" + "\x1e".join(parts)
    else:
        raise TypeError(f"prompt_key: expected a str or a list of chat messages, got {type(prompt).__name__}")
    return hashlib.blake2b(canon.encode("utf-8"), digest_size=16).hexdigest()
