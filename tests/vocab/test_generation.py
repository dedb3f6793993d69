"""Sampling through ``model.generate`` with the processor: reasoning ids only inside thinking.

The random tiny model rarely writes a seven-character tag by chance, so a test-only processor placed BEFORE ours
(:class:`TagWriter`) plays a policy that likes tags: it raises the logits of tokens that continue a partially
written tag (found by decoding the text, independently of the tracker). Ours runs after it and must still enforce
the rule, whatever the policy prefers. The checks use the decode-the-prefix reference, not the tracker.
"""

from __future__ import annotations

import pytest
import torch as th
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerFast

from rlvr.vocab import ThinkingLogitsProcessor, TokenMap, extend_model, inside_thinking_reference
from tests.vocab.builders import char_tokenizer, special_tag_tokenizer, tiny_qwen3, token_map_for

OPEN, CLOSE = "<think>", "</think>"


def _progress(text: str, tag: str) -> int:
    return max(k for k in range(len(tag)) if text.endswith(tag[:k]))


class TagWriter(LogitsProcessor):
    """Raises by ``bias`` the logits of standard tokens that continue a tag the text has begun (the closing tag
    inside thinking, the opening tag outside), and by ``start[tag]`` those of tokens that start one."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, tm: TokenMap, bias: float, start: dict[str, float]) -> None:
        self.tok, self.tm = tokenizer, tm
        strings = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        self.vectors = {}
        for tag in (OPEN, CLOSE):
            for progress in range(len(tag)):
                vec = th.zeros(tm.vocab_size)
                for i, s in enumerate(strings):
                    if s and progress and tag[progress:].startswith(s):
                        vec[i] = bias
                    elif s and tag.startswith(s):
                        vec[i] = start[tag]
                self.vectors[tag, progress] = vec

    def __call__(self, input_ids: th.LongTensor, scores: th.FloatTensor) -> th.FloatTensor:
        rows = []
        for row in input_ids.tolist():
            text = self.tok.decode(self.tm.to_source(row), skip_special_tokens=False)
            tag = CLOSE if inside_thinking_reference(text, OPEN, CLOSE) else OPEN
            rows.append(self.vectors[tag, _progress(text, tag)])
        return scores + th.stack(rows)


def _sample(tok: PreTrainedTokenizerFast, tm: TokenMap, mode_proc: list, seed: int) -> tuple[list, list]:
    """Prompts (half end inside thinking) and sampled completions (cut at EOS)."""
    model = tiny_qwen3(tok, seed=seed)
    extend_model(model, tm)
    model.eval()
    chat = "<|im_start|>user\nsum 2 and 3<|im_end|>\n<|im_start|>assistant\n"
    texts = [chat + (OPEN + "\n" if b % 2 else "") for b in range(24)]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    th.manual_seed(seed)
    with th.no_grad():
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=2.0,
            top_k=0,
            max_new_tokens=48,
            logits_processor=LogitsProcessorList(
                [TagWriter(tok, tm, bias=20.0, start={OPEN: 4.0, CLOSE: 3.0}), *mode_proc]
            ),
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    prompts, completions = [], []
    width = enc["input_ids"].shape[1]
    for b in range(out.shape[0]):
        prompt = [t for t, m in zip(enc["input_ids"][b].tolist(), enc["attention_mask"][b].tolist(), strict=True) if m]
        comp = out[b, width:].tolist()
        if tok.eos_token_id in comp:
            comp = comp[: comp.index(tok.eos_token_id) + 1]
        prompts.append(prompt)
        completions.append(comp)
    return prompts, completions


def _positions(tok: PreTrainedTokenizerFast, tm: TokenMap, prompts: list, completions: list):
    """(token id, text before it, inside before it) for every sampled token, by the reference."""
    for prompt, comp in zip(prompts, completions, strict=True):
        for t, i in enumerate(comp):
            text = tok.decode(tm.to_source(prompt + comp[:t]), skip_special_tokens=False)
            yield i, text, inside_thinking_reference(text, OPEN, CLOSE)


@pytest.mark.parametrize("make_tok", [char_tokenizer, special_tag_tokenizer])
def test_reasoning_ids_only_inside_thinking(make_tok) -> None:
    tok = make_tok()
    tm = token_map_for(tok, size=40)
    # without the processor, the copies are sampled anywhere: the check below has teeth
    prompts, comps = _sample(tok, tm, [], seed=0)
    assert any(tm.is_reasoning([i])[0] and not inside for i, _, inside in _positions(tok, tm, prompts, comps))
    prompts, comps = _sample(tok, tm, [ThinkingLogitsProcessor(tm, tok)], seed=0)
    seen = {"inside_reasoning": 0, "inside": 0, "closed": 0, "opened": 0}
    for i, text, inside in _positions(tok, tm, prompts, comps):
        reasoning = tm.is_reasoning([i])[0]
        assert not (reasoning and not inside), f"reasoning id {i} outside thinking after {text[-30:]!r}"
        seen["inside"] += inside
        seen["inside_reasoning"] += inside and reasoning
        after = inside_thinking_reference(text + tok.decode(tm.to_source([i]), skip_special_tokens=False))
        seen["closed"] += inside and not after
        seen["opened"] += after and not inside
    assert seen["inside_reasoning"] > 20 and seen["closed"] > 3 and seen["opened"] > 3, seen


@pytest.mark.parametrize("make_tok", [char_tokenizer, special_tag_tokenizer])
def test_reasoning_only_inside(make_tok) -> None:
    tok = make_tok()
    tm = token_map_for(tok, size=40, inside="reasoning_only")
    prompts, comps = _sample(tok, tm, [ThinkingLogitsProcessor(tm, tok)], seed=1)
    seen = {"inside_reasoning": 0, "inside_standard": 0, "closed": 0}
    for i, text, inside in _positions(tok, tm, prompts, comps):
        reasoning = tm.is_reasoning([i])[0]
        assert not (reasoning and not inside)
        if inside and not reasoning:
            s, rest = tok.decode([i], skip_special_tokens=False), CLOSE[_progress(text, CLOSE) :]
            writes_close = rest.startswith(s) or s.startswith(rest) or CLOSE.startswith(s) or s.startswith(CLOSE)
            assert s and writes_close, f"standard token {s!r} inside thinking after {text[-30:]!r}"
            assert i != tok.eos_token_id
            seen["inside_standard"] += 1
        seen["inside_reasoning"] += inside and reasoning
        after = inside_thinking_reference(text + tok.decode(tm.to_source([i]), skip_special_tokens=False))
        seen["closed"] += inside and not after
    assert seen["inside_reasoning"] > 20 and seen["inside_standard"] > 3 and seen["closed"] > 3, seen
