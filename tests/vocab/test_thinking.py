"""The thinking state machine agrees with decoding the prefix, on three kinds of tokenizer."""

from __future__ import annotations

import random

import pytest
import torch as th
from transformers import PreTrainedTokenizerFast

from rlvr.vocab import ThinkingLogitsProcessor, ThinkingTracker, TokenMap, inside_thinking_reference
from tests.vocab.builders import bpe_tokenizer, char_tokenizer, special_tag_tokenizer, token_map_for

TOKENIZERS = {"char": char_tokenizer, "bpe": bpe_tokenizer, "special": special_tag_tokenizer}
OPEN, CLOSE = "<think>", "</think>"


def test_reference() -> None:
    ref = inside_thinking_reference
    assert not ref("")
    assert ref("a<think>b")
    assert not ref("<think>b</think>c")
    assert ref("<think>b</think>c<think>")
    assert not ref("</think>")
    assert ref("</think><think>")
    assert not ref("<think></think>")
    assert ref("[[x", "[[", "]]") and not ref("[[x]]", "[[", "]]")


def _random_ids(
    rng: random.Random, tok: PreTrainedTokenizerFast, tm: TokenMap, tag_ids: list[int], n: int
) -> list[int]:
    """About ``n`` ids biased to tags: whole tags, tag fragments (so tags end up split across tokens in many ways),
    tokens whose text has tag characters, reasoning copies, and any standard id."""
    copies = {src: tm.base_vocab_size + i for i, src in enumerate(tm.source_ids)}
    out: list[int] = []
    while len(out) < n:
        r = rng.random()
        tag = rng.choice([OPEN, CLOSE])
        if r < 0.3:
            piece = tok.encode(tag, add_special_tokens=False)
        elif r < 0.5:
            a = rng.randrange(len(tag))
            piece = tok.encode(tag[a : rng.randint(a + 1, len(tag))], add_special_tokens=False)
        elif r < 0.65:
            piece = [rng.randrange(tm.base_vocab_size, tm.vocab_size)]
        elif r < 0.75:
            piece = [rng.randrange(tm.base_vocab_size)]
        else:
            piece = [rng.choice(tag_ids)]
        # write some of the tag characters with reasoning copies: they read as their source
        out += [copies.get(i, i) if rng.random() < 0.3 else i for i in piece]
    return out


def _setup(name: str) -> tuple[PreTrainedTokenizerFast, TokenMap, list[int]]:
    tok = TOKENIZERS[name]()
    tm = token_map_for(tok, len(tok) + 2, size=64)  # two padded rows with no token: they read as ""
    strings = [tok.decode([i]) for i in range(len(tok))]
    tag_ids = [i for i, s in enumerate(strings) if s and set(s) <= set(OPEN + CLOSE + "\n ")]
    tag_ids += [i for i, s in enumerate(strings) if OPEN in s or CLOSE in s]
    # the reasoning copies should cover some tag characters too
    tm.source_ids[:8] = tag_ids[:8]
    return tok, tm, tag_ids


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_tracker_matches_reference_at_every_position(name: str) -> None:
    tok, tm, tag_ids = _setup(name)
    tracker = ThinkingTracker.from_token_map(tm, tok)
    rng = random.Random(0)
    checked = inside = 0
    for _ in range(150):
        ids = _random_ids(rng, tok, tm, tag_ids, rng.randint(1, 40))
        text_ids = tm.to_source(ids)
        state = tracker.initial
        for t, i in enumerate(ids):
            state = tracker.step(state, i)
            text = tok.decode(text_ids[: t + 1], skip_special_tokens=False)
            assert tracker.is_inside(state) == inside_thinking_reference(text, OPEN, CLOSE), (text, name)
            progress = max(k for k in range(len(CLOSE)) if text.endswith(CLOSE[:k]))
            assert tracker.close_progress(state) == progress
            checked += 1
            inside += tracker.is_inside(state)
        assert state == tracker.run(ids)
    assert 0.2 < inside / checked < 0.8  # both sides well exercised


def test_tags_split_across_tokens() -> None:
    tok = bpe_tokenizer()
    tm = token_map_for(tok, size=4)
    tracker = ThinkingTracker.from_token_map(tm, tok)
    by_text = {tok.decode([i]): i for i in range(len(tok))}
    # tokens of the trained BPE whose text mixes tag characters with other text
    ids = [by_text["x"], by_text["\n<th"], by_text["ink"], by_text[">"], by_text["we"], by_text["think</"]]
    text = tok.decode(ids)
    assert text == "x\n<think>wethink</"
    states = [tracker.run(ids[: k + 1]) for k in range(len(ids))]
    assert [tracker.is_inside(s) for s in states] == [False, False, False, True, True, True]
    assert tracker.close_progress(states[-1]) == 2  # "</" of the closing tag is written
    closed = tracker.run([by_text["think>"]], states[-1])
    assert not tracker.is_inside(closed)
    # one token can open and close: "\n/think\n</think>" after "<"
    assert not tracker.is_inside(tracker.run([by_text["<"], by_text["\n/think\n</think>"]]))
    assert tracker.is_inside(tracker.run([by_text["<"], by_text["think>"]]))


def _simulate_generate(proc: ThinkingLogitsProcessor, prompts: list[list[int]], steps: list[list[int]]) -> list[int]:
    """Calls the processor as generate does: the prompt, then one more token per step."""
    ids = th.tensor(prompts)
    scores = th.zeros(len(prompts), proc.token_map.vocab_size)
    proc(ids, scores)
    for step in steps:
        ids = th.cat([ids, th.tensor(step)[:, None]], dim=1)
        proc(ids, scores)
    return list(proc.states)


@pytest.mark.parametrize("name", ["char", "special"])
def test_processor_state_is_incremental_and_resets(name: str) -> None:
    tok, tm, tag_ids = _setup(name)
    proc = ThinkingLogitsProcessor(tm, tok)
    tracker = proc.tracker
    rng = random.Random(1)
    for batch in (3, 3, 5):  # the second call has the same shape as the first: a new generate all the same
        prompts = [_random_ids(rng, tok, tm, tag_ids, 12)[:12] for _ in range(batch)]
        steps = [[rng.choice(tag_ids) for _ in range(batch)] for _ in range(20)]
        states = _simulate_generate(proc, prompts, steps)
        full = [p + [s[b] for s in steps] for b, p in enumerate(prompts)]
        assert states == [tracker.run(row) for row in full]


def test_processor_masks_and_fallbacks() -> None:
    tok = char_tokenizer()
    tm = token_map_for(tok, size=6, inside="reasoning_only")
    v, n = tm.base_vocab_size, tm.vocab_size
    proc = ThinkingLogitsProcessor(tm, tok)
    inside_prompt = tok.encode("xyzuv<think>abcd</", add_special_tokens=False)
    outside_prompt = tok.encode("q<think>ab</think>", add_special_tokens=False)
    ids = th.tensor([inside_prompt, outside_prompt])
    scores = th.randn(2, n + 3)  # three padded columns beyond V+R
    out = proc(ids, scores)
    assert th.equal(out[:, n:], scores[:, n:])  # left as they are
    assert th.isneginf(out[1, v:n]).all() and th.equal(out[1, :v], scores[1, :v])  # outside: copies masked
    assert th.equal(out[0, v:n], scores[0, v:n])  # inside: copies allowed
    allowed = {tok.decode([i]) for i in range(v) if th.isfinite(out[0, i])}
    assert allowed == {"t", "<"}  # continue "</" with "t", or restart the tag with "<"
    assert th.isneginf(out[0, tok.eos_token_id])  # EOS too: close the tag first
    # an earlier processor left nothing that this one allows: the closing tag (inside) or EOS (outside) remains
    proc.reset()
    dead = th.full((2, n + 3), float("-inf"))
    dead[0, :v] = 0.0  # only standard ids, inside reasoning_only
    dead[1, v:n] = 0.0  # only reasoning ids, outside
    out = proc(ids, dead)
    assert {tok.decode([i]) for i in th.isfinite(out[0]).nonzero().flatten().tolist()} == {"t", "<"}
    assert th.isfinite(out[1]).nonzero().flatten().tolist() == [tok.eos_token_id]
