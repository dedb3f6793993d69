"""Prompt-level prioritised replay for GRPO.

``keys.py``: the canonical prompt key; ``select.py``: the selection algorithms (pure
functions over numpy arrays); ``buffer.py``: the :class:`ReplayBuffer` storage class;
``schedule.py`` and ``mixin.py``: the replay ratio schedule and the trainer mixin.
"""

from rlvr.replay.buffer import SAMPLING_MODES, ReplayBuffer
from rlvr.replay.keys import prompt_key

__all__ = ["SAMPLING_MODES", "ReplayBuffer", "prompt_key"]
