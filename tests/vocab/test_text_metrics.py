"""Decoding with reasoning tokens (as rewards read it, and marked) and the usage metrics."""

from __future__ import annotations

import math
from pathlib import Path

import torch as th

from rlvr.vocab import (
    ThinkingLogitsProcessor,
    batch_decode_mapped,
    decode_mapped,
    decode_marked,
    reasoning_usage,
)
from tests.vocab.builders import bpe_tokenizer, char_tokenizer, token_map_for

SOURCES = "ab</c"


def _setup(tmp_path: Path, **cfg):
    tok = char_tokenizer()
    init = tmp_path / "ids.json"
    init.write_text(str([tok.convert_tokens_to_ids(ch) for ch in SOURCES]))
    tm = token_map_for(tok, size=-1, init=str(init), **cfg)
    r = {ch: tm.base_vocab_size + i for i, ch in enumerate(SOURCES)}  # the reasoning copy of each character
    return tok, tm, r


def _ids(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def test_decode_mapped_and_marked(tmp_path: Path) -> None:
    tok, tm, r = _setup(tmp_path)
    ids = [r["a"], *_ids(tok, "x"), r["b"], r["<"], r["/"], *_ids(tok, "think>\\boxed{"), r["a"], tok.eos_token_id]
    assert decode_mapped(tok, ids, tm) == "axb</think>\\boxed{a"
    assert decode_mapped(tok, th.tensor(ids), tm, skip_special_tokens=False).endswith("{a<|im_end|>")
    assert decode_marked(tok, ids, tm) == "⟨a⟩x⟨b⟩⟨<⟩⟨/⟩think>\\boxed{⟨a⟩"
    assert decode_marked(tok, ids, tm, marker="·") == "·ax·b·<·/think>\\boxed{·a"
    assert batch_decode_mapped(tok, th.tensor([ids, ids]), tm) == ["axb</think>\\boxed{a"] * 2


def test_decode_mapped_multi_token_bpe(tmp_path: Path) -> None:
    tok = bpe_tokenizer()
    text = "<think>so then</think> \\boxed{12}"
    ids = tok.encode(text)
    init = tmp_path / "ids.json"
    init.write_text(str(ids[1::2]))  # every other token gets a copy
    tm = token_map_for(tok, size=-1, init=str(init))
    copy_of = {src: tm.base_vocab_size + i for i, src in enumerate(tm.source_ids)}
    ids_r = [copy_of.get(i, i) for i in ids]
    assert sum(tm.is_reasoning(ids_r)) >= len(ids) // 2
    assert decode_mapped(tok, ids_r, tm) == text
    marked = decode_marked(tok, ids_r, tm, marker="[{}]")
    assert marked.replace("[", "").replace("]", "") == text.replace("[", "").replace("]", "") and "[" in marked


def test_usage_metrics(tmp_path: Path) -> None:
    tok, tm, r = _setup(tmp_path)
    proc = ThinkingLogitsProcessor(tm, tok)
    chat = "<|im_start|>assistant\n"
    prompts = [_ids(tok, chat + "<think>"), _ids(tok, chat)]
    width = max(map(len, prompts))
    prompt_ids = th.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])  # left padded
    prompt_mask = th.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    row_a = [r["a"], *_ids(tok, "x"), r["b"], r["<"], r["/"], *_ids(tok, "think>y"), r["a"], tok.eos_token_id]
    inside_a = [1] * 11 + [0] * 3  # the closing tag's tokens are sampled inside
    row_b = [*_ids(tok, "z"), r["b"], tok.eos_token_id]
    t = len(row_a)
    pad = [r["c"]] * (t - len(row_b))  # masked out: not counted
    ids = th.tensor([row_a, row_b + pad])
    mask = th.tensor([[1] * t, [1] * len(row_b) + [0] * len(pad)])
    inside = th.tensor([inside_a, [0] * t], dtype=th.bool)
    entropies = th.where(inside, 1.0, 3.0).masked_fill(mask == 0, 100.0)
    got = reasoning_usage(ids, mask, prompt_ids, tm, proc.tracker, entropies=entropies, prompt_mask=prompt_mask)
    assert got == {
        "reasoning_vocab/thinking_tokens": 11.0,
        "reasoning_vocab/share_in_thinking": 4 / 11,
        "reasoning_vocab/outside_count": 2.0,
        "reasoning_vocab/distinct_ids": 4.0,
        "reasoning_vocab/entropy_inside": 1.0,
        "reasoning_vocab/entropy_outside": 3.0,
    }
    # a list of prompts without padding gives the same; no thinking at all gives NaN ratios
    assert reasoning_usage(ids, mask, prompts, tm, proc.tracker, entropies=entropies) == got
    none = reasoning_usage(ids[1:], mask[1:], prompts[1:], tm, proc.tracker, entropies=entropies[1:])
    assert none["reasoning_vocab/thinking_tokens"] == 0.0 and math.isnan(none["reasoning_vocab/share_in_thinking"])
    assert math.isnan(none["reasoning_vocab/entropy_inside"]) and none["reasoning_vocab/outside_count"] == 1.0
