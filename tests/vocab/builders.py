"""Real tokenizers and tiny random models for the reasoning-vocabulary tests (built locally, no hub)."""

from __future__ import annotations

import random

import torch as th
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from rlvr.config.model import ReasoningVocabConfig
from rlvr.tiny_model import build_tokenizer
from rlvr.vocab import TokenMap, build_token_map

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "think",
    "answer",
    "so",
    "then",
    "boxed",
    "sum",
    "is",
    "we",
    "add",
    "carry",
    "two",
    "three",
    "ink",
    "hi",
]
TAG_PIECES = ["<think>", "</think>", "<", "</", "think", "k>", ">", "<th", "/think"]
EOS, PAD = "<|im_end|>", "<|endoftext|>"


def char_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny model's character tokenizer: ``<think>`` is seven tokens."""
    return build_tokenizer()


def _bpe_core(seed: int = 0, vocab_size: int = 360) -> Tokenizer:
    """A byte-level BPE trained on synthetic lines full of tag pieces, without the pre-tokenizer's regex split, so
    merges span tag characters and their neighbours (tokens like ``we</think>``, ``\\n<th``, ``think</``)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(300):
        parts = [rng.choice(TAG_PIECES) if rng.random() < 0.4 else rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
        lines.append(rng.choice(["", " ", "\n"]).join(parts))
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(lines, trainer)
    return core


def bpe_tokenizer() -> PreTrainedTokenizerFast:
    """A locally trained multi-token byte-level BPE tokenizer (tags split in many ways)."""
    return PreTrainedTokenizerFast(tokenizer_object=_bpe_core(), pad_token=PAD, eos_token=EOS, padding_side="left")


def special_tag_tokenizer() -> PreTrainedTokenizerFast:
    """The BPE tokenizer with ``<think>``/``</think>`` added as special tokens (one id each, as in Qwen3)."""
    core = _bpe_core()
    core.add_special_tokens([AddedToken("<think>", special=True), AddedToken("</think>", special=True)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, padding_side="left")


def _common(tokenizer: PreTrainedTokenizerFast, vocab_size: int | None) -> dict:
    return {
        "vocab_size": vocab_size or len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 512,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
    }


def tiny_qwen3(tokenizer: PreTrainedTokenizerFast, seed: int = 0, vocab_size: int | None = None) -> PreTrainedModel:
    """A tiny random Qwen3 (tied embeddings, as the offline tiny model)."""
    th.manual_seed(seed)
    return Qwen3ForCausalLM(Qwen3Config(**_common(tokenizer, vocab_size), head_dim=16, tie_word_embeddings=True))


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0, vocab_size: int | None = None) -> PreTrainedModel:
    """A tiny random Llama with an untied output layer."""
    th.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**_common(tokenizer, vocab_size), tie_word_embeddings=False))


def tiny_qwen2(tokenizer: PreTrainedTokenizerFast, seed: int = 0, vocab_size: int | None = None) -> PreTrainedModel:
    """A tiny random Qwen2 with an untied output layer."""
    th.manual_seed(seed)
    return Qwen2ForCausalLM(Qwen2Config(**_common(tokenizer, vocab_size), tie_word_embeddings=False))


def token_map_for(tokenizer: PreTrainedTokenizerFast, base_vocab_size: int | None = None, **cfg: object) -> TokenMap:
    """The token map of ``ReasoningVocabConfig(**cfg)`` for a model with ``base_vocab_size`` rows."""
    tm = build_token_map(ReasoningVocabConfig(**cfg), base_vocab_size or len(tokenizer), tokenizer)
    assert tm is not None
    return tm
