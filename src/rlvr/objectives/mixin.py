"""``ObjectivesMixin``: the policy objective, KL / entropy controllers and the sampling-temperature schedule, built
on the hooks of :class:`rlvr.trainers.base.RLVRTrainer` (no private TRL method is overridden here).

The ``objectives`` extension (``EXTENSION`` below; ``rlvr.trainers.assembled.trainer_class``) puts it in every
trainer, so generation, rewards, replay, logging and checkpoints are shared by every objective. Every hook calls
``super()`` and assumes nothing about what sits above it in the MRO (the replay mixin does).

The objective is a strategy chosen by name (``objective=grpo|maxent``, i.e. ``objective.name``): an
:class:`Objective` subclass registered with ``@register_objective("name")``, one instance per trainer
(``trainer.objective_strategy``), to which the mixin delegates what differs between objectives:
``after_scoring`` (what the loss needs from the scored batch), ``policy_loss`` and ``log_step`` (metrics after each
optimizer step). Built in: :class:`GRPOObjective` (``grpo``: TRL's loss unchanged) and :class:`MaxEntObjective`
(``maxent``: :mod:`rlvr.objectives.maxent`). Adding an objective is one subclass plus its registration, in this
module or in any module the run imports (a ``plugins`` entry); an unknown name fails in ``rlvr.run.build`` before
the model loads, naming the registered ones. New settings of its own go into ``ObjectiveConfig``
(``rlvr.config.objective``) and ``conf/objective/<name>.yaml``.

Where each piece hooks in:

* ``prepare_generation_batch``: the scheduled temperature is written where TRL's samplers read it.
* ``after_scoring`` (train and eval): the objective's ``after_scoring``. MaxEnt computes the weights of the whole
  generation batch from ``weighted_rewards()`` (TRL's gathered per-function rewards times ``reward_weights``) and
  stores the local slice per completion as ``output["maxent_weights"]``. The weights must be computed here, before
  TRL shuffles the batch into micro-batches that no longer hold whole groups; anything that later selects or
  concatenates rows of the batch must carry ``maxent_weights`` along like ``advantages``.
* ``policy_loss``: the objective's ``policy_loss``: ``grpo`` runs TRL's loss unchanged (``trl_policy_loss``);
  ``maxent`` runs :func:`rlvr.objectives.maxent.maxent_loss` on the same per-token log-probabilities. Both feed the
  measured KL (TRL's k3 estimate, a token mean over all processes) to the KL controller's window (``record_kl``).
* ``on_optimizer_step``: the controllers update and ``beta`` / ``sampling_temperature`` (and the objective's
  ``log_step``: ``maxent/tau``) are logged. The KL coefficient is TRL's ``beta`` (read by its loss, and for whether
  to compute reference log-probabilities at all); the mixin reads and writes it through the base's ``kl_coef``, and
  every other piece of TRL it needs (group size, forward pass, KL estimate, loss normaliser, aux loss, sampling
  temperature) through the base's accessors (``rlvr.trainers.base``, "TRL state"), never TRL's attributes.
* ``state_dict_extra`` / ``load_state_dict_extra``: controller state goes into every checkpoint's
  ``rlvr_state.json`` under ``"objectives"`` and is restored on resume.

Temperatures. TRL 1.16 divides the logits by ``args.temperature`` when it computes log-probabilities, and that
value is baked into the fused LM head at ``__init__``. So the schedule changes what *sampling* uses
(``apply_sampling_temperature``: transformers ``generate``'s config and kwargs, vLLM's temperature in server and
colocate modes), while the policy that is trained and evaluated keeps ``model.generation_kwargs.temperature``
(``policy_temperature``, left unchanged). Samples drawn at another temperature are slightly off-policy for that
policy; with vLLM's importance-sampling correction the ratio ``pi(base T) / pi_vLLM(sampled T)`` corrects for
exactly that (truncated as TRL configures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch as th
from loguru import logger

from rlvr.config import ObjectiveConfig, RootConfig, TemperatureScheduleConfig
from rlvr.errors import UserError
from rlvr.objectives.controllers import EntropyController, KLController
from rlvr.objectives.maxent import maxent_loss, maxent_weights, nan_to_group_min, sequence_logps, weight_entropy
from rlvr.objectives.temperature import TemperatureSchedule
from rlvr.trainers.base import RLVRTrainer
from rlvr.trainers.extensions import Extension, ExtensionContext


# -- construction from the config --------------------------------------------------------------------------------
def make_kl_controller(cfg: ObjectiveConfig, beta: float) -> KLController:
    ctl = cfg.kl_ctl
    return KLController(beta, ctl.target, ctl.horizon, ctl.step_size)


def make_entropy_controller(cfg: ObjectiveConfig) -> EntropyController | None:
    """The entropy controller of ``objective.entropy_ctl`` (for an objective with ``has_tau``), or None when off."""
    ctl = cfg.entropy_ctl
    if not ctl.enabled:
        return None
    return EntropyController(
        tau_init=cfg.tau,
        target_entropy=ctl.target,
        tau_lr=ctl.lr,
        tau_min=ctl.tau_min,
        tau_max=ctl.tau_max,
        ema_decay=ctl.ema_decay,
        warmup_steps=ctl.warmup_steps,
    )


def make_temperature_schedule(cfg: TemperatureScheduleConfig) -> TemperatureSchedule | None:
    if not cfg.enabled:
        return None
    return TemperatureSchedule(cfg.temp_start, cfg.temp_end, cfg.anneal_steps, cfg.high_temp_period)


# -- objectives: strategies chosen by name ------------------------------------------------------------------------
class Objective:
    """A policy objective (``objective.name``): what ``ObjectivesMixin`` delegates to it. One instance per trainer,
    built with the trainer (its ``trainer``; the config is ``trainer.objective``).

    Override what the objective changes, all on the trainer's public accessors (``rlvr.trainers.base``):

    * ``after_scoring(output, training)``: add what the loss needs to the scored batch (per completion, like
      ``advantages``: computed here while the batch still holds whole groups);
    * ``policy_loss(model, inputs)`` (required): the loss of one micro-batch; feed the measured KL of the micro-batch
      to the KL controller with ``trainer.record_kl(kl)`` (training only);
    * ``log_step()``: metrics to log after each optimizer step (the objective's state).

    ``has_tau``: the objective uses the entropy coefficient ``objective.tau`` (``trainer.maxent_tau``), which the
    entropy controller (``objective.entropy_ctl``) adapts from ``trainer.record_entropy_signal(value)``.
    Register a subclass with ``@register_objective("name")``; ``objective.name=name`` then selects it.
    """

    name: ClassVar[str] = ""
    has_tau: ClassVar[bool] = False

    def __init__(self, trainer: ObjectivesMixin) -> None:
        self.trainer = trainer

    @property
    def cfg(self) -> ObjectiveConfig:
        return self.trainer.objective

    def after_scoring(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        return output

    def policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        raise NotImplementedError(f"objective {self.name!r} defines no policy_loss")

    def log_step(self) -> None:
        """After each optimizer step, once the controllers have updated."""


OBJECTIVES: dict[str, type[Objective]] = {}
ObjectiveType = TypeVar("ObjectiveType", bound=type[Objective])


def register_objective(name: str) -> Callable[[ObjectiveType], ObjectiveType]:
    """Class decorator: the :class:`Objective` that ``objective.name=<name>`` selects."""

    def add(cls: ObjectiveType) -> ObjectiveType:
        if name in OBJECTIVES and OBJECTIVES[name] is not cls:
            raise ValueError(f"objective {name!r} is already registered ({OBJECTIVES[name].__qualname__})")
        cls.name = name
        OBJECTIVES[name] = cls
        return cls

    return add


def objective_class(name: str) -> type[Objective]:
    """The registered objective ``name``; a ``UserError`` naming the registered ones otherwise."""
    if name not in OBJECTIVES:
        raise UserError(f"objective: {name!r} is not one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


@register_objective("grpo")
class GRPOObjective(Objective):
    """TRL's GRPO loss, unchanged; TRL's logged KL of the micro-batch feeds the KL controller."""

    def policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        trainer = self.trainer
        loss = trainer.trl_policy_loss(model, inputs)
        if trainer.model.training and trainer.kl_coef != 0.0 and (kl_values := trainer.metric_values("kl")):
            trainer.record_kl(kl_values[-1])  # TRL's global token mean of this micro-batch
        return loss


@register_objective("maxent")
class MaxEntObjective(Objective):
    """MaxEnt-GRPO (:mod:`rlvr.objectives.maxent`): per-completion weights from the group's weighted rewards (and
    the reference model with beta != 0) in ``after_scoring``, the sequence-level weighted likelihood loss."""

    has_tau = True

    def after_scoring(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        if self.trainer.scored_rewards is None:
            raise RuntimeError("objective=maxent: TRL scored no rewards for this batch")
        output["maxent_weights"] = self.batch_weights(output, training)
        return output

    def batch_weights(self, output: dict[str, Any], training: bool) -> th.Tensor:
        """MaxEnt weights of the whole (all-process) generation batch; returns this process's slice."""
        trainer, cfg = self.trainer, self.cfg
        mode = "train" if training else "eval"
        k = trainer.group_size(training)
        device = output["completion_ids"].device
        n_local = output["completion_ids"].size(0)
        utilities = trainer.weighted_rewards()  # NaN where unscorable: maxent uses the group minimum

        ref_seq, beta = None, trainer.kl_coef
        if beta != 0.0 and output.get("ref_per_token_logps") is not None:
            mask = output["completion_mask"]
            if output.get("tool_mask") is not None:
                mask = mask * output["tool_mask"]
            local = sequence_logps(output["ref_per_token_logps"].float(), mask, cfg.length_normalize_ref)
            ref_seq = trainer.accelerator.gather(local)
        elif beta != 0.0:
            raise RuntimeError("objective=maxent with beta != 0 needs reference log-probabilities, TRL computed none")

        utilities = utilities.to(device)
        weights = maxent_weights(
            utilities,
            ref_seq,
            None,
            k,
            q_temperature=cfg.q_temperature,
            q_epsilon=cfg.q_epsilon,
            tau=trainer.maxent_tau,
            beta=beta,
            length_normalize_ref=cfg.length_normalize_ref,
        )
        entropy = weight_entropy(weights, k)
        # Groups whose weights depend on tau: utilities (or, with beta != 0, reference terms) not all equal. The rest
        # are uniform whatever tau is and would only bias the controller's signal.
        u = nan_to_group_min(utilities.reshape(-1, k))  # as maxent_weights sees them
        informative = ~(u == u[:, :1]).all(dim=1)
        if ref_seq is not None:
            r = ref_seq.reshape(-1, k)
            informative |= ~th.isclose(r, r[:, :1]).all(dim=1)
        trainer.log_metric("maxent/weight_entropy", entropy.mean().item(), mode)
        trainer.log_metric("maxent/weight_max", weights.reshape(-1, k).amax(dim=1).mean().item(), mode)
        trainer.log_metric("maxent/informative_groups", informative.float().mean().item(), mode)
        if informative.any():
            signal = entropy[informative].mean().item()
            trainer.log_metric("maxent/weight_entropy_informative", signal, mode)
            if training:
                trainer.record_entropy_signal(signal)
        rank = trainer.accelerator.process_index
        return weights[rank * n_local : (rank + 1) * n_local].to(device)

    def policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        if "maxent_weights" not in inputs:
            raise RuntimeError("objective=maxent: the batch carries no maxent_weights (see rlvr.objectives.mixin)")
        trainer = self.trainer
        mode = "train" if trainer.model.training else "eval"
        completion_mask = inputs["completion_mask"]
        mask = completion_mask if inputs.get("tool_mask") is None else completion_mask * inputs["tool_mask"]
        per_token_logps, entropies, aux_loss = trainer.policy_logps(model, inputs, compute_entropy=True)
        per_token_kl = None
        if trainer.kl_coef != 0.0:
            per_token_kl = trainer.kl_per_token(inputs["ref_per_token_logps"], per_token_logps)
        clip = self.cfg.clip
        old = inputs.get("old_per_token_logps")
        loss, parts = maxent_loss(
            per_token_logps,
            mask,
            inputs["maxent_weights"],
            trainer.group_size(mode == "train"),
            beta=trainer.kl_coef,
            per_token_kl=per_token_kl,
            old_per_token_logps=(per_token_logps.detach() if old is None else old) if clip else None,
            clip_eps=float(trainer.args.epsilon) if clip else None,
        )
        normaliser = trainer.loss_normaliser(mode == "train")  # TRL scales its own loss the same way
        loss = loss / normaliser
        if (aux := trainer.aux_loss_term(aux_loss, normaliser)) is not None:
            loss = loss + aux
            trainer.log_metric("aux_loss", trainer.accelerator.gather_for_metrics(aux_loss).mean().item(), mode)

        fmask = mask.float()
        trainer.log_metric("entropy", self.global_masked_mean(entropies, fmask), mode)
        trainer.log_metric("maxent/nll", trainer.accelerator.gather(parts["nll"]).mean().item(), mode)
        if per_token_kl is not None:
            kl = self.global_masked_mean(per_token_kl.detach(), fmask)
            trainer.log_metric("kl", kl, mode)
            if mode == "train":
                trainer.record_kl(kl)
        if "clip_loss" in parts:
            trainer.log_metric("maxent/clip_loss", trainer.accelerator.gather(parts["clip_loss"]).mean().item(), mode)
            trainer.log_metric("maxent/clip_ratio", trainer.accelerator.gather(parts["clip_ratio"]).mean().item(), mode)
        return loss

    def global_masked_mean(self, x: th.Tensor, mask: th.Tensor) -> float:
        totals = self.trainer.accelerator.reduce(th.stack([(x * mask).sum(), mask.sum().float()]), reduction="sum")
        return (totals[0] / totals[1].clamp(min=1.0)).item()

    def log_step(self) -> None:
        trainer = self.trainer
        trainer.log_metric("maxent/tau", trainer.maxent_tau)
        if trainer.entropy_ctl is not None and trainer.entropy_ctl.ema is not None:
            trainer.log_metric("maxent/weight_entropy_ema", trainer.entropy_ctl.ema)


# -- the mixin ----------------------------------------------------------------------------------------------------
class ObjectivesMixin(RLVRTrainer):
    """The objective (an :class:`Objective` chosen by ``objective.name``), the KL / entropy controllers and the
    temperature schedule, on :class:`RLVRTrainer`'s hooks."""

    def __init__(self, *args: Any, objective: ObjectiveConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = objective or ObjectiveConfig()
        cfg.check_with(self.group_size(True), self.kl_coef)
        self.objective = cfg
        self.objective_strategy = objective_class(cfg.name)(self)
        self.kl_ctl = make_kl_controller(cfg, self.kl_coef)
        self.entropy_ctl = make_entropy_controller(cfg) if self.objective_strategy.has_tau else None
        self.temperature_schedule = make_temperature_schedule(cfg.temperature_schedule)
        self.maxent_tau = float(cfg.tau)
        self.sampling_temperature = self.policy_temperature  # what the last generation sampled at
        self.initial_beta = self.kl_coef
        self.kl_window: list[float] = []  # KL of each micro-batch since the last optimizer step
        self.entropy_signal: float | None = None  # controller input from the latest training generation
        logger.info(
            f"objective={cfg.name} beta={self.kl_coef:g}"
            + (f" tau={self.maxent_tau:g}" if self.objective_strategy.has_tau else "")
            + (f" KL controller target={cfg.kl_ctl.target:g}" if self.kl_ctl.enabled else "")
            + (f" entropy controller target={cfg.entropy_ctl.target:g}" if self.entropy_ctl else "")
            + (f" {self.temperature_schedule!r}" if self.temperature_schedule else "")
        )

    # -- what objectives report to the controllers --------------------------------------------------------------
    def record_kl(self, kl: float) -> None:
        """The measured KL of one training micro-batch (a token mean over all processes): the KL controller's input
        at the next optimizer step (the mean of the step's micro-batches)."""
        self.kl_window.append(float(kl))

    def record_entropy_signal(self, value: float) -> None:
        """The entropy controller's input from the latest training generation (objectives with ``has_tau``)."""
        self.entropy_signal = value

    def trl_policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        """TRL's GRPO loss of one micro-batch (the base's ``policy_loss``)."""
        return super().policy_loss(model, inputs)

    # -- sampling temperature -----------------------------------------------------------------------------------
    def set_sampling_temperature(self, temperature: float) -> None:
        """Make the next generation sample at ``temperature`` (transformers generate and vLLM)."""
        self.sampling_temperature = float(temperature)
        self.apply_sampling_temperature(self.sampling_temperature)

    # -- generation and scoring hooks ---------------------------------------------------------------------------
    def prepare_generation_batch(self, inputs: list[dict[str, Any]], training: bool) -> list[dict[str, Any]]:
        if self.temperature_schedule is not None:
            t = self.temperature_schedule.at(self.state.global_step) if training else self.policy_temperature
            self.set_sampling_temperature(t)
        return super().prepare_generation_batch(inputs, training)

    def after_scoring(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        output = super().after_scoring(output, training)
        return self.objective_strategy.after_scoring(output, training)

    # -- loss ---------------------------------------------------------------------------------------------------
    def policy_loss(self, model: th.nn.Module, inputs: dict[str, Any]) -> th.Tensor:
        return self.objective_strategy.policy_loss(model, inputs)

    # -- controllers: once per optimizer step -------------------------------------------------------------------
    def on_optimizer_step(self) -> None:
        """Update beta and tau after an optimizer step and log the state the next step starts from."""
        super().on_optimizer_step()
        if self.kl_window:
            kl = sum(self.kl_window) / len(self.kl_window)
            self.kl_window.clear()
            if self.kl_ctl.enabled:
                self.log_metric("kl_ctl/kl", kl)  # the value the controller saw
                self.kl_coef = self.kl_ctl.update(kl)
        if self.entropy_ctl is not None and self.entropy_signal is not None:
            self.maxent_tau = self.entropy_ctl.update(self.entropy_signal, step=self.state.global_step)
            self.entropy_signal = None
        self.log_metric("beta", self.kl_coef)
        self.objective_strategy.log_step()
        if self.temperature_schedule is not None:
            self.log_metric("sampling_temperature", self.sampling_temperature)

    # -- checkpoints --------------------------------------------------------------------------------------------
    def state_dict_extra(self) -> dict[str, Any]:
        state = super().state_dict_extra()
        state["objectives"] = {
            "objective": self.objective.name,
            "beta": self.kl_coef,
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
            if self.kl_ctl.beta != 0.0 and self.initial_beta == 0.0:  # TRL loaded no reference model
                raise ValueError("cannot resume a KL-controlled beta > 0 in a run started with beta = 0")
            self.kl_coef = self.kl_ctl.beta
        if self.entropy_ctl is not None and saved.get("entropy_ctl") is not None:
            self.entropy_ctl.load_state_dict(saved["entropy_ctl"])
            self.maxent_tau = self.entropy_ctl.tau
        logger.info(f"restored objectives state: beta={self.kl_coef:.6g} tau={self.maxent_tau:.6g}")

    def summary_extra(self) -> dict[str, Any]:
        summary = super().summary_extra()
        summary["objectives"] = {
            "objective": self.objective.name,
            "beta": self.kl_coef,
            "tau": self.maxent_tau if self.objective_strategy.has_tau else None,
            "sampling_temperature": self.sampling_temperature,
        }
        return summary


# -- the extension record (rlvr.trainers.assembled: in every trainer, last before the base) -------------------------
def always(cfg: RootConfig) -> bool:
    return True


def objectives_kwargs(ctx: ExtensionContext) -> dict[str, Any]:
    return {"objective": ctx.cfg.objective}


EXTENSION = Extension("objectives", ObjectivesMixin, always, objectives_kwargs)
