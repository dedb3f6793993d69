"""The thinking mask inside vLLM: a batch-level logits processor for vLLM's V1 engine (``vllm>=0.30``).

:class:`ThinkingMaskVLLM` is given, as a class, to ``vllm.LLM(logits_processors=[...])``: by the trainer for the
colocated engine TRL builds (``training.vllm_mode=colocate``, through ``RLVRTrainer.vllm_logits_processors``) and
by ``eval.backend=vllm`` (``rlvr.evaluation.vllm_backend``). It configures itself from the model directory vLLM
loads: when that holds a ``reasoning_token_map.json`` (``checkpoint-0/`` of a reasoning-vocabulary run, or a saved
model), it masks exactly as :class:`~rlvr.vocab.thinking.ThinkingLogitsProcessor` does in transformers
``generate``, with the same tracker; otherwise it changes nothing.

vLLM keeps a persistent batch: requests are added, removed and moved between row indices, and each added request
carries a live reference to its list of output tokens. :meth:`update_state` applies those changes before each
forward pass; ``apply`` advances each row's tracker state over the output tokens it has not read yet (O(1) per new
token), then masks the rows' logits. The tokens are read in ``apply``, not in ``update_state``, because of async
scheduling (on by default on CUDA, off in the CPU build): there the previous step's token is still a ``-1``
placeholder when ``update_state`` runs, and vLLM writes the real id into the list (``InputBatch.
update_async_output_token_ids``, called by the model runner's ``_sample``) just before the logits processors run.
A row never reads past a placeholder, so both call orders give the same states (``tests/vllm/test_mask_order.py``). vLLM's ``processed_logprobs`` (which TRL asks for, for its importance-sampling
correction) are computed after the processors, so they are log-probs of the masked distribution, the ones the
trainer computes (``rlvr.vocab.restriction``).
"""

from __future__ import annotations

from typing import Any

import torch as th
from loguru import logger
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

from rlvr.vocab.thinking import ThinkingLogitsProcessor
from rlvr.vocab.token_map import TokenMap


class ThinkingMaskVLLM(LogitsProcessor):
    """Reasoning ids only inside thinking, in vLLM (see the module doc)."""

    def __init__(self, vllm_config: Any, device: th.device, is_pin_memory: bool) -> None:
        model_config = vllm_config.model_config
        self.token_map = TokenMap.load(model_config.model)
        self.mask: ThinkingLogitsProcessor | None = None
        self.rows: dict[int, list[Any]] = {}  # batch index -> [tracker state, output tokens read, output tokens]
        if self.token_map is None:
            return
        from rlvr.models import load_tokenizer

        tokenizer = load_tokenizer(str(model_config.tokenizer), bool(model_config.trust_remote_code))
        self.mask = ThinkingLogitsProcessor(self.token_map, tokenizer)
        logger.info(f"vLLM: thinking mask on ({self.token_map.size} reasoning tokens, inside={self.token_map.inside})")

    def is_argmax_invariant(self) -> bool:
        return False  # it changes greedy choices too

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if self.mask is None:
            return
        tracker = self.mask.tracker
        if batch_update is not None:  # removed, added, moved: the order vLLM's BatchUpdate prescribes
            for index in batch_update.removed:
                self.rows.pop(index, None)
            for index, _params, prompt, output in batch_update.added:
                self.rows[index] = [tracker.run(prompt or []), 0, output]
            for a, b, direction in batch_update.moved:
                row_a, row_b = self.rows.pop(a, None), self.rows.pop(b, None)
                if row_a is not None:
                    self.rows[b] = row_a
                if direction == MoveDirectionality.SWAP and row_b is not None:
                    self.rows[a] = row_b

    def _read_new_tokens(self) -> None:
        """Advance each row over the output tokens it has not read, stopping at the first placeholder (-1)."""
        step = self.mask.tracker.step
        for row in self.rows.values():
            state, seen, output = row
            while seen < len(output) and (token := output[seen]) >= 0:
                state = step(state, token)
                seen += 1
            row[0], row[1] = state, seen

    def apply(self, logits: th.Tensor) -> th.Tensor:
        if self.mask is None or not self.rows:
            return logits
        self._read_new_tokens()
        initial = self.mask.tracker.initial
        states = [self.rows[i][0] if i in self.rows else initial for i in range(logits.shape[0])]
        return self.mask.mask_scores(states, logits)
