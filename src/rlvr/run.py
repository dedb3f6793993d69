"""The one orchestration place: ``build(cfg)`` -> trainer, ``run(cfg, run_dir)`` -> summary.

``exp/grpo_train.py`` composes the Hydra config and calls ``run``. The composed config is converted once into
typed dataclasses (``rlvr.config.to_typed``, which validates every value) before anything heavy happens; every
function below takes those dataclasses. Everything a run writes lands in its run directory: the composed config
(``.hydra/``), ``train.log``, ``metrics.jsonl``, ``summary.json``, checkpoints and the final ``model/``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from datasets import Dataset
from loguru import logger
from omegaconf import DictConfig, OmegaConf

from rlvr import preemption
from rlvr.callbacks import MetricsJsonl, PeriodicEval
from rlvr.checkpoints import resolve_resume
from rlvr.config import RootConfig, to_typed
from rlvr.data.loading import load_datasets
from rlvr.data.prompts import filter_prompts_by_length
from rlvr.errors import UserError
from rlvr.evaluate import EvalResult, evaluate_accuracy
from rlvr.models import load_model_and_tokenizer, lora_config
from rlvr.rewards import build_reward, build_rewards
from rlvr.run_dir import git_commit, is_main_process
from rlvr.tracking import close_wandb, setup_wandb
from rlvr.trainers import RLVRTrainer, trainer_class
from rlvr.trainers.args import grpo_args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    th.manual_seed(seed)


@dataclass
class Built:
    """A run ready to train: the trainer, the held-out rows and the reward that scores them."""

    cfg: RootConfig
    trainer: RLVRTrainer
    held_out: Dataset
    eval_score: Any
    resume_from: str | None
    model_path: str


def build(cfg: RootConfig | DictConfig, run_dir: Path) -> Built:
    """Compose model, data, rewards and trainer from a config (converted and validated first)."""
    cfg = to_typed(cfg)
    if cfg.training.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UserError("training.use_vllm=true needs vLLM, which is not installed: run `uv sync --extra vllm`")
    seed_everything(cfg.seed)
    reward_funcs, reward_weights = build_rewards(cfg.rewards.funcs)
    eval_reward = cfg.eval.reward or cfg.rewards.funcs[0].name
    eval_kwargs = next((s.kwargs for s in cfg.rewards.funcs if s.name == eval_reward), {})
    eval_score = build_reward(eval_reward, dict(eval_kwargs))
    train_ds, held_out = load_datasets(cfg.dataset, cfg.seed)
    if len(train_ds) == 0:
        raise UserError(f"dataset {cfg.dataset.name}: no usable training rows")
    cache_dir = os.environ.get("RLVR_CACHE_DIR") or cfg.paths.cache_dir
    model, tokenizer, model_path = load_model_and_tokenizer(cfg.model, cache_dir)
    train_ds, held_out = filter_prompts_by_length(train_ds, held_out, tokenizer, cfg.dataset.max_prompt_length)
    args = grpo_args(cfg, run_dir, reward_weights)
    resume_from = resolve_resume(cfg.training.resume_from_checkpoint, run_dir)
    extensions: dict[str, Any] = {"objective": cfg.objective}
    if cfg.replay.enabled:
        easy = cfg.replay.easy
        extensions["replay"] = cfg.replay
        extensions["easy_rows"] = load_datasets(easy.dataset, cfg.seed)[0].to_list() if easy.enabled else None
    trainer = trainer_class(cfg)(
        **extensions,
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=lora_config(cfg.model),
        callbacks=[MetricsJsonl(run_dir / "metrics.jsonl"), preemption.PreemptionCallback()],
    )
    return Built(cfg, trainer, held_out, eval_score, resume_from, model_path)


def evaluate(built: Built, label: str) -> EvalResult:
    """Held-out greedy accuracy of the trainer's current policy (main process)."""
    cfg = built.cfg
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


def run(cfg: RootConfig | DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train and evaluate one configuration; returns (and writes) the run summary."""
    if isinstance(cfg, DictConfig) and cfg.get("print_config", True) and is_main_process():
        print(OmegaConf.to_yaml(cfg, resolve=True), flush=True)
    cfg = to_typed(cfg)  # validated before anything heavy happens
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    sink = logger.add(run_dir / "train.log", level="INFO") if is_main_process() else None
    preemption.start(run_dir, is_main_process())  # SIGUSR1/SIGUSR2/SIGTERM or $RLVR_PREEMPT_FILE: stop at a step end
    try:
        setup_wandb(cfg.logging, run_dir, cfg.tags)
        built = build(cfg, run_dir)
        trainer = built.trainer
        trainer.add_callback(
            PeriodicEval(
                cfg.eval.every_steps,
                lambda label: evaluate(built, label),
                lambda: trainer.generated_tokens,
                run_dir / "metrics.jsonl",
            )
        )
        before = evaluate(built, "before") if cfg.eval.enabled and cfg.eval.before else None
        train_out = trainer.train(resume_from_checkpoint=built.resume_from)
        preemption.raise_if_stopped(trainer, run_dir, is_main_process())  # checkpoint saved: skip eval/summary
        after = evaluate(built, "after") if cfg.eval.enabled and cfg.eval.after else None
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
