"""Per-token log-probabilities under a per-position restriction of the vocabulary.

When rollouts are sampled with a logits processor that masks some token ids at some positions (the reasoning
vocabulary: its copies only inside thinking), the policy that produced them is the *masked* softmax. The loss, the
old-policy and reference log-probs and the logged entropies must then be computed under the same mask, or every
policy-gradient step also pushes the masked ids' logits down through the softmax's normaliser.

TRL 1.16 computes log-probs with a fused LM head (``trl.trainer.utils.add_fused_lm_head``) that never
materialises logits, so it has no place for a mask. :func:`add_restricted_lm_head` adds a second path to the same
model's forward, ``model(..., token_restriction=r)``: it runs the backbone once, then projects, in chunks of positions,
through the output layer *as a module* (so PEFT's trainable token rows and FSDP's gathering hooks apply), applies the
model's logit scale, soft-capping and the sampling temperature like TRL's head, sets the disallowed ids to -inf and
returns the label log-probs and the entropy of the masked distribution. Under autograd each chunk is recomputed in the
backward pass (activation checkpointing), so at most one chunk's logits (``CHUNK_ELEMENTS`` floats) are held at a time.
Without ``token_restriction`` the forward is unchanged (TRL's fused path, or plain logits for ``generate``).

A restriction is a small table of allowed-id rows and, per completion position, which row applies
(:class:`TokenRestriction`): the reasoning vocabulary needs two rows (outside, inside) or, with
``inside=reasoning_only``, one per partial match of the closing tag.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from typing import Any

import torch as th
from torch.utils.checkpoint import checkpoint
from transformers.utils import ModelOutput

CHUNK_ELEMENTS = 1 << 25  # logits per chunk (x4 bytes in float32): 128 MiB


@dataclass(frozen=True)
class TokenRestriction:
    """Which ids may be sampled at each completion position.

    ``classes`` (B, K) long: for each of the K positions whose next token is scored, a row of ``allowed``.
    ``allowed`` (C, N) bool: the ids each class allows; ids >= N (a vocabulary padded beyond the table) are allowed.
    """

    classes: th.Tensor
    allowed: th.Tensor

    def rows(self, start: int, end: int) -> TokenRestriction:
        return TokenRestriction(self.classes[start:end], self.allowed)

    def label_allowed(self, labels: th.Tensor) -> th.Tensor:
        """(B, K) bool: whether each label is allowed at its position."""
        n = self.allowed.size(1)
        inside = labels < n
        ok = self.allowed.to(labels.device)[self.classes.to(labels.device), labels.clamp(max=n - 1)]
        return ok | ~inside

    def allowing(self, labels: th.Tensor, where: th.Tensor) -> TokenRestriction:
        """A copy that also allows ``labels`` at the positions ``where`` (one new class per such position)."""
        positions = where.nonzero().tolist()
        if not positions:
            return self
        classes = self.classes.clone()
        extra = []
        for b, t in positions:
            row = self.allowed[int(classes[b, t])].clone()
            row[int(labels[b, t])] = True
            classes[b, t] = self.allowed.size(0) + len(extra)
            extra.append(row)
        return TokenRestriction(classes, th.cat([self.allowed, th.stack(extra).to(self.allowed.device)]))


@dataclass
class RestrictedLMOutput(ModelOutput):
    """``log_probs`` and ``entropy`` (B, K) under the restriction; 0 where the label is padding."""

    log_probs: th.Tensor | None = None
    entropy: th.Tensor | None = None


def logit_transform(config: Any) -> tuple[float, float | None]:
    """(scale, soft-cap) the model applies to its output logits, read from the config as TRL 1.16's fused head does
    (``logit_scale`` / ``output_multiplier`` / ``lm_head_multiplier`` / ``logits_scaling``; ``final_logit_softcapping``)."""
    text = config.get_text_config()
    scale = getattr(text, "logit_scale", None)
    if scale is None:
        scale = getattr(text, "output_multiplier", None)
    if scale is None:
        scale = getattr(text, "lm_head_multiplier", None)
    if scale is None and getattr(text, "logits_scaling", None) is not None:
        scale = text.logits_scaling if text.model_type == "hyperclovax" else 1 / text.logits_scaling
    return (1.0 if scale is None else float(scale)), getattr(text, "final_logit_softcapping", None)


def _masked_chunk(
    head: th.nn.Module,
    hidden: th.Tensor,
    labels: th.Tensor,
    allowed: th.Tensor,
    scale: float,
    softcap: float | None,
    temperature: float,
    fp32_head: bool = False,
) -> tuple[th.Tensor, th.Tensor]:
    """Label log-probs and entropies of (n, H) hidden states; ``allowed`` (n, N) bool. ``fp32_head``: the head's
    matmul in float32 outside autocast (``training.cast_lm_head_to_fp32``, as TRL's fused head does)."""
    if fp32_head:
        with th.autocast(hidden.device.type, enabled=False):
            logits = head(hidden.float()).float()
    else:
        logits = head(hidden).float()
    if scale != 1.0:
        logits = logits * scale
    if softcap:
        logits = th.tanh(logits / softcap) * softcap
    logits = logits / temperature
    n_cols, n_table = logits.size(-1), allowed.size(-1)
    if n_cols > n_table:  # padded vocabulary columns beyond the table: allowed
        allowed = th.cat([allowed, allowed.new_ones(allowed.size(0), n_cols - n_table)], dim=-1)
    elif n_cols < n_table:
        allowed = allowed[:, :n_cols]
    logp = th.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
    label_logp = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    # masked ids hold logp = -inf: zero them before the product, or its backward sends 0 * inf = NaN into the head
    finite = logp.masked_fill(~allowed, 0.0)
    entropy = -(finite.exp() * finite).masked_fill(~allowed, 0.0).sum(-1)
    return label_logp, entropy


def restricted_token_logps(
    head: th.nn.Module,
    hidden: th.Tensor,
    labels: th.Tensor,
    label_mask: th.Tensor,
    restriction: TokenRestriction,
    temperature: float = 1.0,
    scale: float = 1.0,
    softcap: float | None = None,
    fp32_head: bool = False,
) -> tuple[th.Tensor, th.Tensor]:
    """(B, K) log-probs of ``labels`` and entropies from (B, K, H) ``hidden`` through ``head`` under the
    restriction; positions where ``label_mask`` is False are 0 and cost nothing."""
    keep = label_mask.bool()
    h = hidden[keep]
    lab = labels[keep]
    allowed = restriction.allowed.to(h.device)
    cls = restriction.classes.to(keep.device)[keep].to(h.device)
    n_cols = max(int(allowed.size(1)), 1)
    per_chunk = max(1, CHUNK_ELEMENTS // n_cols)
    logps, ents = [], []
    for start in range(0, h.size(0), per_chunk):
        args = (head, h[start : start + per_chunk], lab[start : start + per_chunk])
        rows = allowed[cls[start : start + per_chunk]]
        if th.is_grad_enabled():
            lp, ent = checkpoint(
                _masked_chunk, *args, rows, scale, softcap, temperature, fp32_head, use_reentrant=False
            )
        else:
            lp, ent = _masked_chunk(*args, rows, scale, softcap, temperature, fp32_head)
        logps.append(lp)
        ents.append(ent)
    flat_lp = th.cat(logps) if logps else hidden.new_zeros(0, dtype=th.float32)
    flat_ent = th.cat(ents) if ents else hidden.new_zeros(0, dtype=th.float32)
    # masked_scatter keeps an all-padding batch connected to the graph (a differentiable zero), as TRL's head does
    out_lp = th.zeros(keep.shape, dtype=th.float32, device=h.device).masked_scatter(keep.to(h.device), flat_lp)
    out_ent = th.zeros(keep.shape, dtype=th.float32, device=h.device).masked_scatter(keep.to(h.device), flat_ent)
    return out_lp, out_ent


def add_restricted_lm_head(model: Any, temperature: float = 1.0, fp32_head: bool = False) -> None:
    """Give ``model`` (a transformers causal LM, before PEFT wrapping, after TRL's fused head) the restricted path:
    ``model(input_ids=..., attention_mask=..., token_restriction=r)`` returns a :class:`RestrictedLMOutput` for the
    last ``r.classes.size(1)`` next-token positions. Calls without ``token_restriction`` are unchanged.
    ``fp32_head``: project in float32 outside autocast (``cast_lm_head_to_fp32``)."""
    if getattr(model, "_rlvr_restricted_head", False):
        return
    previous = model.forward
    scale, softcap = logit_transform(model.config)

    @functools.wraps(type(model).forward)  # keep the signature: generate validates its kwargs against it
    def forward(self: Any, *args: Any, token_restriction: TokenRestriction | None = None, **kwargs: Any) -> Any:
        if token_restriction is None:
            return previous(*args, **kwargs)
        for key in ("labels", "shift_labels", "num_items_in_batch", "logits_to_keep", "fused_lm_head"):
            kwargs.pop(key, None)
        kwargs["use_cache"] = False
        input_ids, attention_mask = kwargs["input_ids"], kwargs.get("attention_mask")
        k = token_restriction.classes.size(1)
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, -k - 1 : -1]
        labels = input_ids[:, -k:]
        label_mask = th.ones_like(labels, dtype=th.bool) if attention_mask is None else attention_mask[:, -k:].bool()
        head = self.get_output_embeddings()
        log_probs, entropy = restricted_token_logps(
            head, hidden, labels.to(hidden.device), label_mask.to(hidden.device), token_restriction,
            temperature, scale, softcap, fp32_head,
        )  # fmt: skip
        return RestrictedLMOutput(log_probs=log_probs, entropy=entropy)

    model.forward = types.MethodType(forward, model)
    model._rlvr_restricted_head = True
