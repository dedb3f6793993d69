"""How completions use the reasoning vocabulary: logged per batch of rollouts."""

from __future__ import annotations

import torch as th

from rlvr.vocab.thinking import ThinkingTracker
from rlvr.vocab.token_map import TokenMap

PREFIX = "reasoning_vocab/"


def thinking_mask(
    completion_ids: th.Tensor,
    completion_mask: th.Tensor,
    prompt_ids: th.Tensor | list[list[int]],
    tracker: ThinkingTracker,
    prompt_mask: th.Tensor | None = None,
) -> th.Tensor:
    """(B, T) bool: completion token t was sampled inside thinking (the state before it was inside).

    The state starts from each row's prompt (only positions where ``prompt_mask`` is 1, when given). Masked
    completion positions are False. This is the rule :class:`ThinkingLogitsProcessor` samples under.
    """
    ids = completion_ids.tolist()
    mask = completion_mask.bool().tolist()
    prompts = prompt_ids.tolist() if isinstance(prompt_ids, th.Tensor) else prompt_ids
    pmask = prompt_mask.bool().tolist() if prompt_mask is not None else None
    flags = []
    for b, (row, keep) in enumerate(zip(ids, mask, strict=True)):
        prompt = prompts[b] if pmask is None else [t for t, k in zip(prompts[b], pmask[b], strict=True) if k]
        states = tracker.completion_states(prompt, row, keep)
        flags.append([k and tracker.is_inside(s) for s, k in zip(states, keep, strict=True)])
    return th.tensor(flags, dtype=th.bool, device=completion_ids.device).reshape(completion_ids.shape)


def reasoning_usage(
    completion_ids: th.Tensor,
    completion_mask: th.Tensor,
    prompt_ids: th.Tensor | list[list[int]],
    token_map: TokenMap,
    tracker: ThinkingTracker,
    entropies: th.Tensor | None = None,
    prompt_mask: th.Tensor | None = None,
) -> dict[str, float]:
    """Usage of the reasoning vocabulary in a batch of completions (padded (B, T) ids and mask).

    Keys (prefix ``reasoning_vocab/``): ``thinking_tokens`` (tokens sampled inside thinking), ``share_in_thinking``
    (the share of those that are reasoning copies), ``outside_count`` (reasoning tokens sampled outside thinking:
    0 whenever the logits processor was used), ``distinct_ids`` (distinct reasoning ids used), and with per-token
    ``entropies`` (B, T) ``entropy_inside``/``entropy_outside`` (mean entropy of the tokens sampled inside/outside
    thinking). A ratio or mean over no tokens is NaN.
    """
    keep = completion_mask.bool()
    inside = thinking_mask(completion_ids, completion_mask, prompt_ids, tracker, prompt_mask)
    reasoning = token_map.is_reasoning(completion_ids) & keep
    n_inside = int(inside.sum())
    nan = float("nan")
    out = {
        "thinking_tokens": float(n_inside),
        "share_in_thinking": float((reasoning & inside).sum()) / n_inside if n_inside else nan,
        "outside_count": float((reasoning & ~inside).sum()),
        "distinct_ids": float(th.unique(completion_ids[reasoning]).numel()),
    }
    if entropies is not None:
        ent = entropies.float()
        outside = keep & ~inside
        out["entropy_inside"] = float(ent[inside].mean()) if n_inside else nan
        out["entropy_outside"] = float(ent[outside].mean()) if bool(outside.any()) else nan
    return {PREFIX + k: v for k, v in out.items()}
