"""Reasoning vocabulary: R extra tokens, copies of standard tokens, that may be sampled only inside thinking.

- :mod:`rlvr.vocab.token_map`: which standard token each reasoning token copies; saved with the model.
- :mod:`rlvr.vocab.model_extension`: grow the embedding and output rows; LoRA settings that train them.
- :mod:`rlvr.vocab.thinking`: the thinking state machine and the logits processor that enforces the rule.
- :mod:`rlvr.vocab.text`: decode completions as rewards read them, or marked for people.
- :mod:`rlvr.vocab.metrics`: how rollouts use the reasoning tokens.
"""

from rlvr.vocab.metrics import reasoning_usage, thinking_mask
from rlvr.vocab.model_extension import ensure_extended, extend_model, is_extended, lora_trainable_settings
from rlvr.vocab.text import batch_decode_mapped, decode_mapped, decode_marked
from rlvr.vocab.thinking import ThinkingLogitsProcessor, ThinkingTracker, inside_thinking_reference
from rlvr.vocab.token_map import TOKEN_MAP_FILE, TokenMap, build_token_map

__all__ = [
    "TOKEN_MAP_FILE",
    "ThinkingLogitsProcessor",
    "ThinkingTracker",
    "TokenMap",
    "batch_decode_mapped",
    "build_token_map",
    "decode_mapped",
    "decode_marked",
    "ensure_extended",
    "extend_model",
    "inside_thinking_reference",
    "is_extended",
    "lora_trainable_settings",
    "reasoning_usage",
    "thinking_mask",
]
