"""``ObjectivesMixin``: MaxEnt-GRPO loss, KL / entropy controllers and the sampling-temperature schedule
inside TRL's ``GRPOTrainer``.

``RLVRGRPOTrainer`` inherits it, so generation, rewards, replay, logging and checkpoints are shared by both
objectives. Every override calls ``super()`` and assumes nothing about what sits above it in the MRO (the
replay mixin does: ``ReplayGRPOTrainer(ReplayMixin, RLVRGRPOTrainer)``).

Where each piece hooks into TRL 1.16's ``GRPOTrainer``:

* ``_generate_and_score_completions``: before generation, the scheduled temperature is written where TRL's
  samplers read it; after scoring (train and eval), MaxEnt weights for the whole generation batch are computed
  from TRL's gathered per-function rewards (stashed by ``_calculate_rewards``) times ``reward_weights``, and the
  local slice is stored per completion as ``inputs["maxent_weights"]``. The weights must be computed here,
  before ``_prepare_inputs`` shuffles the batch into micro-batches that no longer hold whole groups; anything
  that later selects or concatenates rows of the batch must carry ``maxent_weights`` along like ``advantages``.
* ``_compute_loss``: ``objective=grpo`` runs TRL's loss unchanged; ``objective=maxent`` runs
  :func:`rlvr.objectives.maxent.maxent_loss` on the same per-token log-probabilities. Both feed the measured KL
  (TRL's k3 estimate, a token mean over all processes) to the KL controller's window.
* ``training_step``: at each optimizer-step boundary (``accelerator.sync_gradients``) the controllers update and
  ``beta`` / ``maxent/tau`` / ``sampling_temperature`` are logged. ``self.beta`` is the attribute TRL reads for
  the KL penalty (and for whether to compute reference log-probabilities at all), so updating it is enough.
* ``state_dict_extra`` / ``load_state_dict_extra``: controller state goes into every checkpoint's
  ``rlvr_state.json`` under ``"objectives"`` and is restored on resume.

Temperatures. TRL 1.16 divides the logits by ``args.temperature`` when it computes log-probabilities, and that
value is baked into the fused LM head at ``__init__`` (``add_fused_lm_head(model, temperature=...)`` closes over
it); ``self.temperature`` is read only during ``__init__``. So the schedule changes what *sampling* uses,
``self.generation_config`` / ``self.generation_kwargs`` (transformers ``generate``) and
``self.vllm_generation.temperature`` (vLLM, server and colocate modes), while the policy that is trained and
evaluated keeps ``model.generation_kwargs.temperature`` (``self.temperature``, left unchanged). Samples drawn at
another temperature are slightly off-policy for that policy; with vLLM's importance-sampling correction the
ratio ``pi(base T) / pi_vLLM(sampled T)`` corrects for exactly that (truncated as TRL configures).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch as th
from loguru import logger

from rlvr.config import OBJECTIVE_KEYS, ObjectivesConfig, TemperatureScheduleConfig
from rlvr.objectives.controllers import EntropyController, KLController
from rlvr.objectives.maxent import _nan_to_group_min, maxent_loss, maxent_weights, sequence_logps, weight_entropy
from rlvr.objectives.temperature import TemperatureSchedule

OBJECTIVES = ("grpo", "maxent")
# Optional multimodal inputs forwarded to TRL's log-probability helper, exactly as its own _compute_loss does.
_FORWARD_KEYS = (
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


# -- configuration ------------------------------------------------------------------------------------------------
def objectives_from_training(training: Mapping[str, Any]) -> ObjectivesConfig:
    """The rlvr-only keys of a ``training`` mapping (e.g. ``OmegaConf.to_container(cfg.training)``)."""
    values = {k: training[k] for k in OBJECTIVE_KEYS if k in training}
    schedule = values.get("temperature_schedule")
    if isinstance(schedule, Mapping):
        values["temperature_schedule"] = TemperatureScheduleConfig(**schedule)
    return ObjectivesConfig(**values)


def validate_objectives(cfg: ObjectivesConfig, num_generations: int, beta: float) -> None:
    """Raise ``ValueError`` naming the ``training.*`` key to fix. ``beta`` is the initial KL coefficient."""
    if cfg.objective not in OBJECTIVES:
        raise ValueError(f"training.objective: {cfg.objective!r} is not one of {', '.join(OBJECTIVES)}")
    _kl_controller(cfg, beta)
    if cfg.objective == "maxent":
        if not (math.isfinite(cfg.maxent_q_temperature) and cfg.maxent_q_temperature > 0):
            raise ValueError(f"training.maxent_q_temperature must be > 0, got {cfg.maxent_q_temperature}")
        if not (math.isfinite(cfg.maxent_q_epsilon) and cfg.maxent_q_epsilon >= 0):
            raise ValueError(f"training.maxent_q_epsilon must be >= 0, got {cfg.maxent_q_epsilon}")
        if cfg.maxent_q_epsilon * num_generations >= 1:
            raise ValueError(
                f"training.maxent_q_epsilon * num_generations must be < 1, got {cfg.maxent_q_epsilon} * "
                f"{num_generations}: the smoothed target would leave no mass to the rewards"
            )
        if not (math.isfinite(cfg.maxent_tau) and cfg.maxent_tau >= 0):
            raise ValueError(f"training.maxent_tau must be >= 0, got {cfg.maxent_tau}")
        if cfg.maxent_tau + beta <= 0:
            raise ValueError(
                "training.maxent_tau + beta must be > 0 (the weights are a softmax with temperature tau + beta): "
                "set training.maxent_tau > 0 or a KL coefficient (training.beta / training.init_kl_coeff)"
            )
        if cfg.maxent_target_weight_entropy is not None:
            if cfg.maxent_target_weight_entropy > math.log(num_generations):
                raise ValueError(
                    f"training.maxent_target_weight_entropy={cfg.maxent_target_weight_entropy} nats is above "
                    f"log(num_generations)={math.log(num_generations):.3f}, the largest weight entropy of a group"
                )
            try:
                _entropy_controller(cfg)
            except ValueError as err:
                raise ValueError(_training_key_message(str(err))) from None
    _temperature_schedule(cfg.temperature_schedule)  # its errors name training.temperature_schedule.<key>


def _training_key_message(message: str) -> str:
    """EntropyController's messages name its arguments; name the training keys instead."""
    for arg, key in (
        ("tau_init", "maxent_tau"),
        ("target_entropy", "maxent_target_weight_entropy"),
        ("tau_lr", "maxent_tau_lr"),
        ("tau_min", "maxent_tau_min"),
        ("tau_max", "maxent_tau_max"),
        ("ema_decay", "maxent_entropy_ema_decay"),
        ("warmup_steps", "maxent_tau_warmup_steps"),
    ):
        message = message.replace(f"{arg}", f"training.{key}")
    return message.replace("EntropyController: ", "")


def _kl_controller(cfg: ObjectivesConfig, beta: float) -> KLController:
    try:
        ctl = KLController(beta, cfg.kl_target, cfg.kl_horizon, cfg.kl_ctl_step_size)
    except ValueError as err:
        msg = str(err).replace("KLController: ", "training.").replace("training.init_kl_coeff", "the KL coefficient")
        raise ValueError(msg) from None
    if ctl.enabled and beta == 0:
        raise ValueError(
            "the KL controller is on (kl_target, kl_horizon, kl_ctl_step_size > 0) but the initial KL coefficient "
            "is 0, so beta would stay 0: set training.init_kl_coeff > 0"
        )
    return ctl


def _entropy_controller(cfg: ObjectivesConfig) -> EntropyController | None:
    if cfg.objective != "maxent" or cfg.maxent_target_weight_entropy is None:
        return None
    return EntropyController(
        tau_init=cfg.maxent_tau,
        target_entropy=cfg.maxent_target_weight_entropy,
        tau_lr=cfg.maxent_tau_lr,
        tau_min=cfg.maxent_tau_min,
        tau_max=cfg.maxent_tau_max,
        ema_decay=cfg.maxent_entropy_ema_decay,
        warmup_steps=cfg.maxent_tau_warmup_steps,
    )


def _temperature_schedule(cfg: TemperatureScheduleConfig) -> TemperatureSchedule | None:
    if not cfg.enabled:
        return None
    return TemperatureSchedule(cfg.temp_start, cfg.temp_end, cfg.anneal_steps, cfg.high_temp_period)


# -- the mixin ----------------------------------------------------------------------------------------------------
class ObjectivesMixin:
    """MaxEnt-GRPO, KL / entropy controllers and the temperature schedule for a ``GRPOTrainer`` subclass."""

    def __init__(self, *args: Any, objectives: ObjectivesConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = objectives or ObjectivesConfig()
        if cfg.init_kl_coeff is not None and cfg.init_kl_coeff != self.beta:
            raise ValueError(
                f"init_kl_coeff={cfg.init_kl_coeff} but GRPOConfig.beta={self.beta}: the reference model is loaded "
                "only when beta != 0, so set args.beta = init_kl_coeff (rlvr.train.grpo_args does)"
            )
        validate_objectives(cfg, self.num_generations, self.beta)
        self.objectives = cfg
        self.kl_ctl = _kl_controller(cfg, self.beta)
        self.entropy_ctl = _entropy_controller(cfg)
        self.temperature_schedule = _temperature_schedule(cfg.temperature_schedule)
        self.maxent_tau = float(cfg.maxent_tau)
        self.sampling_temperature = float(self.temperature)  # what the last generation sampled at
        self._initial_beta = float(self.beta)
        self._kl_window: list[float] = []  # KL of each micro-batch since the last optimizer step
        self._entropy_signal: float | None = None  # controller input from the latest training generation
        self._objectives_rewards_per_func: th.Tensor | None = None
        logger.info(
            f"objective={cfg.objective} beta={self.beta:g}"
            + (f" tau={self.maxent_tau:g}" if cfg.objective == "maxent" else "")
            + (f" KL controller target={cfg.kl_target:g}" if self.kl_ctl.enabled else "")
            + (f" entropy controller target={cfg.maxent_target_weight_entropy:g}" if self.entropy_ctl else "")
            + (f" {self.temperature_schedule!r}" if self.temperature_schedule else "")
        )

    @property
    def is_maxent(self) -> bool:
        return self.objectives.objective == "maxent"

    # -- sampling temperature -----------------------------------------------------------------------------------
    def set_sampling_temperature(self, temperature: float) -> None:
        """Make the next generation sample at ``temperature`` (transformers generate and vLLM)."""
        self.sampling_temperature = float(temperature)
        generation_config = getattr(self, "generation_config", None)
        if generation_config is not None:  # transformers generate / continuous batching
            generation_config.temperature = self.sampling_temperature
        generation_kwargs = getattr(self, "generation_kwargs", None)
        if isinstance(generation_kwargs, dict):  # the override unwrap_model_for_generation applies
            generation_kwargs["temperature"] = self.sampling_temperature
        vllm = getattr(self, "vllm_generation", None)
        if getattr(self, "use_vllm", False) and vllm is not None:
            vllm.temperature = self.sampling_temperature  # read on every generate(), server and colocate
            if isinstance(getattr(vllm, "generation_kwargs", None), dict) and "temperature" in vllm.generation_kwargs:
                vllm.generation_kwargs["temperature"] = self.sampling_temperature  # colocate lets these win

    # -- generation and scoring ---------------------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # noqa: ANN001
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._objectives_rewards_per_func = rewards_per_func  # gathered over all processes, global order
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        training = self.model.training
        if self.temperature_schedule is not None:
            t = self.temperature_schedule.at(self.state.global_step) if training else self.temperature
            self.set_sampling_temperature(t)
        self._objectives_rewards_per_func = None
        output = super()._generate_and_score_completions(inputs)
        rewards_per_func, self._objectives_rewards_per_func = self._objectives_rewards_per_func, None
        if self.is_maxent:
            if rewards_per_func is None:
                raise RuntimeError("objective=maxent: TRL's _calculate_rewards was not called during scoring")
            output["maxent_weights"] = self._maxent_batch_weights(output, rewards_per_func, training)
        return output

    def _maxent_batch_weights(self, output: dict[str, Any], rewards_per_func: th.Tensor, training: bool) -> th.Tensor:
        """MaxEnt weights of the whole (all-process) generation batch; returns this process's slice."""
        mode = "train" if training else "eval"
        k = self.num_generations if training else self.num_generations_eval
        device = output["completion_ids"].device
        n_local = output["completion_ids"].size(0)
        utilities = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
        utilities[th.isnan(rewards_per_func).all(dim=1)] = float("nan")  # unscorable: maxent uses the group minimum

        ref_seq, beta = None, float(self.beta)
        if beta != 0.0 and output.get("ref_per_token_logps") is not None:
            mask = output["completion_mask"]
            if output.get("tool_mask") is not None:
                mask = mask * output["tool_mask"]
            local = sequence_logps(
                output["ref_per_token_logps"].float(), mask, self.objectives.maxent_length_normalize_ref
            )
            ref_seq = self.accelerator.gather(local)
        elif beta != 0.0:
            raise RuntimeError("objective=maxent with beta != 0 needs reference log-probabilities, TRL computed none")

        utilities = utilities.to(device)
        weights = maxent_weights(
            utilities,
            ref_seq,
            None,
            k,
            q_temperature=self.objectives.maxent_q_temperature,
            q_epsilon=self.objectives.maxent_q_epsilon,
            tau=self.maxent_tau,
            beta=beta,
            length_normalize_ref=self.objectives.maxent_length_normalize_ref,
        )
        entropy = weight_entropy(weights, k)
        # Groups whose weights depend on tau: utilities (or, with beta != 0, reference terms) not all equal. The rest
        # are uniform whatever tau is and would only bias the controller's signal.
        u = _nan_to_group_min(utilities.reshape(-1, k))  # as maxent_weights sees them
        informative = ~(u == u[:, :1]).all(dim=1)
        if ref_seq is not None:
            r = ref_seq.reshape(-1, k)
            informative |= ~th.isclose(r, r[:, :1]).all(dim=1)
        metrics = self._metrics[mode]
        metrics["maxent/weight_entropy"].append(entropy.mean().item())
        metrics["maxent/weight_max"].append(weights.reshape(-1, k).amax(dim=1).mean().item())
        metrics["maxent/informative_groups"].append(informative.float().mean().item())
        if informative.any():
            signal = entropy[informative].mean().item()
            metrics["maxent/weight_entropy_informative"].append(signal)
            if training:
                self._entropy_signal = signal
        rank = self.accelerator.process_index
        return weights[rank * n_local : (rank + 1) * n_local].to(device)

    # -- loss ---------------------------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs):  # noqa: ANN001
        mode = "train" if self.model.training else "eval"
        if not self.is_maxent:
            loss = super()._compute_loss(model, inputs)
            kl_values = self._metrics[mode].get("kl")
            if mode == "train" and self.beta != 0.0 and kl_values:
                self._kl_window.append(float(kl_values[-1]))  # TRL's global token mean of this micro-batch
            return loss
        if "maxent_weights" not in inputs:
            raise RuntimeError("objective=maxent: the batch carries no maxent_weights (see rlvr.objectives.mixin)")
        return self._maxent_compute_loss(model, inputs, mode)

    def _global_masked_mean(self, x: th.Tensor, mask: th.Tensor) -> float:
        totals = self.accelerator.reduce(th.stack([(x * mask).sum(), mask.sum().float()]), reduction="sum")
        return (totals[0] / totals[1].clamp(min=1.0)).item()

    def _maxent_compute_loss(self, model, inputs: dict[str, Any], mode: str) -> th.Tensor:  # noqa: ANN001
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = th.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = th.cat([inputs["prompt_mask"], completion_mask], dim=1)
        mask = completion_mask if inputs.get("tool_mask") is None else completion_mask * inputs["tool_mask"]
        per_token_logps, entropies, aux_loss = self._get_per_token_logps_and_entropies(
            model,
            input_ids,
            attention_mask,
            completion_ids.size(1),
            compute_entropy=True,
            compute_aux_loss=self.aux_loss_enabled,
            **{key: inputs.get(key) for key in _FORWARD_KEYS},
        )
        per_token_kl = None
        if self.beta != 0.0:
            delta = inputs["ref_per_token_logps"] - per_token_logps
            per_token_kl = th.exp(delta) - delta - 1  # TRL's k3 estimator
        clip = self.objectives.maxent_clip
        old = inputs.get("old_per_token_logps")
        loss, parts = maxent_loss(
            per_token_logps,
            mask,
            inputs["maxent_weights"],
            self.num_generations if mode == "train" else self.num_generations_eval,
            beta=float(self.beta),
            per_token_kl=per_token_kl,
            old_per_token_logps=(per_token_logps.detach() if old is None else old) if clip else None,
            clip_eps=float(self.args.epsilon) if clip else None,
        )
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0  # TRL scales its own too
        loss = loss / normalizer
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * aux_loss / normalizer
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss).mean().item())

        metrics = self._metrics[mode]
        fmask = mask.float()
        metrics["entropy"].append(self._global_masked_mean(entropies, fmask))
        metrics["maxent/nll"].append(self.accelerator.gather(parts["nll"]).mean().item())
        if per_token_kl is not None:
            kl = self._global_masked_mean(per_token_kl.detach(), fmask)
            metrics["kl"].append(kl)
            if mode == "train":
                self._kl_window.append(kl)
        if "clip_loss" in parts:
            metrics["maxent/clip_loss"].append(self.accelerator.gather(parts["clip_loss"]).mean().item())
            metrics["maxent/clip_ratio"].append(self.accelerator.gather(parts["clip_ratio"]).mean().item())
        return loss

    # -- controllers: once per optimizer step -------------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch):  # noqa: ANN001
        out = super().training_step(model, inputs, num_items_in_batch)
        if self.accelerator.sync_gradients:
            self._objectives_optimizer_step()
        return out

    def _objectives_optimizer_step(self) -> None:
        """Update beta and tau after an optimizer step and log the state the next step starts from."""
        metrics = self._metrics["train"]
        if self._kl_window:
            kl = sum(self._kl_window) / len(self._kl_window)
            self._kl_window.clear()
            if self.kl_ctl.enabled:
                metrics["kl_ctl/kl"].append(kl)  # the value the controller saw
                self.beta = self.kl_ctl.update(kl)
        if self.entropy_ctl is not None and self._entropy_signal is not None:
            self.maxent_tau = self.entropy_ctl.update(self._entropy_signal, step=self.state.global_step)
            self._entropy_signal = None
        metrics["beta"].append(float(self.beta))
        if self.is_maxent:
            metrics["maxent/tau"].append(self.maxent_tau)
            if self.entropy_ctl is not None and self.entropy_ctl.ema is not None:
                metrics["maxent/weight_entropy_ema"].append(self.entropy_ctl.ema)
        if self.temperature_schedule is not None:
            metrics["sampling_temperature"].append(self.sampling_temperature)

    # -- checkpoints --------------------------------------------------------------------------------------------
    def state_dict_extra(self) -> dict[str, Any]:
        state = super().state_dict_extra()
        state["objectives"] = {
            "objective": self.objectives.objective,
            "beta": float(self.beta),
            "tau": self.maxent_tau,
            "kl_ctl": self.kl_ctl.state_dict(),
            "entropy_ctl": self.entropy_ctl.state_dict() if self.entropy_ctl is not None else None,
            "sampling_temperature": self.sampling_temperature,
        }
        return state

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        super().load_state_dict_extra(state)
        saved = state.get("objectives")
        if saved is None:
            if self.kl_ctl.enabled or self.entropy_ctl is not None:
                logger.warning("checkpoint has no objectives state: beta and tau start from the config")
            return
        if self.kl_ctl.enabled:
            self.kl_ctl.load_state_dict(saved["kl_ctl"])
            if self.kl_ctl.beta != 0.0 and self._initial_beta == 0.0:  # TRL loaded no reference model
                raise ValueError("cannot resume a KL-controlled beta > 0 in a run started with beta = 0")
            self.beta = self.kl_ctl.beta
        if self.entropy_ctl is not None and saved.get("entropy_ctl") is not None:
            self.entropy_ctl.load_state_dict(saved["entropy_ctl"])
            self.maxent_tau = self.entropy_ctl.tau
        logger.info(f"restored objectives state: beta={self.beta:.6g} tau={self.maxent_tau:.6g}")

    def summary_extra(self) -> dict[str, Any]:
        summary = super().summary_extra()
        summary["objectives"] = {
            "objective": self.objectives.objective,
            "beta": float(self.beta),
            "tau": self.maxent_tau if self.is_maxent else None,
            "sampling_temperature": self.sampling_temperature,
        }
        return summary
