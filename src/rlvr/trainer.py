"""Our GRPOTrainer subclass: the shared base that replay and the objectives extend.

It adds what every run needs and TRL does not keep: a count of generated (completion)
tokens across all processes, logged every step, and an ``rlvr_state.json`` in every
checkpoint so counters survive resume. Extensions add their own state through
``state_dict_extra`` / ``load_state_dict_extra``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch as th
from loguru import logger
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOTrainer

from rlvr.objectives.mixin import ObjectivesMixin

STATE_FILE = "rlvr_state.json"


class RLVRBaseTrainer(GRPOTrainer):
    """GRPOTrainer + generated-token accounting + extension state in checkpoints."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generated_tokens = 0

    # -- accounting ---------------------------------------------------------------------
    def _generate(self, prompts: list):
        out = super()._generate(prompts)
        if self.model.training:
            completion_ids = out[1]
            local = th.tensor([sum(len(ids) for ids in completion_ids)], device=self.accelerator.device)
            self.generated_tokens += int(self.accelerator.gather(local).sum().item())
        return out

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model.training and "loss" in logs:
            logs["generated_tokens"] = self.generated_tokens
        super().log(logs, start_time)

    # -- extension state in checkpoints ---------------------------------------------------
    def state_dict_extra(self) -> dict[str, Any]:
        """JSON-serialisable state saved in every checkpoint (extended by mixins)."""
        return {"generated_tokens": self.generated_tokens}

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        self.generated_tokens = int(state.get("generated_tokens", 0))

    def summary_extra(self) -> dict[str, Any]:
        """Entries for the run's summary.json (extended by mixins; may be a collective call)."""
        return {}

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            tmp = folder / f"{STATE_FILE}.tmp"
            tmp.write_text(json.dumps(self.state_dict_extra()))
            os.replace(tmp, folder / STATE_FILE)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = Path(checkpoint) / STATE_FILE
        if path.exists():
            self.load_state_dict_extra(json.loads(path.read_text()))
            logger.info(f"restored rlvr state from {path}")
        else:
            logger.warning(f"{path} not found: counters and replay state start fresh")


class RLVRGRPOTrainer(ObjectivesMixin, RLVRBaseTrainer):
    """The trainer ``rlvr.train.build`` uses: the base above + objectives (``training.objective``, KL / entropy
    controllers, temperature schedule; see ``rlvr.objectives.mixin``). Mixins such as replay go in front of it."""
