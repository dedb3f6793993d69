"""What an evaluation backend returns, shared by the transformers (``rlvr.evaluation.offline``) and vLLM
(``rlvr.evaluation.vllm_backend``) generators without either importing the other's module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Completion:
    text: str
    tokens: int
    truncated: bool  # hit max_new_tokens without a stop token


# gen(prompts, n, sampling) -> n completions per prompt; sampling None means greedy
Generate = Callable[[list[Any], int, "dict[str, Any] | None"], list[list[Completion]]]
