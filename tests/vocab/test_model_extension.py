"""Extending a model by the reasoning rows: exact copies, ties kept, save/load round trips, no double extension."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch as th
from transformers import AutoModelForCausalLM, PreTrainedModel

from rlvr.errors import UserError
from rlvr.vocab import TokenMap, ensure_extended, extend_model, is_extended
from rlvr.vocab.model_extension import is_tied
from tests.vocab.builders import (
    bpe_tokenizer,
    char_tokenizer,
    special_tag_tokenizer,
    tiny_llama,
    tiny_qwen2,
    tiny_qwen3,
    token_map_for,
)

CASES = {
    "qwen3-tied-char": (tiny_qwen3, char_tokenizer, 0),
    "llama-untied-bpe-padded": (tiny_llama, bpe_tokenizer, 6),  # V = len(tokenizer) + 6
    "qwen2-untied-special": (tiny_qwen2, special_tag_tokenizer, 0),
}


def _build(case: str, tmp_path: Path) -> tuple[PreTrainedModel, TokenMap]:
    make_model, make_tok, pad = CASES[case]
    tok = make_tok()
    v = len(tok) + pad
    init = tmp_path / "ids.json"
    init.write_text(str([5, 17, 5, 40, v - 1, 5]))  # repeats, and a padded row
    return make_model(tok, vocab_size=v), token_map_for(tok, v, size=-1, init=str(init))


def _logits(model: PreTrainedModel, ids: list[int]) -> th.Tensor:
    model.eval()
    with th.no_grad():
        return model(input_ids=th.tensor([ids])).logits[0]


@pytest.mark.parametrize("case", list(CASES))
def test_rows_are_exact_copies(case: str, tmp_path: Path) -> None:
    model, tm = _build(case, tmp_path)
    v, n, src = tm.base_vocab_size, tm.vocab_size, th.tensor(tm.source_ids)
    tied = is_tied(model)
    assert tied == case.startswith("qwen3")
    emb0 = model.get_input_embeddings().weight.detach().clone()
    out0 = model.get_output_embeddings().weight.detach().clone()
    plain = _logits(model, [5, 17, 40, 9])
    assert not is_extended(model, tm)
    extend_model(model, tm)
    emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape[0] == out.shape[0] == n == model.config.vocab_size
    assert is_tied(model) == tied
    assert th.equal(emb[:v], emb0) and th.equal(emb[v:], emb0[src])
    assert th.equal(out[:v], out0) and th.equal(out[v:], out0[src])
    # a reasoning copy as input gives the same logits as its source; its output column equals its source's
    logits = _logits(model, [5, 17, 40, 9])
    assert th.allclose(logits[:, :v], plain, atol=1e-6)
    assert th.equal(logits[:, v:], logits[:, src])
    assert th.allclose(_logits(model, [v, v + 1, v + 3, 9]), logits, atol=1e-6)
    assert is_extended(model, tm)
    with pytest.raises(UserError, match=r"model\.reasoning_vocab: .*extended already"):
        extend_model(model, tm)
    assert ensure_extended(model, tm) is False


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    for case in CASES:
        model, tm = _build(case, tmp_path)
        extend_model(model, tm)
        out_dir = tmp_path / case
        model.save_pretrained(out_dir)
        tm.save(out_dir)
        back = AutoModelForCausalLM.from_pretrained(out_dir)
        loaded = TokenMap.load(out_dir)
        assert loaded == tm
        assert is_extended(back, loaded) and ensure_extended(back, loaded) is False
        assert is_tied(back) == is_tied(model)
        ids = [3, tm.base_vocab_size, 12, tm.vocab_size - 1, 7]
        assert th.equal(_logits(back, ids), _logits(model, ids))
        with pytest.raises(UserError, match="extended already"):
            extend_model(back, loaded)


def test_wrong_row_count_is_refused(tmp_path: Path) -> None:
    model, tm = _build("qwen3-tied-char", tmp_path)
    model.resize_token_embeddings(tm.base_vocab_size + 1)
    with pytest.raises(UserError, match=r"model\.reasoning_vocab: the token map is for a model with V="):
        extend_model(model, tm)


def test_output_bias_rows_are_copied() -> None:
    tok = char_tokenizer()
    model = tiny_qwen2(tok)
    model.lm_head = th.nn.Linear(32, len(tok), bias=True)
    th.nn.init.normal_(model.lm_head.bias)
    tm = token_map_for(tok, size=9)
    bias0 = model.lm_head.bias.detach().clone()
    extend_model(model, tm)
    bias = model.get_output_embeddings().bias
    assert th.equal(bias, th.cat([bias0, bias0[:9]]))
