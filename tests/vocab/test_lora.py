"""Under LoRA, the reasoning rows train (and only they, of the embedding and output rows) and save/reload works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch as th
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from rlvr.vocab import extend_model, lora_trainable_settings
from tests.vocab.builders import char_tokenizer, tiny_llama, tiny_qwen3, token_map_for


def _effective_rows(module: th.nn.Module) -> th.Tensor:
    """The weight a (peft-wrapped) embedding or output layer computes with."""
    adapter = getattr(module, "token_adapter", None)
    if adapter is not None:
        return adapter.get_merged_weights(adapter.active_adapters).detach().clone()
    return module.weight.detach().clone()


@pytest.mark.parametrize("make_model", [tiny_qwen3, tiny_llama], ids=["tied", "untied"])
def test_reasoning_rows_train_under_lora(make_model, tmp_path: Path) -> None:
    tok = char_tokenizer()
    tm = token_map_for(tok, size=12)
    v = tm.base_vocab_size
    model = make_model(tok)
    extend_model(model, tm)
    model.save_pretrained(tmp_path / "base")
    settings = lora_trainable_settings(model, tm)
    heads = ["embed_tokens"] if make_model is tiny_qwen3 else ["embed_tokens", "lm_head"]
    assert settings == {"trainable_token_indices": {name: tm.reasoning_ids for name in heads}}
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], **settings))
    emb0 = _effective_rows(peft_model.get_input_embeddings())
    out0 = _effective_rows(peft_model.get_output_embeddings())

    ids = th.tensor([[5, v, v + 1, 9, v + 4, v + 11, 30]])
    opt = th.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    peft_model.train()
    peft_model(input_ids=ids, labels=ids).loss.backward()
    opt.step()

    emb1 = _effective_rows(peft_model.get_input_embeddings())
    out1 = _effective_rows(peft_model.get_output_embeddings())
    for before, after in ((emb0, emb1), (out0, out1)):
        assert th.equal(before[:v], after[:v])  # standard rows frozen
    used = [v, v + 1, v + 4, v + 11]
    assert (emb0[used] != emb1[used]).any(dim=-1).all()  # the reasoning rows read as inputs moved
    assert (out0[v:] != out1[v:]).any(dim=-1).all()  # every reasoning output row moved (softmax reaches all)

    peft_model.save_pretrained(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    back = PeftModel.from_pretrained(base, tmp_path / "adapter")
    peft_model.eval()
    back.eval()
    with th.no_grad():
        assert th.equal(back(input_ids=ids).logits, peft_model(input_ids=ids).logits)


def test_untied_head_with_bias_goes_to_modules_to_save() -> None:
    tok = char_tokenizer()
    model = tiny_llama(tok)
    model.lm_head = th.nn.Linear(32, len(tok), bias=True)
    tm = token_map_for(tok, size=3)
    extend_model(model, tm)
    settings = lora_trainable_settings(model, tm)
    assert settings == {"trainable_token_indices": {"embed_tokens": tm.reasoning_ids}, "modules_to_save": ["lm_head"]}
