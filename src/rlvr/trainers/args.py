"""``GRPOConfig`` for a run: the ``training`` group (TRL's fields by name) plus the fields rlvr manages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from trl import GRPOConfig

from rlvr.config import RootConfig
from rlvr.config.model import as_mapping, check_training_overlap
from rlvr.errors import UserError
from rlvr.models import reference_init_kwargs
from rlvr.tracking import wandb_run_name

# model.generation_kwargs key -> GRPOConfig field (generation_kwargs is their single source).
GENERATION_FIELDS = {
    "max_new_tokens": "max_completion_length",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
}


def grpo_args(cfg: RootConfig, run_dir: Path, reward_weights: list[float]) -> GRPOConfig:
    """GRPOConfig from ``cfg.training`` (fields that differ from TRL's defaults) + generation kwargs + managed fields.

    ``training.resume_from_checkpoint`` is left out: ``rlvr.checkpoints.resolve_resume`` interprets it.
    ``model.model_kwargs`` reaches TRL too: ``trust_remote_code`` (tokenizer, vLLM, reference model) and, when TRL
    builds a reference model (beta != 0, no LoRA), ``model_init_kwargs`` (storage dtype, trust_remote_code,
    attn_implementation); other ``training.model_init_kwargs`` keys are kept.
    """
    check_training_overlap(cfg.training, cfg.model)  # also at compose time (RootConfig.__post_init__)
    train = {f.name: getattr(cfg.training, f.name) for f in dataclasses.fields(cfg.training)}
    train.pop("resume_from_checkpoint", None)
    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    kwargs = {k: v for k, v in train.items() if v != defaults.get(k)}
    gen = cfg.model.generation_kwargs
    for src, dst in GENERATION_FIELDS.items():
        kwargs[dst] = getattr(gen, src)
    kwargs["trust_remote_code"] = cfg.model.model_kwargs.trust_remote_code
    init = as_mapping(cfg.training.model_init_kwargs, "training.model_init_kwargs")
    if (cfg.training.beta or 0.0) != 0.0 and not cfg.model.lora.enabled:  # TRL builds a reference model
        init.update(reference_init_kwargs(cfg.model))  # owned keys: check_training_overlap keeps them disjoint
    kwargs["model_init_kwargs"] = init or None
    kwargs.update(
        output_dir=str(run_dir),
        report_to=["wandb"] if cfg.logging.backend == "wandb" else [],
        run_name=wandb_run_name(cfg.exp_name),  # a sweep job's wandb name (rlvr.tracking.setup_wandb)
        seed=cfg.seed,
        reward_weights=reward_weights,
        logging_steps=cfg.logging.logging_steps,
    )
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as err:
        raise UserError(f"training: {str(err).strip().splitlines()[0]}") from None
