"""Log-probs under the thinking mask: the restricted LM head equals a dense masked softmax (values and gradients),
and outside thinking the reasoning copies get no gradient, which the unmasked softmax would give them."""

from __future__ import annotations

import pytest
import torch as th
from peft import LoraConfig, get_peft_model

from rlvr.trainers import restricted_logps
from rlvr.trainers.restricted_logps import TokenRestriction, add_restricted_lm_head
from rlvr.vocab import extend_model, lora_trainable_settings
from rlvr.vocab.restriction import allowed_table, thinking_restriction
from rlvr.vocab.thinking import ThinkingLogitsProcessor
from tests.vocab.builders import char_tokenizer, tiny_llama, tiny_qwen3, token_map_for


def _rows(tok, texts: list[str]) -> tuple[th.Tensor, th.Tensor]:
    """Left-padded prompt + right-padded completion rows like TRL's, from (prompt, completion) texts."""
    enc = [(tok.encode(p, add_special_tokens=False), tok.encode(c, add_special_tokens=False)) for p, c in texts]
    np_, nc = max(len(p) for p, _ in enc), max(len(c) for _, c in enc)
    ids, mask = [], []
    for p, c in enc:
        pad_p, pad_c = np_ - len(p), nc - len(c)
        ids.append([tok.pad_token_id] * pad_p + p + c + [tok.pad_token_id] * pad_c)
        mask.append([0] * pad_p + [1] * (len(p) + len(c)) + [0] * pad_c)
    return th.tensor(ids), th.tensor(mask), nc


def _dense(model, ids, mask, k, restriction: TokenRestriction, temperature: float) -> th.Tensor:
    logits = model(input_ids=ids, attention_mask=mask).logits[:, -k - 1 : -1].float() / temperature
    allowed = restriction.allowed[restriction.classes]
    logp = th.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
    out = logp.gather(-1, ids[:, -k:].unsqueeze(-1)).squeeze(-1)
    return out.masked_fill(mask[:, -k:] == 0, 0.0)


@pytest.mark.parametrize("inside", ["both", "reasoning_only"])
@pytest.mark.parametrize("make_model", [tiny_qwen3, tiny_llama], ids=["tied", "untied"])
def test_restricted_head_equals_dense_masked_softmax(make_model, inside: str, monkeypatch) -> None:
    monkeypatch.setattr(restricted_logps, "CHUNK_ELEMENTS", 700)  # several chunks of positions
    tok = char_tokenizer()
    tm = token_map_for(tok, size=-1, init="all", inside=inside)
    v = tm.base_vocab_size
    model = make_model(tok)
    extend_model(model, tm)
    add_restricted_lm_head(model, temperature=0.7)
    proc = ThinkingLogitsProcessor(tm, tok)
    table = allowed_table(tm, proc.closing)
    texts = [("7+8=", "<think>7+8=15</think>\\boxed{15}"), ("<think>1", "+1=2</think>2"), ("3+4=", "\\boxed{7}")]
    ids, mask, k = _rows(tok, texts)
    r = thinking_restriction(tm, proc.tracker, table, ids, mask, k)
    labels = ids[:, -k:]
    if inside == "both":  # a reasoning copy inside thinking, read as its source by the tracker
        labels[0, 8] += v
    else:  # inside thinking only copies, and the standard closing tag
        labels += v * (~r.label_allowed(labels) & (labels < v) & mask[:, -k:].bool())
    assert th.equal(thinking_restriction(tm, proc.tracker, table, ids, mask, k).classes, r.classes)
    assert r.label_allowed(ids[:, -k:])[mask[:, -k:].bool()].all()
    out = model(input_ids=ids, attention_mask=mask, token_restriction=r)
    ref = _dense(model, ids, mask, k, r, 0.7)
    th.testing.assert_close(out.log_probs, ref, rtol=1e-5, atol=1e-5)

    g_out = th.autograd.grad(out.log_probs.sum(), model.get_output_embeddings().weight)[0]
    g_ref = th.autograd.grad(ref.sum(), model.get_output_embeddings().weight)[0]
    th.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-6)
    # the unchanged path: plain logits (what generate uses)
    assert model(input_ids=ids, attention_mask=mask).logits.shape[-1] == tm.vocab_size


def test_outside_thinking_the_copies_get_no_gradient() -> None:
    """Untied model, completions without thinking: the reasoning output rows' gradient is exactly 0 under the mask,
    and not under the full softmax (what TRL's fused head computes)."""
    tok = char_tokenizer()
    tm = token_map_for(tok, size=-1, init="all")
    v = tm.base_vocab_size
    model = tiny_llama(tok)
    extend_model(model, tm)
    add_restricted_lm_head(model)
    proc = ThinkingLogitsProcessor(tm, tok)
    ids, mask, k = _rows(tok, [("7+8=", "\\boxed{15}"), ("1+1=", "\\boxed{2}")])
    r = thinking_restriction(tm, proc.tracker, allowed_table(tm, proc.closing), ids, mask, k)
    assert int(r.classes[mask[:, -k:].bool()].max()) == 0  # every scored position is outside thinking
    head = model.get_output_embeddings().weight
    masked = model(input_ids=ids, attention_mask=mask, token_restriction=r).log_probs.sum()
    assert th.equal(th.autograd.grad(masked, head)[0][v:], th.zeros_like(head[v:]))
    full = th.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, -k - 1 : -1], -1)
    full = full.gather(-1, ids[:, -k:, None]).squeeze(-1)[mask[:, -k:].bool()].sum()
    assert th.autograd.grad(full, head)[0][v:].abs().sum() > 0


def _masked_setup(make_model=None):  # noqa: ANN001, ANN202
    tok = char_tokenizer()
    tm = token_map_for(tok, size=-1, init="all")
    model = (make_model or tiny_llama)(tok)
    extend_model(model, tm)
    proc = ThinkingLogitsProcessor(tm, tok)
    ids, mask, k = _rows(tok, [("7+8=", "<think>7+8=15</think>\\boxed{15}"), ("1+1=", "\\boxed{2}")])
    r = thinking_restriction(tm, proc.tracker, allowed_table(tm, proc.closing), ids, mask, k)
    return model, ids, mask, k, r


def test_entropy_under_the_mask_has_finite_gradients() -> None:
    """An entropy term in the loss (``training.entropy_coef``) differentiates the masked entropies: masked ids hold
    log-prob -inf, and a product with it in the backward pass would turn every gradient into NaN. The entropy
    equals the dense masked softmax's, and its gradient is finite everywhere."""
    model, ids, mask, k, r = _masked_setup()
    add_restricted_lm_head(model)
    out = model(input_ids=ids, attention_mask=mask, token_restriction=r)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, -k - 1 : -1].float()
    p = th.softmax(logits.masked_fill(~r.allowed[r.classes], float("-inf")), -1)
    dense = -(p * th.log(p.clamp_min(1e-30))).sum(-1).masked_fill(mask[:, -k:] == 0, 0.0)
    th.testing.assert_close(out.entropy, dense, rtol=1e-4, atol=1e-5)
    grads = th.autograd.grad((out.entropy.sum() + out.log_probs.sum()), [p for p in model.parameters()])
    assert all(th.isfinite(g).all() for g in grads), "NaN/inf in the gradients of the masked entropy"
    assert any(g.abs().sum() > 0 for g in grads)


def test_cast_lm_head_to_fp32_projects_in_float32_under_autocast() -> None:
    """``training.cast_lm_head_to_fp32`` with ``bf16``: the masked path's logits come from a float32 matmul, as in
    TRL's fused head, not from bfloat16 autocast (which shifts log-probs by ~1e-2 on this model)."""
    model, ids, mask, k, r = _masked_setup()
    add_restricted_lm_head(model)
    with th.no_grad():
        exact = model(input_ids=ids, attention_mask=mask, token_restriction=r).log_probs
        with th.autocast("cpu", dtype=th.bfloat16):
            # the head alone in bf16: the backbone's output is cast the same way in both calls below
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, -k - 1 : -1]
            labels, keep = ids[:, -k:], mask[:, -k:].bool()
            head = model.get_output_embeddings()
            bf16 = restricted_logps.restricted_token_logps(head, hidden, labels, keep, r)[0]
            fp32 = restricted_logps.restricted_token_logps(head, hidden, labels, keep, r, fp32_head=True)[0]
    reference = restricted_logps.restricted_token_logps(head, hidden.float(), labels, keep, r)[0]
    assert th.equal(fp32, reference)  # float32 projection of the same hidden states
    assert (bf16 - reference).abs().max() > 1e-4  # what autocast alone gives
    assert exact.shape == fp32.shape


def test_a_label_the_mask_forbids_is_scored_when_allowed_explicitly() -> None:
    tok = char_tokenizer()
    tm = token_map_for(tok, size=-1, init="all")
    proc = ThinkingLogitsProcessor(tm, tok)
    ids, mask, k = _rows(tok, [("1+1=", "\\boxed{2}")])
    ids[0, -3] += tm.base_vocab_size  # a copy outside thinking
    r = thinking_restriction(tm, proc.tracker, allowed_table(tm, proc.closing), ids, mask, k)
    bad = ~r.label_allowed(ids[:, -k:])
    assert int(bad.sum()) == 1
    r2 = r.allowing(ids[:, -k:], bad)
    assert r2.label_allowed(ids[:, -k:]).all() and r2.allowed.size(0) == r.allowed.size(0) + 1


def test_lora_trainable_copies_through_the_restricted_head() -> None:
    """PEFT's trainable token rows (tied head): the restricted path calls the output layer as a module, so the
    reasoning rows' deltas get gradients (TRL's fused head reads the raw weight and cannot)."""
    tok = char_tokenizer()
    tm = token_map_for(tok, size=-1, init="all", think_open="=")
    model = tiny_qwen3(tok)
    extend_model(model, tm)
    add_restricted_lm_head(model)
    peft = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], **lora_trainable_settings(model, tm))
    )
    proc = ThinkingLogitsProcessor(tm, tok)
    ids, mask, k = _rows(tok, [("7+8=", "15"), ("1+1=", "2")])
    ids[0, -1] += tm.base_vocab_size  # a copy inside thinking ("=" opened it)
    r = thinking_restriction(tm, proc.tracker, allowed_table(tm, proc.closing), ids, mask, k)
    assert r.label_allowed(ids[:, -k:]).all()
    peft(input_ids=ids, attention_mask=mask, token_restriction=r).log_probs.sum().backward()
    deltas = [p for n, p in peft.named_parameters() if "trainable_tokens_delta" in n]
    assert deltas and all(p.grad is not None and p.grad.abs().sum() > 0 for p in deltas)
