"""The one transformers decoding loop (``rlvr.evaluation.decoding``) on a real (untrained) tiny Qwen3 model."""

from __future__ import annotations

import torch as th

from rlvr.config.model import TinyModelSpec
from rlvr.evaluation.decoding import generate_batch, generate_completions
from rlvr.tiny_model import build_model, build_tokenizer, format_prompt
from rlvr.vocab.analysis import step_entropies

PROMPTS = [format_prompt("1+2", ""), format_prompt("123+456", "")]  # different lengths: left padding matters


def _model_and_tokenizer():  # noqa: ANN202
    tok = build_tokenizer()
    return build_model(TinyModelSpec(), tok), tok


def test_scores_carry_the_temperature_and_the_entropy_is_the_sampled_distributions() -> None:
    """The entropy profile of ``exp/analyze_reasoning_vocab.py`` reads ``generate``'s scores: they must already be
    divided by the sampling temperature, so the entropy of the first step is that of softmax(logits / T) from a
    plain forward pass of each prompt alone (no padding). Dividing by T again would give a far lower entropy."""
    model, tok = _model_and_tokenizer()
    temperature = 0.5
    th.manual_seed(0)
    out = generate_batch(model, tok, PROMPTS, 4, sampling={"temperature": temperature, "top_k": 0}, output_scores=True)
    assert out.scores is not None and len(out.scores) == out.completion_ids.shape[1]
    got = step_entropies(out.scores)[:, 0]
    model.eval()
    for i, prompt in enumerate(PROMPTS):
        text = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with th.no_grad():
            logits = model(ids).logits[0, -1].float() / temperature
        p = th.softmax(logits, -1)
        want = float(-(p * th.log(p)).sum())
        assert abs(float(got[i]) - want) < 1e-3, (i, float(got[i]), want)
    twice = th.softmax(out.scores[0].float() / temperature, -1)
    assert float(-(twice * th.log(twice)).sum(-1).mean()) < float(got.mean()) - 0.05  # the check can tell them apart


def test_completions_match_the_batch_and_restore_the_model_and_tokenizer() -> None:
    """Greedy completions from the loop are the batch's tokens cut at the first stop token, whatever the batch
    size; the tokenizer's padding side and the model's train mode come back as they were."""
    model, tok = _model_and_tokenizer()
    model.train()
    tok.padding_side = "right"
    stop = tok.convert_tokens_to_ids("7")  # an untrained model rarely emits EOS: stop on a common character
    one = generate_completions(model, tok, PROMPTS, 12, batch_size=1, eos_token_ids=[stop])
    both = generate_completions(model, tok, PROMPTS, 12, batch_size=2, eos_token_ids=[stop])
    assert model.training and tok.padding_side == "right"
    assert [g[0].text for g in one] == [g[0].text for g in both]
    raw = generate_batch(model, tok, PROMPTS, 12, eos_token_ids=[stop]).completion_ids.tolist()
    for group, row in zip(both, raw, strict=True):
        cut = row.index(stop) + 1 if stop in row else len(row)
        assert group[0].truncated == (stop not in row)
        assert group[0].tokens == cut
        assert group[0].text == tok.decode(row[:cut], skip_special_tokens=True)
