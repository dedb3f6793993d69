"""Keys that moved: an override that uses an old name gets one line naming the new one."""

from __future__ import annotations

from collections.abc import Iterable

# The objective keys lived under `training.*` (with a `maxent_` prefix) before the `objective` group existed.
MOVED_KEYS = {
    "training.objective": "objective=<grpo|maxent> (a config group)",
    "training.maxent_q_temperature": "objective.q_temperature",
    "training.maxent_q_epsilon": "objective.q_epsilon",
    "training.maxent_tau": "objective.tau",
    "training.maxent_length_normalize_ref": "objective.length_normalize_ref",
    "training.maxent_clip": "objective.clip",
    "training.maxent_target_weight_entropy": "objective.entropy_ctl.target",
    "training.maxent_tau_lr": "objective.entropy_ctl.lr",
    "training.maxent_tau_min": "objective.entropy_ctl.tau_min",
    "training.maxent_tau_max": "objective.entropy_ctl.tau_max",
    "training.maxent_tau_warmup_steps": "objective.entropy_ctl.warmup_steps",
    "training.maxent_entropy_ema_decay": "objective.entropy_ctl.ema_decay",
    "training.init_kl_coeff": "training.beta (the initial KL coefficient)",
    "training.kl_target": "objective.kl_ctl.target",
    "training.kl_horizon": "objective.kl_ctl.horizon",
    "training.kl_ctl_step_size": "objective.kl_ctl.step_size",
    "training.temperature_schedule": "objective.temperature_schedule",
    "training.name": "nothing (the training group holds GRPOConfig fields only)",
}
MOVED_OPTIONS = {"training=maxent": "objective=maxent"}


def moved_key_error(overrides: Iterable[str]) -> str | None:
    """The message for the first override that names a moved key or option, else None."""
    for override in overrides:
        text = override.lstrip("+~")
        if text in MOVED_OPTIONS:
            return f"{text} was replaced: use {MOVED_OPTIONS[text]}"
        key = text.partition("=")[0]
        for old, new in MOVED_KEYS.items():
            if key == old or key.startswith(old + "."):
                rest = key[len(old) :]
                return f"{key} was moved: use {new + rest if ' ' not in new else new}"
    return None
