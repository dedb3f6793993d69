"""The reasoning vocabulary in the trainer (``model.reasoning_vocab.size != 0``), through ``RLVRTrainer``'s hooks only.

- every rollout and every held-out evaluation samples under :class:`ThinkingLogitsProcessor` (``logits_processors``),
  or in vLLM's colocated engine under :class:`~rlvr.vocab.vllm_mask.ThinkingMaskVLLM` (``vllm_logits_processors``);
- every log-prob TRL computes (the loss, the old policy, the reference model) and the logged entropies use the same
  mask (``token_restriction``: the masked softmax the rollouts came from, ``rlvr.vocab.restriction``);
- reward functions, evaluation and summaries read reasoning tokens as their source tokens (``reward_completions``,
  ``decode_completion``);
- after scoring, the usage of the batch is logged (``reasoning_vocab/*``: share of thinking tokens that are
  reasoning copies, reasoning tokens outside thinking (0 by construction), distinct reasoning ids, thinking tokens,
  and with ``model.reasoning_vocab.log_entropy`` the mean entropy inside and outside thinking)
  and, every logging step, the first completions with reasoning tokens marked go to ``reasoning_samples.jsonl``;
- the token map is written into every checkpoint (``save_extra``) and the final ``model/`` (``save_model_files``),
  is what ``token_map`` gives code outside the trainer, and is described in ``summary.json``.

The model extension, ``checkpoint-0/`` and the reference model are handled where the model is built
(:func:`rlvr.vocab.setup.prepare_reasoning_vocab`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch as th

from rlvr.config import RootConfig
from rlvr.trainers.base import RLVRTrainer
from rlvr.trainers.extensions import Extension, ExtensionContext
from rlvr.trainers.restricted_logps import TokenRestriction
from rlvr.vocab.metrics import reasoning_usage
from rlvr.vocab.restriction import allowed_table, thinking_restriction
from rlvr.vocab.text import decode_mapped, decode_marked
from rlvr.vocab.thinking import ThinkingLogitsProcessor
from rlvr.vocab.token_map import TokenMap

SAMPLES_FILE = "reasoning_samples.jsonl"
SAMPLES_PER_LOG = 2


class ReasoningVocabMixin(RLVRTrainer):
    def __init__(self, *args: Any, token_map: TokenMap, log_entropy: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reasoning_token_map, self.log_entropy = token_map, log_entropy
        self.thinking_processor = ThinkingLogitsProcessor(token_map, self.processing_class)
        self.allowed_ids = allowed_table(token_map, self.thinking_processor.closing)
        self._allowed_on: dict[str, th.Tensor] = {}

    @property
    def token_map(self) -> TokenMap:
        return self.reasoning_token_map

    def logits_processors(self) -> list[Any]:
        return [*super().logits_processors(), self.thinking_processor]

    def vllm_logits_processors(self) -> list[type]:
        from rlvr.vocab.vllm_mask import ThinkingMaskVLLM  # needs vLLM: imported only for a vLLM run

        return [*super().vllm_logits_processors(), ThinkingMaskVLLM]

    def token_restriction(
        self, input_ids: th.Tensor, attention_mask: th.Tensor, logits_to_keep: int
    ) -> TokenRestriction | None:
        key = str(input_ids.device)
        if key not in self._allowed_on:
            self._allowed_on[key] = self.allowed_ids.to(input_ids.device)
        return thinking_restriction(
            self.token_map, self.thinking_processor.tracker, self._allowed_on[key], input_ids, attention_mask,
            logits_to_keep,
        )  # fmt: skip

    def decode_completion(self, ids: list[int]) -> str:
        return decode_mapped(self.processing_class, ids, self.token_map)

    def reward_completions(self, completions: list[Any], completion_ids: list[list[int]]) -> list[Any]:
        completions = super().reward_completions(completions, completion_ids)
        out = []
        for completion, ids in zip(completions, completion_ids, strict=True):
            text = self.decode_completion(list(ids))
            if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
                # chat data: TRL's assistant message, possibly prefixed by the prompt's own partial turn
                last = dict(completion[-1])
                raw = self.processing_class.decode(list(ids), skip_special_tokens=True)
                prefix = last.get("content", "")
                prefix = prefix[: len(prefix) - len(raw)] if raw and prefix.endswith(raw) else ""
                last["content"] = prefix + text
                out.append([*completion[:-1], last])
            else:
                out.append(text)
        return out

    def after_scoring(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        output = super().after_scoring(output, training)
        ids, mask = output["completion_ids"], output["completion_mask"]
        usage = reasoning_usage(
            ids, mask, output["prompt_ids"], self.token_map, self.thinking_processor.tracker,
            entropies=self.completion_entropies(output, training) if self.log_entropy else None,
            prompt_mask=output.get("prompt_mask"),
        )  # fmt: skip
        mode = "train" if training else "eval"
        for name, value in usage.items():
            if value == value:  # NaN (no thinking token in this batch) is not logged
                self.log_metric(name, value, mode)
        if training and self.accelerator.is_main_process and self.state.global_step % max(1, self.logging_every()) == 0:
            self.write_samples(ids, mask)
        return output

    @th.no_grad()
    def completion_entropies(self, output: dict[str, Any], training: bool = True) -> th.Tensor:
        """(B, T) entropy of the policy's next-token distribution at every completion position (no-grad forward,
        in micro-batches of the size TRL's own log-prob passes use: a whole generation batch at once would not fit
        in GPU memory at real batch sizes)."""
        ids = th.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        mask = th.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        _, entropies, _ = self.per_token_logps_and_entropies(
            self.model, ids, mask, output["completion_ids"].size(1), batch_size=self.micro_batch_size(training),
            compute_entropy=True,
        )  # fmt: skip
        return entropies

    def logging_every(self) -> int:
        steps = self.args.logging_steps
        return int(steps) if steps and steps >= 1 else 1

    def write_samples(self, ids: Any, mask: Any) -> None:
        rows = []
        for row, keep in list(zip(ids.tolist(), mask.bool().tolist(), strict=True))[:SAMPLES_PER_LOG]:
            kept = [t for t, k in zip(row, keep, strict=True) if k]
            rows.append(
                {
                    "step": self.state.global_step,
                    "completion": decode_marked(self.processing_class, kept, self.token_map),
                    "reasoning_tokens": int(sum(self.token_map.is_reasoning(kept))),
                }
            )
        with (Path(self.args.output_dir) / SAMPLES_FILE).open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)

    def save_extra(self, folder: Path) -> None:
        super().save_extra(folder)
        self.token_map.save(folder)

    def save_model_files(self, folder: Path) -> None:
        super().save_model_files(folder)
        self.token_map.save(folder)  # a reload knows V and the map (rlvr.vocab.setup)

    def summary_extra(self) -> dict[str, Any]:
        out = super().summary_extra()
        tm = self.token_map
        out["reasoning_vocab"] = {
            "size": tm.size,
            "base_vocab_size": tm.base_vocab_size,
            "inside": tm.inside,
            "think_open": tm.think_open,
            "think_close": tm.think_close,
        }
        return out


# -- the extension record (rlvr.trainers.assembled) -----------------------------------------------------------------
def reasoning_vocab_enabled(cfg: RootConfig) -> bool:
    return cfg.model.reasoning_vocab.enabled


def reasoning_vocab_kwargs(ctx: ExtensionContext) -> dict[str, Any]:
    """The token map the model was extended with (``rlvr.vocab.setup.prepare_reasoning_vocab``)."""
    if ctx.token_map is None:
        raise RuntimeError("model.reasoning_vocab is on but the model set-up made no token map")
    return {"token_map": ctx.token_map, "log_entropy": ctx.cfg.model.reasoning_vocab.log_entropy}


EXTENSION = Extension("reasoning_vocab", ReasoningVocabMixin, reasoning_vocab_enabled, reasoning_vocab_kwargs)
