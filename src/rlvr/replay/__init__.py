"""Prompt-level prioritised replay for GRPO: the buffer (``buffer.py``) and the trainer mixin."""

from rlvr.replay.buffer import SAMPLING_MODES, ReplayBuffer, ReplayConfigError, prompt_key

__all__ = ["SAMPLING_MODES", "ReplayBuffer", "ReplayConfigError", "prompt_key"]
