"""The one orchestration place: ``build(cfg)`` -> trainer, ``run(cfg)`` -> summary.

``exp/grpo_train.py`` composes the Hydra config and calls ``run``. Everything a run writes
lands in its run directory: the composed config (``.hydra/``), ``train.log``,
``metrics.jsonl``, ``summary.json``, checkpoints and the final ``model/``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from datasets import Dataset
from loguru import logger
from omegaconf import DictConfig, OmegaConf
from transformers import TrainerCallback
from trl import GRPOConfig

from rlvr import preemption
from rlvr.config import OBJECTIVE_KEYS, ObjectivesConfig
from rlvr.data.loading import load_datasets
from rlvr.data.prompts import filter_prompts_by_length
from rlvr.errors import UserError
from rlvr.evaluate import EvalResult, evaluate_accuracy
from rlvr.models import load_model_and_tokenizer, lora_config
from rlvr.objectives.mixin import objectives_from_training, validate_objectives
from rlvr.replay.trainer import ReplayGRPOTrainer, validate_replay
from rlvr.rewards import build_reward, build_rewards
from rlvr.trainer import RLVRGRPOTrainer


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    th.manual_seed(seed)


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD of the repository that holds the code, with ``-dirty`` when it has local changes."""
    where = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def find_last_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint with the highest step in ``run_dir`` that finished writing, or None."""
    done = [
        p
        for p in run_dir.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


class MetricsJsonl(TrainerCallback):
    """Appends every log event of the trainer as one JSON line (main process only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if logs is None or not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3)}
        record.update({k: v for k, v in logs.items() if isinstance(v, int | float | str | bool) or v is None})
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


GENERATION_FIELDS = {
    "max_new_tokens": "max_completion_length",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
}


def pop_objective_keys(train: dict[str, Any]) -> None:
    """Remove the rlvr-only keys (``rlvr.config.ObjectivesConfig``) from a ``training`` dict before it becomes a
    GRPOConfig. ``init_kl_coeff`` becomes ``beta``: TRL loads the reference model only when beta != 0."""
    init_kl_coeff = train.get("init_kl_coeff")
    for key in OBJECTIVE_KEYS:
        train.pop(key, None)
    if init_kl_coeff is not None:
        if train.get("beta", 0.0) not in (0.0, init_kl_coeff):
            raise UserError(
                f"training.beta={train['beta']} and training.init_kl_coeff={init_kl_coeff}: "
                "init_kl_coeff is the initial beta, set only one of them"
            )
        train["beta"] = init_kl_coeff


def objectives_config(cfg: DictConfig) -> ObjectivesConfig:
    """The rlvr-only ``training.*`` keys (objective, maxent_*, KL controller, temperature_schedule), validated."""
    train = OmegaConf.to_container(cfg.training, resolve=True)
    objectives = objectives_from_training(train)
    beta = objectives.init_kl_coeff if objectives.init_kl_coeff is not None else (train.get("beta") or 0.0)
    try:
        validate_objectives(objectives, int(train.get("num_generations") or 8), float(beta))
    except ValueError as err:
        raise UserError(str(err)) from None
    return objectives


def grpo_args(cfg: DictConfig, run_dir: Path, reward_weights: list[float]) -> tuple[GRPOConfig, str | None]:
    """GRPOConfig from ``cfg.training`` (by field name) + generation kwargs + managed fields.

    Returns the config and the checkpoint to resume from (``None`` for a fresh start).
    """
    train = OmegaConf.to_container(cfg.training, resolve=True)
    train.pop("name", None)
    pop_objective_keys(train)  # rlvr-only keys: the trainer gets them from objectives_config()
    resume = train.pop("resume_from_checkpoint", None)
    defaults = {f: getattr(GRPOConfig, f, None) for f in train}
    kwargs = {k: v for k, v in train.items() if v != defaults.get(k)}
    gen = OmegaConf.to_container(cfg.model.generation_kwargs, resolve=True)
    for src, dst in GENERATION_FIELDS.items():
        kwargs[dst] = gen[src]
    report_to = ["wandb"] if cfg.logging.backend == "wandb" else []
    kwargs.update(
        output_dir=str(run_dir),
        report_to=report_to,
        run_name=f"{cfg.exp_name}",
        seed=cfg.seed,
        reward_weights=reward_weights,
        logging_steps=cfg.logging.logging_steps,
    )
    try:
        args = GRPOConfig(**kwargs)
    except (ValueError, TypeError) as err:
        raise UserError(f"training: {str(err).strip().splitlines()[0]}") from None
    checkpoint = None
    if resume in (None, "", False, "false", "False", "none", "None"):
        checkpoint = None
    elif str(resume) == "auto" or resume is True or str(resume).lower() == "true":
        last = find_last_checkpoint(run_dir)
        if last is None:
            logger.info(f"resume_from_checkpoint=auto: no checkpoint in {run_dir}, starting fresh")
        else:
            logger.info(f"resume_from_checkpoint=auto: resuming from {last}")
            checkpoint = str(last)
    else:
        if not Path(str(resume)).is_dir():
            raise UserError(f"training.resume_from_checkpoint: {resume} is not a checkpoint directory")
        checkpoint = str(resume)
    return args, checkpoint


def setup_wandb(cfg: DictConfig, run_dir: Path) -> None:
    if cfg.logging.backend == "none":
        return
    if cfg.logging.backend != "wandb":
        raise UserError(f"logging.backend: {cfg.logging.backend!r} is not one of none, wandb")
    os.environ.setdefault("WANDB_MODE", cfg.logging.mode)
    os.environ["WANDB_DIR"] = str(run_dir)
    os.environ["WANDB_PROJECT"] = cfg.logging.project
    if cfg.logging.entity:
        os.environ["WANDB_ENTITY"] = cfg.logging.entity
    if cfg.logging.group:
        os.environ["WANDB_RUN_GROUP"] = cfg.logging.group
    if cfg.tags:
        os.environ["WANDB_TAGS"] = ",".join(cfg.tags)


def close_wandb() -> None:
    """Always finish a wandb run so one failed job does not sink the rest of a multirun."""
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except Exception as err:  # never let logging teardown hide the real outcome
        logger.warning(f"wandb.finish failed: {err}")


@dataclass
class Built:
    trainer: RLVRGRPOTrainer
    held_out: Dataset
    eval_score: Any
    resume_from: str | None
    model_path: str


def build(cfg: DictConfig, run_dir: Path) -> Built:
    """Compose model, data, rewards and trainer from a validated config."""
    if cfg.training.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UserError("training.use_vllm=true needs vLLM, which is not installed: run `uv sync --extra vllm`")
    seed_everything(cfg.seed)
    replay_cfg = OmegaConf.to_object(cfg.replay)
    if cfg.replay.enabled:
        try:
            validate_replay(replay_cfg)
        except ValueError as err:
            raise UserError(str(err)) from None
    objectives = objectives_config(cfg)  # validated before any model loads
    reward_funcs, reward_weights = build_rewards(OmegaConf.to_container(cfg.rewards.funcs, resolve=True))
    eval_reward = cfg.eval.reward or cfg.rewards.funcs[0].name
    eval_kwargs = next((s.kwargs for s in cfg.rewards.funcs if s.name == eval_reward), {})
    eval_score = build_reward(eval_reward, OmegaConf.to_container(eval_kwargs, resolve=True))
    train_ds, held_out = load_datasets(cfg.dataset, cfg.seed)
    if len(train_ds) == 0:
        raise UserError(f"dataset {cfg.dataset.name}: no usable training rows")
    cache_dir = os.environ.get("RLVR_CACHE_DIR") or cfg.paths.cache_dir
    model, tokenizer, model_path = load_model_and_tokenizer(cfg.model, cache_dir)
    train_ds, held_out = filter_prompts_by_length(train_ds, held_out, tokenizer, cfg.dataset.max_prompt_length)
    args, resume_from = grpo_args(cfg, run_dir, reward_weights)
    trainer_cls, extra = RLVRGRPOTrainer, {}
    if cfg.replay.enabled:
        easy_rows = load_datasets(cfg.replay.easy.dataset, cfg.seed)[0].to_list() if cfg.replay.easy.enabled else None
        trainer_cls, extra = ReplayGRPOTrainer, {"replay": replay_cfg, "easy_rows": easy_rows}
    trainer = trainer_cls(
        **extra,
        objectives=objectives,
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=lora_config(cfg.model),
        callbacks=[MetricsJsonl(run_dir / "metrics.jsonl"), preemption.PreemptionCallback()],
    )
    return Built(trainer, held_out, eval_score, resume_from, model_path)


def evaluate(built: Built, cfg: DictConfig, label: str) -> EvalResult:
    rows = built.held_out
    if cfg.eval.max_samples is not None:
        rows = rows.select(range(min(cfg.eval.max_samples, len(rows))))
    model = built.trainer.accelerator.unwrap_model(built.trainer.model)
    result = evaluate_accuracy(
        model,
        built.trainer.processing_class,
        rows.to_list(),
        built.eval_score,
        max_new_tokens=cfg.eval.max_new_tokens or cfg.model.generation_kwargs.max_new_tokens,
        batch_size=cfg.eval.batch_size,
        group_column=cfg.dataset.group_column,
        success_threshold=cfg.eval.success_threshold,
    )
    logger.info(f"held-out greedy accuracy {label}: {result.accuracy:.3f} on {result.n} prompts ({result.seconds} s)")
    if result.per_group:
        logger.info(f"  by {cfg.dataset.group_column}: {result.per_group}")
    return result


class PeriodicEval(TrainerCallback):
    """Held-out greedy accuracy every ``eval.every_steps`` optimizer steps (main process), appended to
    ``metrics.jsonl`` with the generated-token count so learning curves can be drawn against compute."""

    def __init__(self, built: Built, cfg: DictConfig, path: Path) -> None:
        self.built, self.cfg, self.path = built, cfg, path

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        every = self.cfg.eval.every_steps
        if every <= 0 or state.global_step % every or not state.is_world_process_zero:
            return
        result = evaluate(self.built, self.cfg, f"at step {state.global_step}")
        record = {
            "step": state.global_step,
            "eval/accuracy": result.accuracy,
            "eval/n": result.n,
            "generated_tokens": self.built.trainer.generated_tokens,
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def run(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train and evaluate one configuration; returns (and writes) the run summary."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    sink = logger.add(run_dir / "train.log", level="INFO") if is_main_process() else None
    preemption.start(run_dir, is_main_process())  # SIGUSR1/SIGUSR2/SIGTERM or $RLVR_PREEMPT_FILE: stop at a step end
    try:
        if cfg.print_config and is_main_process():
            print(OmegaConf.to_yaml(cfg, resolve=True), flush=True)
        setup_wandb(cfg, run_dir)
        built = build(cfg, run_dir)
        built.trainer.add_callback(PeriodicEval(built, cfg, run_dir / "metrics.jsonl"))
        before = evaluate(built, cfg, "before") if cfg.eval.enabled and cfg.eval.before else None
        train_out = built.trainer.train(resume_from_checkpoint=built.resume_from)
        preemption.raise_if_stopped(built.trainer, run_dir, is_main_process())  # checkpoint saved: skip eval/summary
        after = evaluate(built, cfg, "after") if cfg.eval.enabled and cfg.eval.after else None
        trainer = built.trainer
        summary: dict[str, Any] = {
            "exp_name": cfg.exp_name,
            "seed": cfg.seed,
            "tags": list(cfg.tags),
            "model": built.model_path,
            "dataset": cfg.dataset.name,
            "accuracy_before": before.accuracy if before else None,
            "accuracy_after": after.accuracy if after else None,
            "eval_before": asdict(before) if before else None,
            "eval_after": asdict(after) if after else None,
            "steps": trainer.state.global_step,
            "generated_tokens": trainer.generated_tokens,
            "train_loss": train_out.training_loss,
            "wall_seconds": round(time.time() - start, 1),
            "resumed_from": built.resume_from,
            **trainer.summary_extra(),
            "git_commit": git_commit(),
            "run_dir": str(run_dir),
        }
        trainer.save_model(str(run_dir / "model"))
        if is_main_process():
            trainer.processing_class.save_pretrained(str(run_dir / "model"))
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            logger.info(f"summary: {run_dir / 'summary.json'}")
        return summary
    finally:
        close_wandb()
        if sink is not None:
            logger.remove(sink)
