"""What a person reads: the config diff, the start and end banners, and the model card of a run."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlvr.config import RootConfig


def config_diff(raw: DictConfig) -> dict[str, Any]:
    """Dotted keys whose composed value differs from the schema defaults (``rlvr.config.RootConfig``)."""
    defaults = OmegaConf.to_container(OmegaConf.structured(RootConfig), resolve=False)
    composed = OmegaConf.to_container(raw, resolve=True)
    out: dict[str, Any] = {}

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in b:
                walk(a.get(key), b[key], f"{prefix}{key}.")
        elif a != b:
            out[prefix[:-1]] = b

    walk(defaults, composed, "")
    return out


def format_config(raw: DictConfig, mode: str) -> str | None:
    """``print_config``: ``diff`` (what differs from the defaults), ``full`` (the resolved tree) or ``none``."""
    if mode == "full":
        return OmegaConf.to_yaml(raw, resolve=True)
    if mode == "diff":
        diff = config_diff(raw)
        lines = [f"  {k}: {v}" for k, v in sorted(diff.items())]
        return "config (differs from the defaults; print_config=full for all of it):\n" + "\n".join(lines)
    return None


def reward_summary(cfg: RootConfig) -> str:
    return ", ".join(f"{spec.name} x{spec.weight:g}" for spec in cfg.rewards.funcs)


def objective_summary(cfg: RootConfig) -> str:
    parts = [f"objective={cfg.objective.name}", f"beta={cfg.training.beta or 0:g}"]
    if cfg.objective.is_maxent:
        parts.append(f"tau={cfg.objective.tau:g}")
    if cfg.objective.kl_ctl.enabled:
        parts.append(f"kl_ctl.target={cfg.objective.kl_ctl.target:g}")
    parts.append(f"replay={cfg.replay.name}" + (f" (ratio {cfg.replay.ratio:g})" if cfg.replay.enabled else ""))
    return " ".join(parts)


def start_banner(
    cfg: RootConfig,
    *,
    run_dir: Path,
    model_path: str,
    n_params: int,
    n_train: int,
    n_held_out: int,
    overrides: list[str],
    device: str,
    processes: int,
    resumed_from: str | None,
) -> str:
    lines = [
        f"rlvr run {cfg.exp_name!r} (seed {cfg.seed})",
        f"  run dir    {run_dir}",
        f"  model      {cfg.model.name}: {model_path} ({n_params / 1e6:.2f}M parameters, dtype {cfg.model.model_kwargs.dtype})",
        f"  dataset    {cfg.dataset.name}: {n_train} train / {n_held_out} held-out rows",
        f"  rewards    {reward_summary(cfg)}",
        f"  training   {objective_summary(cfg)}; {cfg.training.max_steps} steps, "
        f"{cfg.training.per_device_train_batch_size} completions/device/step, {cfg.training.num_generations} per prompt",
        f"  overrides  {' '.join(overrides) if overrides else '(none)'}",
        f"  device     {device}, {processes} process{'es' if processes > 1 else ''}",
    ]
    if resumed_from:
        lines.append(f"  resumed    from {resumed_from} (step {resumed_from.rstrip('/').rsplit('-', 1)[-1]})")
    return "\n".join(lines)


def _accuracy_line(summary: dict[str, Any]) -> str:
    before, after = summary.get("accuracy_before"), summary.get("accuracy_after")
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    line = f"held-out accuracy {fmt(before)} -> {fmt(after)}"
    groups_before = (summary.get("eval_before") or {}).get("per_group") or {}
    groups_after = (summary.get("eval_after") or {}).get("per_group") or {}
    if groups_after:
        line += " (" + ", ".join(f"{g}: {fmt(groups_before.get(g))} -> {fmt(v)}" for g, v in groups_after.items()) + ")"
    return line


def end_banner(
    summary: dict[str, Any], run_dir: Path, last_checkpoint: str | None, wandb: list[tuple[str, str]] | None = None
) -> str:
    """The run's last lines: accuracy, size, where its files are; ``wandb`` adds (label, text) lines
    (``rlvr.tracking.wandb_location``: the run's URL, or its offline directory and how to sync it)."""
    lines = [
        f"rlvr run {summary['exp_name']!r} finished: {_accuracy_line(summary)}",
        f"  steps {summary['steps']}, generated tokens {summary['generated_tokens']:,}, wall {summary['wall_seconds']} s",
        f"  summary    {run_dir / 'summary.json'}",
        f"  model      {run_dir / 'model'}",
        f"  checkpoint {last_checkpoint or '(none)'}",
    ]
    lines += [f"  {label:<10} {text}" for label, text in wandb or []]
    return "\n".join(lines)


def reproduce_command(overrides: list[str]) -> str:
    return " ".join(["uv run python exp/grpo_train.py", *(shlex.quote(o) for o in overrides)])


def model_card(cfg: RootConfig, base_model: str, summary: dict[str, Any] | None, overrides: list[str]) -> str:
    """``README.md`` of ``model/``: what was trained from what, on what, with which rewards, and how to redo it."""
    lines = [
        "---",
        f"base_model: {base_model}",
        "library_name: transformers",
        "tags: [rlvr, grpo, trl]",
        "---",
        "",
        f"# {cfg.exp_name}",
        "",
        f"GRPO fine-tune of `{base_model}` with rlvr (TRL GRPOTrainer + rlvr extensions).",
        "",
        f"- dataset: `{cfg.dataset.name}`" + (f" (`{cfg.dataset.path}`)" if cfg.dataset.path else ""),
        f"- rewards: {reward_summary(cfg)}",
        f"- {objective_summary(cfg)}",
        f"- seed: {cfg.seed}",
    ]
    if summary is not None:
        lines += [
            f"- {_accuracy_line(summary)}",
            f"- steps: {summary['steps']}, generated tokens: {summary['generated_tokens']}",
        ]
    lines += ["", "Reproduce:", "", "```bash", reproduce_command(overrides), "```", ""]
    return "\n".join(lines)

