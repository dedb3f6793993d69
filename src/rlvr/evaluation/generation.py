"""Held-out evaluation: greedy decoding of every held-out prompt, scored by a reward function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch as th
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class EvalResult:
    accuracy: float
    n: int
    mean_completion_tokens: float
    seconds: float
    per_group: dict[str, float]  # accuracy per value of a grouping column (e.g. arith level, task)


@th.no_grad()
def greedy_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[dict[str, str]]],
    max_new_tokens: int,
    batch_size: int = 64,
) -> tuple[list[str], list[int]]:
    """Greedy completions (text up to the first EOS) and their token counts."""
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    eos = tokenizer.eos_token_id
    texts, lengths = [], []
    device = next(model.parameters()).device
    try:
        for i in range(0, len(prompts), batch_size):
            chunk = [
                tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                for p in prompts[i : i + batch_size]
            ]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=eos,
            )
            for row in out[:, enc["input_ids"].shape[1] :].tolist():
                if eos in row:
                    row = row[: row.index(eos) + 1]
                while row and row[-1] == tokenizer.pad_token_id:
                    row.pop()
                lengths.append(len(row))
                texts.append(tokenizer.decode(row, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return texts, lengths


def evaluate_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict],
    score: Callable[..., list[float | None]],
    max_new_tokens: int,
    batch_size: int = 64,
    group_column: str | None = None,
    success_threshold: float = 1.0,
) -> EvalResult:
    """Greedy accuracy on ``rows`` (each with ``prompt`` and the columns ``score`` reads).

    ``score`` is called the way TRL calls reward functions: ``completions`` plus every row
    column as a list. A completion counts as solved when its score reaches
    ``success_threshold``; an unscorable row (score ``None``) counts as unsolved.
    """
    start = time.time()
    prompts = [r["prompt"] for r in rows]
    texts, lengths = greedy_completions(model, tokenizer, prompts, max_new_tokens, batch_size)
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    columns = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"} if rows else {}
    scores = score(prompts=prompts, completions=completions, **columns)
    solved = [s is not None and s >= success_threshold for s in scores]
    groups: dict[str, list[bool]] = {}
    if group_column and rows and group_column in rows[0]:
        for r, ok in zip(rows, solved, strict=True):
            groups.setdefault(str(r[group_column]), []).append(ok)
    return EvalResult(
        accuracy=sum(solved) / max(1, len(solved)),
        n=len(solved),
        mean_completion_tokens=sum(lengths) / max(1, len(lengths)),
        seconds=round(time.time() - start, 2),
        per_group={k: round(sum(v) / len(v), 4) for k, v in sorted(groups.items())},
    )
