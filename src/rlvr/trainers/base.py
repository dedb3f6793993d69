"""``RLVRTrainer``: TRL's ``GRPOTrainer`` plus the hooks every rlvr extension uses.

This module is the ONLY place that overrides private TRL / transformers methods. Each override below names
the version it was read from (trl 1.16.0, transformers 5.19.0; ``pyproject.toml`` pins that range, and
``tests/trainers/test_base.py`` fails loudly, naming the method, if an upgrade removes or renames one).
Extensions (``rlvr.replay.mixin.ReplayMixin``, ``rlvr.objectives.mixin.ObjectivesMixin``,
``rlvr.vocab.mixin.ReasoningVocabMixin``; assembled into a run's trainer by ``rlvr.trainers.assembled``) override
only the public hooks defined here:

* ``prepare_generation_batch(inputs, training)``: the prompt rows about to be generated for (replay mixes
  buffered prompts in; the objectives set the sampling temperature). Called on every rank, before generation.
* ``after_scoring(output, training)``: the scored batch, with ``scored_rewards`` (TRL's per-function rewards,
  gathered over all processes in global order), ``weighted_rewards()`` (the shaped sum) and
  ``correctness_rewards()`` (each row's task verifier: a reward its ``rlvr.registry.tasks.Task`` declares) available.
* ``complete_generation_batch(output, training)``: the scored batch the optimizer steps will use; may run
  further rounds of ``generate_and_score(inputs, training)`` (dynamic-sampling refill does).
* ``policy_loss(model, inputs)``: the loss of one micro-batch (default: TRL's GRPO loss).
* ``vllm_logits_processors()``: vLLM logits-processor classes for the colocated engine TRL builds (the
  counterpart of ``logits_processors()`` for ``training.vllm_mode=colocate``).
* ``token_restriction(input_ids, attention_mask, logits_to_keep)``: the ids the sampler allowed at each completion
  position (``rlvr.trainers.restricted_logps.TokenRestriction``), or None (the default: all). When an extension
  masks logits while sampling (``logits_processors()``), returning the same mask here makes every log-prob TRL
  computes (loss, old policy, reference, entropies) use the masked softmax the rollouts came from.
* ``on_optimizer_step()``: after each optimizer step (gradient-accumulation boundary).
* ``before_checkpoint()`` (every rank; collectives allowed), ``save_extra(folder)`` / ``load_extra(folder)``
  (files in the checkpoint folder) and ``state_dict_extra()`` / ``load_state_dict_extra(state)`` (JSON state in
  its ``rlvr_state.json``).
* ``summary_extra()``: entries for the run's ``summary.json`` (may be a collective call).
* ``save_model_files(folder)``: files the final ``model/`` needs for a reload (the reasoning vocabulary's token map).
* ``token_map``: the reasoning-vocabulary token map the policy samples under, or None (the default).
* ``log_metric(name, value)`` / ``metric_values(name)``: the per-step metrics TRL averages and logs.

The base also counts generated (completion) tokens over all processes, logs them every step and keeps them in
every checkpoint, so a resumed run continues the count.

Checkpoints are crash-safe: a checkpoint folder counts as complete only once ``rlvr_complete.json`` is written,
last, after transformers' files, every extension's ``save_extra`` and every rank; ``resume_from_checkpoint=auto``
takes the newest complete one, and ``save_total_limit`` pruning runs after the marker, counting complete
checkpoints only (``rlvr.checkpoints``), so a process killed mid-save always leaves one to resume from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch as th
from loguru import logger
from transformers import TrainerState
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, TrainOutput
from trl import GRPOTrainer

from rlvr import checkpoints
from rlvr.registry.tasks import is_correctness_reward
from rlvr.trainers.restricted_logps import TokenRestriction, add_restricted_lm_head

STATE_FILE = "rlvr_state.json"

# Private methods of GRPOTrainer / transformers.Trainer that this module overrides or calls. The guard test
# checks each still exists with these parameters; when TRL changes, this file (and this table) changes.
OVERRIDDEN_PRIVATE = {
    "_generate": ("prompts",),
    "_calculate_rewards": ("inputs", "prompts", "completions", "completion_ids_list"),
    "_generate_and_score_completions": ("inputs",),
    "_compute_loss": ("model", "inputs"),
    "_get_per_token_logps_and_entropies": ("model", "input_ids", "attention_mask", "logits_to_keep"),
    "_save_checkpoint": ("model", "trial"),
    "_load_optimizer_and_scheduler": ("checkpoint",),
}
CALLED_PRIVATE = {
    "_get_output_dir": ("trial",),
    "_load_from_checkpoint": ("resume_from_checkpoint",),
}
# Attributes of GRPOTrainer / transformers.Trainer (not methods) that rlvr reads or writes, and where each is set.
# Only this module touches them, through the accessors under "TRL state" below; the guard test fails naming any
# that an upgrade renames or stops setting.
TRL_ATTRIBUTES = {
    "beta": "GRPOTrainer.__init__",  # the KL coefficient: TRL's loss reads it every step
    "temperature": "GRPOTrainer.__init__",  # the policy's temperature in every log-prob TRL computes
    "num_generations": "GRPOTrainer.__init__",
    "num_generations_eval": "GRPOTrainer.__init__",
    "use_vllm": "GRPOTrainer.__init__",
    "aux_loss_enabled": "GRPOTrainer.__init__",
    "router_aux_loss_coef": "GRPOTrainer.__init__",
    "generation_config": "GRPOTrainer.__init__",  # transformers generate (use_vllm=False)
    "generation_kwargs": "GRPOTrainer.__init__",  # transformers generate (use_vllm=False)
    "vllm_generation": "GRPOTrainer.__init__",  # use_vllm=True: its .temperature is read on every generate()
    "current_gradient_accumulation_steps": "Trainer._run_epoch",  # per step, in training
    "eos_token_ids": "GRPOTrainer.__init__",  # the stop tokens of TRL's rollouts
    "chat_template_kwargs": "GRPOTrainer.__init__",  # what TRL's rollouts pass to apply_chat_template
}
# The optional model inputs TRL's own _compute_loss forwards to _get_per_token_logps_and_entropies (multimodal).
FORWARD_KEYS = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)


@contextmanager
def generate_with_processors(model: Any, processors: list[Any]) -> Iterator[None]:
    """Within the block, ``model.generate(...)`` also applies ``processors`` (each ``reset()`` first, when it has
    one: a new batch of sequences); nothing changes when there are none."""
    if not processors:
        yield
        return
    from transformers import LogitsProcessorList

    for proc in processors:
        if hasattr(proc, "reset"):
            proc.reset()
    original = model.generate
    own = model.__dict__.get("generate")  # an instance attribute already there (restored after), else None

    def generate(*args: Any, **kwargs: Any) -> Any:
        given = kwargs.pop("logits_processor", None) or []
        return original(*args, logits_processor=LogitsProcessorList([*given, *processors]), **kwargs)

    model.generate = generate
    try:
        yield
    finally:
        if own is not None:
            model.generate = own
        else:
            del model.generate  # the class's generate is back


@contextmanager
def colocated_vllm_processors(processors: list[type]) -> Iterator[None]:
    """Within the block, the ``vllm.LLM`` that TRL 1.16 builds for ``vllm_mode="colocate"``
    (``trl.generation.vllm_generation.VLLMGeneration.__init__``, which takes no logits processors) also gets
    ``logits_processors=processors``; nothing changes when there are none."""
    if not processors:
        yield
        return
    from trl.generation import vllm_generation

    original = vllm_generation.LLM

    def llm(*args: Any, **kwargs: Any) -> Any:
        kwargs["logits_processors"] = [*(kwargs.get("logits_processors") or []), *processors]
        return original(*args, **kwargs)

    vllm_generation.LLM = llm
    try:
        yield
    finally:
        vllm_generation.LLM = original


class RLVRTrainer(GRPOTrainer):
    """GRPOTrainer + extension hooks + generated-token accounting + extension state in checkpoints."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        grpo_args = kwargs.get("args")
        colocate = getattr(grpo_args, "use_vllm", False) and getattr(grpo_args, "vllm_mode", None) == "colocate"
        with colocated_vllm_processors(self.vllm_logits_processors() if colocate else []):
            super().__init__(*args, **kwargs)
        self.generated_tokens = 0
        self.scored_rewards: th.Tensor | None = None
        # the masked path next to TRL's fused head (used only when token_restriction() returns a restriction)
        fp32_head = bool(getattr(self.args, "cast_lm_head_to_fp32", False))
        add_restricted_lm_head(self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model,
                               self.temperature, fp32_head)  # fmt: skip
        if self.ref_model is not None:
            add_restricted_lm_head(self.ref_model, self.temperature, fp32_head)

    # -- hooks for extensions (override these, call super()) -----------------------------------------------------
    def prepare_generation_batch(self, inputs: list[dict[str, Any]], training: bool) -> list[dict[str, Any]]:
        """This process's prompt rows for the next generation; returns the rows to generate for."""
        return inputs

    def after_scoring(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        """The scored batch TRL built (advantages, masks, ...); returns what the loss will see."""
        return output

    def complete_generation_batch(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        """The scored generation batch after ``after_scoring``; returns the batch the optimizer steps will use.
        An extension may call ``generate_and_score`` again here (every rank the same number of times) and join
        the results (dynamic-sampling refill does)."""
        return output

    def policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        """Loss of one micro-batch; the default is TRL's GRPO loss."""
        return super()._compute_loss(model, inputs)

    def token_restriction(
        self, input_ids: th.Tensor, attention_mask: th.Tensor, logits_to_keep: int
    ) -> TokenRestriction | None:
        """The ids the sampler allowed at each of the last ``logits_to_keep`` positions of ``input_ids`` (prompt +
        completion rows), or None: no restriction, TRL's own log-probs."""
        return None

    def on_optimizer_step(self) -> None:
        """Called after every optimizer step (controllers update here)."""

    def before_checkpoint(self) -> None:
        """Called on every rank before a checkpoint is written (collective calls are allowed here)."""

    def save_extra(self, folder: Path) -> None:
        """Write extension state into the checkpoint ``folder`` (main process only)."""
        tmp = folder / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(self.state_dict_extra()))
        os.replace(tmp, folder / STATE_FILE)

    def load_extra(self, folder: Path) -> None:
        """Restore extension state from the checkpoint ``folder`` (every process)."""
        path = folder / STATE_FILE
        if path.exists():
            self.load_state_dict_extra(json.loads(path.read_text()))
            logger.info(f"restored rlvr state from {path}")
        else:
            logger.warning(f"{path} not found: counters and extension state start fresh")

    def state_dict_extra(self) -> dict[str, Any]:
        """JSON-serialisable state saved in every checkpoint's ``rlvr_state.json`` (extended by mixins)."""
        return {"generated_tokens": self.generated_tokens}

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        self.generated_tokens = int(state.get("generated_tokens", 0))

    def summary_extra(self) -> dict[str, Any]:
        """Entries for the run's summary.json (extended by mixins; may be a collective call)."""
        return {}

    def save_model_files(self, folder: Path) -> None:
        """Write the files a reload of the final model needs next to its weights in ``folder`` (the run's
        ``model/``; main process only, after the weights and tokenizer). Nothing by default."""

    @property
    def token_map(self) -> Any:
        """The reasoning-vocabulary token map (``rlvr.vocab.token_map.TokenMap``) the policy samples under, or None:
        what sampling and decoding outside the trainer (``rlvr.api.quick_test``) must apply too."""
        return None

    def logits_processors(self) -> list[Any]:
        """Logits processors applied wherever the policy samples with transformers ``generate``: TRL's rollouts
        and rlvr's held-out evaluation (``rlvr.evaluation.heldout``)."""
        return []

    def vllm_logits_processors(self) -> list[type]:
        """vLLM (V1) logits-processor classes for the colocated engine TRL builds (``training.vllm_mode=colocate``).
        Called before the trainer is initialised: an implementation must not read the trainer's state (a class
        configures itself from the ``vllm_config`` it is built with, e.g. the model directory)."""
        return []

    def decode_completion(self, ids: list[int]) -> str:
        """A completion's text as rewards, evaluation and summaries read it."""
        return self.processing_class.decode(ids, skip_special_tokens=True)

    def reward_completions(self, completions: list[Any], completion_ids: list[list[int]]) -> list[Any]:
        """The completions the reward functions get (TRL's decoded texts, or messages for chat data)."""
        return completions

    # -- helpers for extensions ---------------------------------------------------------------------------------
    def generate_and_score(self, inputs: list[dict[str, Any]], training: bool) -> dict[str, Any]:
        """One round of TRL's generation and scoring of this process's prompt rows, with the hooks around it
        (``prepare_generation_batch`` before, ``after_scoring`` after): a collective, call it on every rank."""
        inputs = self.prepare_generation_batch(list(inputs), training)
        self.scored_rewards = None
        output = super()._generate_and_score_completions(inputs)
        if training:
            self.log_saturation()
        return self.after_scoring(output, training)

    def log_saturation(self) -> None:
        """Log the shares of this round's groups whose every completion is solved (``frac_all_correct``) or
        failed (``frac_all_wrong``) by the correctness reward: the two kinds of uninformative group that TRL's
        ``frac_reward_zero_std`` counts together. Groups no correctness reward scored are left out."""
        correct = self.correctness_rewards().reshape(-1, self.num_generations)
        scored = ~th.isnan(correct).any(dim=1)
        if not bool(scored.any()):
            return
        correct = correct[scored]
        self.log_metric("frac_all_correct", float((correct >= 1.0).all(dim=1).float().mean()))
        self.log_metric("frac_all_wrong", float((correct <= 0.0).all(dim=1).float().mean()))

    def weighted_rewards(self) -> th.Tensor:
        """Per-completion reward of the scored batch (all processes, global order): the per-function rewards
        times ``reward_weights``, summed ignoring None (NaN); NaN where no function scored the completion."""
        if self.scored_rewards is None:
            raise RuntimeError("weighted_rewards() is only available after scoring (in after_scoring)")
        rpf = self.scored_rewards
        rewards = (rpf * self.reward_weights.to(rpf.device).unsqueeze(0)).nansum(dim=1)
        rewards[th.isnan(rpf).all(dim=1)] = float("nan")
        return rewards

    def correctness_columns(self) -> list[int]:
        """Columns of ``scored_rewards`` that come from correctness rewards (a registered task's ``correctness``:
        its verifier, not a shaping reward), in ``reward_funcs`` order."""
        return [i for i, func in enumerate(self.reward_funcs) if is_correctness_reward(func)]

    def correctness_rewards(self) -> th.Tensor:
        """Per-completion correctness of the scored batch (all processes, global order): the first correctness
        reward (in ``rewards.funcs`` order) that scored the completion, unweighted; NaN where none did (no
        correctness reward configured, or none serves the row's task)."""
        if self.scored_rewards is None:
            raise RuntimeError("correctness_rewards() is only available after scoring (in after_scoring)")
        rpf = self.scored_rewards
        cols = self.correctness_columns()
        if not cols:
            return th.full((rpf.size(0),), float("nan"), dtype=rpf.dtype, device=rpf.device)
        sub = rpf[:, cols]
        scored = ~th.isnan(sub)
        first = scored.to(th.int8).argmax(dim=1, keepdim=True)  # the first scored column (argmax: first maximum)
        out = sub.gather(1, first).squeeze(1)
        out[~scored.any(dim=1)] = float("nan")
        return out

    def checkpoint_folder(self, trial: Any = None) -> Path:
        """The folder of the checkpoint being saved at the current step."""
        return Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"

    def log_metric(self, name: str, value: float, mode: str = "train") -> None:
        """Add one value to this step's metric ``name`` (TRL averages the values of a step and logs the mean)."""
        self._metrics[mode][name].append(float(value))

    def metric_values(self, name: str, mode: str = "train") -> list[float]:
        """The values recorded for metric ``name`` since the last log."""
        return list(self._metrics[mode].get(name, []))

    def micro_batch_size(self, training: bool) -> int:
        """The rows per forward pass in TRL's log-prob passes (the per-device train or eval batch size)."""
        args = self.args
        return int(args.per_device_train_batch_size if training else args.per_device_eval_batch_size)

    def per_token_logps_and_entropies(
        self, model: th.nn.Module, input_ids: th.Tensor, attention_mask: th.Tensor, logits_to_keep: int, **kwargs: Any
    ) -> tuple[th.Tensor, th.Tensor | None, th.Tensor | None]:
        """TRL's per-token log-probabilities (and entropies, aux loss) of the completion tokens."""
        return self._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, **kwargs)

    # -- TRL state: the TRL_ATTRIBUTES, read and written here only ----------------------------------------------
    @property
    def kl_coef(self) -> float:
        """The KL coefficient TRL's loss uses (``beta``; with 0 TRL computes no reference log-probabilities)."""
        return float(self.beta)

    @kl_coef.setter
    def kl_coef(self, value: float) -> None:
        self.beta = float(value)

    @property
    def stop_token_ids(self) -> list[int] | None:
        """The token ids that end a rollout (TRL's ``eos_token_ids``): evaluation stops where training does."""
        ids = self.eos_token_ids
        return [ids] if isinstance(ids, int) else list(ids) if ids is not None else None

    @property
    def prompt_template_kwargs(self) -> dict[str, Any]:
        """What TRL passes to ``apply_chat_template`` for the rollouts' prompts (``training.chat_template_kwargs``)."""
        return dict(self.chat_template_kwargs or {})

    @property
    def policy_temperature(self) -> float:
        """The temperature of the policy being trained: TRL divides the logits by it in every log-prob."""
        return float(self.temperature)

    def group_size(self, training: bool) -> int:
        """Completions per prompt (``num_generations``, or ``num_generations_eval`` in evaluation)."""
        return int(self.num_generations if training else self.num_generations_eval)

    def apply_sampling_temperature(self, temperature: float) -> None:
        """Make the next generation sample at ``temperature``: transformers ``generate`` (the generation config
        and the kwargs ``unwrap_model_for_generation`` applies) or vLLM (server and colocate read
        ``vllm_generation.temperature`` on every call; colocate's own kwargs win when they name it)."""
        t = float(temperature)
        generation_config = getattr(self, "generation_config", None)
        if generation_config is not None:
            generation_config.temperature = t
        generation_kwargs = getattr(self, "generation_kwargs", None)
        if isinstance(generation_kwargs, dict):
            generation_kwargs["temperature"] = t
        vllm = getattr(self, "vllm_generation", None)
        if getattr(self, "use_vllm", False) and vllm is not None:
            vllm.temperature = t
            if isinstance(getattr(vllm, "generation_kwargs", None), dict) and "temperature" in vllm.generation_kwargs:
                vllm.generation_kwargs["temperature"] = t

    def policy_logps(
        self, model: th.nn.Module, inputs: dict[str, Any], compute_entropy: bool = True
    ) -> tuple[th.Tensor, th.Tensor | None, th.Tensor | None]:
        """Per-token log-probabilities of a micro-batch's completions under ``model`` (and entropies, and the
        router aux loss when TRL computes one), with the model inputs TRL's own loss forwards."""
        completion_ids = inputs["completion_ids"]
        input_ids = th.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = th.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        return self.per_token_logps_and_entropies(
            model,
            input_ids,
            attention_mask,
            completion_ids.size(1),
            compute_entropy=compute_entropy,
            compute_aux_loss=self.aux_loss_enabled,
            **{key: inputs.get(key) for key in FORWARD_KEYS},
        )

    @staticmethod
    def kl_per_token(ref_logps: th.Tensor, logps: th.Tensor) -> th.Tensor:
        """TRL's per-token KL estimate to the reference policy (the k3 estimator ``exp(d) - d - 1``, d = ref - pi)."""
        delta = ref_logps - logps
        return th.exp(delta) - delta - 1

    def loss_normaliser(self, training: bool) -> float:
        """What a micro-batch loss is divided by so a step's gradient is the mean over its micro-batches, as TRL
        scales its own loss (the gradient-accumulation steps in training, 1 in evaluation)."""
        return float(self.current_gradient_accumulation_steps) if training else 1.0

    def aux_loss_term(self, aux_loss: th.Tensor | None, normaliser: float) -> th.Tensor | None:
        """The router (MoE) auxiliary loss term TRL adds, or None when the model has none."""
        if not self.aux_loss_enabled or aux_loss is None:
            return None
        return self.router_aux_loss_coef * aux_loss / normaliser

    # -- the private TRL / transformers overrides -----------------------------------------------------------------
    # trl 1.16.0 GRPOTrainer._generate(prompts) -> (prompt_ids, completion_ids, ...): count completion tokens.
    # Here also: the extensions' logits processors (logits_processors()) reach transformers ``generate``, which TRL
    # calls without any, through the unwrapped policy's ``generate`` for the duration of the call.
    def _generate(self, prompts: list):  # noqa: ANN202
        with generate_with_processors(self.accelerator.unwrap_model(self.model_wrapped), self.logits_processors()):
            out = super()._generate(prompts)
        if self.model.training:
            completion_ids = out[1]
            local = th.tensor([sum(len(ids) for ids in completion_ids)], device=self.accelerator.device)
            self.generated_tokens += int(self.accelerator.gather(local).sum().item())
        return out

    # trl 1.16.0 GRPOTrainer._calculate_rewards(...) -> (N_global, n_funcs) tensor, gathered: stash it once.
    # The reward functions get reward_completions(...) (e.g. reasoning tokens read as their source tokens).
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # noqa: ANN001, ANN202
        completions = self.reward_completions(completions, completion_ids_list)
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self.scored_rewards = rewards_per_func
        return rewards_per_func

    # trl 1.16.0 GRPOTrainer._generate_and_score_completions(inputs) -> dict: the generation-batch seam.
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        training = self.model.training
        return self.complete_generation_batch(self.generate_and_score(inputs, training), training)

    # trl 1.16.0 GRPOTrainer._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep,
    # batch_size=None, compute_entropy=False, compute_aux_loss=False, **multimodal) -> (logps, entropies, aux_loss):
    # every log-prob TRL computes (loss, old policy, reference model, our entropy metrics) comes through here. With
    # a token_restriction() the log-probs are those of the masked softmax (rlvr.trainers.restricted_logps);
    # without one, TRL's fused head as is.
    def _get_per_token_logps_and_entropies(  # noqa: ANN202
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,  # noqa: ANN001
        compute_aux_loss=False, **multimodal,  # noqa: ANN001, ANN003
    ):  # fmt: skip
        restriction = self.token_restriction(input_ids, attention_mask, logits_to_keep)
        if restriction is None:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **multimodal,
            )  # fmt: skip
        if compute_aux_loss or any(v is not None for v in multimodal.values()):
            raise NotImplementedError("a token restriction is built for text-only models without a router aux loss")
        labels = input_ids[:, -logits_to_keep:]
        outside = ~restriction.label_allowed(labels) & attention_mask[:, -logits_to_keep:].bool()
        n_outside = int(outside.sum())
        if n_outside:  # a sampled token the mask forbids: score it anyway (finite), and count it
            restriction = restriction.allowing(labels, outside)
        self.log_metric("restriction/labels_outside_mask", n_outside, "train" if self.model.training else "eval")
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            with self.accelerator.autocast():
                out = model(
                    input_ids=input_ids[start:end],
                    attention_mask=attention_mask[start:end],
                    token_restriction=restriction.rows(start, end),
                )
            logps.append(out.log_probs)
            entropies.append(out.entropy)
        return th.cat(logps), (th.cat(entropies) if compute_entropy else None), None

    # trl 1.16.0 GRPOTrainer._compute_loss(model, inputs) -> loss of one micro-batch.
    def _compute_loss(self, model, inputs):  # noqa: ANN001, ANN202
        return self.policy_loss(model, inputs)

    # trl 1.16.0 GRPOTrainer.training_step (public): one micro-batch; optimizer steps at accumulation boundaries.
    def training_step(self, model, inputs, num_items_in_batch):  # noqa: ANN001, ANN201
        out = super().training_step(model, inputs, num_items_in_batch)
        if self.accelerator.sync_gradients:
            self.on_optimizer_step()
        return out

    # trl 1.16.0 GRPOTrainer.log (public): add the generated-token count to every training log line.
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model.training and "loss" in logs:
            logs["generated_tokens"] = self.generated_tokens
        super().log(logs, start_time)

    # transformers 5.19.0 Trainer._save_checkpoint(model, trial): every rank. It writes the model, optimizer,
    # scheduler, RNG and trainer_state.json, then prunes old checkpoints (rotate_checkpoints, save_total_limit).
    # Here: transformers' pruning is switched off for the call; the extensions' files follow (save_extra); once
    # every rank is done the completion marker is written LAST and only then are old checkpoints pruned,
    # counting complete checkpoints only (rlvr.checkpoints). A process killed anywhere in between leaves a
    # folder without the marker, which resume_from_checkpoint=auto skips, and the previous complete one intact.
    def _save_checkpoint(self, model, trial) -> None:  # noqa: ANN001
        self.before_checkpoint()
        folder = self.checkpoint_folder(trial)
        if self.args.should_save:
            checkpoints.clear_complete(folder)  # saved again at this step: incomplete until rewritten
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # no pruning inside transformers: it would run before the marker
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if self.args.should_save:
            self.save_extra(folder)
        self.accelerator.wait_for_everyone()  # every rank's files (RNG states, shards) are on disk
        if self.args.should_save:
            checkpoints.mark_complete(folder, self.state.global_step)
            checkpoints.rotate_checkpoints(folder.parent, limit, folder, protect=[self.state.best_model_checkpoint])

    # transformers 5.19.0 Trainer.train(resume_from_checkpoint=...) (public): resumed from a checkpoint at max_steps it
    # runs one more optimizer step before it checks the limit. A run stopped after its last checkpoint (a time limit
    # during the final evaluation) is resumed to finish, not to train: the checkpoint's weights, trainer state and
    # extension state are loaded, and nothing is trained.
    def train(self, resume_from_checkpoint=None, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        steps = checkpoints.trained_steps(resume_from_checkpoint) if resume_from_checkpoint else None
        if steps is None or self.args.max_steps <= 0 or steps < self.args.max_steps:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        folder = Path(resume_from_checkpoint)
        logger.info(f"{folder} is at max_steps ({steps}): loading it to finish the run, training nothing")
        self._load_from_checkpoint(str(folder))
        self.state = TrainerState.load_from_json(str(folder / TRAINER_STATE_NAME))
        self.load_extra(folder)
        losses = [r["loss"] for r in self.state.log_history if "loss" in r]
        return TrainOutput(self.state.global_step, sum(losses) / len(losses) if losses else 0.0, {})

    # transformers 5.19.0 Trainer._load_optimizer_and_scheduler(checkpoint): runs on resume, every rank.
    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            self.load_extra(Path(checkpoint))
