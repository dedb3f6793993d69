"""The thinking mask as a :class:`~rlvr.trainers.restricted_logps.TokenRestriction`: the ids
:class:`~rlvr.vocab.thinking.ThinkingLogitsProcessor` allowed at each completion position, so the loss, the
old-policy and reference log-probs and the entropies are computed under the softmax the rollouts were sampled from.

Classes (rows of the allowed table, over the V+R ids of the extended model):

- 0, outside thinking: the standard ids;
- 1, inside thinking with ``inside=both``: every id;
- 1 + c, inside thinking with ``inside=reasoning_only`` and c characters of the closing tag matched: the reasoning
  copies and the standard ids that continue or restart the closing tag (EOS is not one of them).

The state before each completion token comes from the same :class:`~rlvr.vocab.thinking.ThinkingTracker` the
processor samples with, run over the row's prompt (its unpadded tokens) and then the completion.
"""

from __future__ import annotations

import torch as th

from rlvr.trainers.restricted_logps import TokenRestriction
from rlvr.vocab.thinking import ThinkingTracker
from rlvr.vocab.token_map import TokenMap

OUTSIDE, INSIDE = 0, 1


def allowed_table(token_map: TokenMap, closing: list[list[int]]) -> th.Tensor:
    """(C, V+R) bool: the ids each class allows (see the module doc); ``closing[c]``: the standard ids allowed
    inside thinking at close-tag progress c (``reasoning_only`` only; empty for ``both``)."""
    v, n = token_map.base_vocab_size, token_map.vocab_size
    outside = th.zeros(n, dtype=th.bool)
    outside[:v] = True
    if token_map.inside != "reasoning_only":
        return th.stack([outside, th.ones(n, dtype=th.bool)])
    rows = [outside]
    for ids in closing:
        row = th.zeros(n, dtype=th.bool)
        row[v:] = True
        row[ids] = True
        rows.append(row)
    return th.stack(rows)


def position_classes(
    tracker: ThinkingTracker,
    input_ids: th.Tensor,
    attention_mask: th.Tensor,
    logits_to_keep: int,
    reasoning_only: bool,
) -> th.Tensor:
    """(B, K) long: the class of each of the last K positions of the (prompt + completion) rows."""
    k = logits_to_keep
    n_prompt = input_ids.size(1) - k
    out = []
    for row, keep in zip(input_ids.tolist(), attention_mask.bool().tolist(), strict=True):
        prompt = [t for t, m in zip(row[:n_prompt], keep[:n_prompt], strict=True) if m]
        states = tracker.completion_states(prompt, row[n_prompt:], keep[n_prompt:])
        out.append([
            INSIDE + (tracker.close_progress(s) if reasoning_only else 0) if tracker.is_inside(s) else OUTSIDE
            for s in states
        ])  # fmt: skip
    return th.tensor(out, dtype=th.long).reshape(input_ids.size(0), k)


def thinking_restriction(
    token_map: TokenMap,
    tracker: ThinkingTracker,
    table: th.Tensor,
    input_ids: th.Tensor,
    attention_mask: th.Tensor,
    logits_to_keep: int,
) -> TokenRestriction:
    """The restriction the thinking mask put on the last ``logits_to_keep`` tokens of each row."""
    only = token_map.inside == "reasoning_only"
    classes = position_classes(tracker, input_ids, attention_mask, logits_to_keep, only)
    return TokenRestriction(classes.to(input_ids.device), table.to(input_ids.device))
