"""Supervised fine-tuning on generated samples (``exp/sft_train.py``, config ``conf/sft.yaml``): rejection sampling.

``exp/generate.py generate.score=true`` writes prompts with several completions and each completion's scores;
:func:`sft_examples` keeps the completions whose score (``sft.score``: ``correctness`` or a reward name from the
rewards group) reaches ``sft.min_score`` and turns them into TRL prompt-completion rows (the loss covers the
completion only). :func:`run` trains TRL's ``SFTTrainer`` on them with the same ``model`` group as GRPO and writes a
run directory (``.hydra/``, ``train.log``, ``metrics.jsonl``, ``summary.json``, ``model/``) whose ``model/`` a GRPO run
starts from: ``exp/grpo_train.py model.name_or_path=<run_dir>/model``. With LoRA (``model.lora.enabled``) the adapter
is merged into ``model/`` so that it loads as a plain model.

This module imports no torch at import time, so a bad key fails before anything heavy loads.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

from rlvr.config import RootConfig, register_configs
from rlvr.errors import UserError


@dataclass
class SFTSettings:
    data: str | None = None  # exp/generate.py output (.jsonl or .parquet); required
    score: str = "correctness"  # which score filters: correctness, or a reward name under the rows' `scores`
    min_score: float | None = 1.0  # keep completions scoring >= this (None: keep every completion, scored or not)
    dedupe: bool = True  # drop repeated completions of the same prompt
    max_per_prompt: int | None = None  # at most this many kept completions per prompt (None: all)
    learning_rate: float = 1e-4
    num_train_epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_length: int | None = 1024  # tokens of prompt + completion; longer rows are truncated
    bf16: bool | None = None  # None: on a GPU that supports it
    extra: dict[str, Any] = field(default_factory=dict)  # any other trl.SFTConfig field, e.g. {warmup_steps: 10}

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise UserError(f"sft.learning_rate must be > 0, got {self.learning_rate}")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise UserError("sft.per_device_train_batch_size and sft.gradient_accumulation_steps must be >= 1")
        if self.max_per_prompt is not None and self.max_per_prompt < 1:
            raise UserError(f"sft.max_per_prompt must be >= 1 or null, got {self.max_per_prompt}")


@dataclass
class SFTRunConfig(RootConfig):
    sft: SFTSettings = field(default_factory=SFTSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sft.data:
            raise UserError("sft.data: give the exp/generate.py output to train on (sft.data=outputs/generate/x.jsonl)")


def register_sft_config() -> None:
    """Register the group schemas and ``sft_schema`` (the root of ``conf/sft.yaml``)."""
    register_configs()
    ConfigStore.instance().store(name="sft_schema", node=SFTRunConfig)


# ------------------------------------------------------------------------------------------------------------ data
def row_scores(row: dict[str, Any], key: str) -> list[Any] | None:
    if key == "correctness":
        return row.get("correctness")
    return (row.get("scores") or {}).get(key)


def sft_examples(rows: list[dict[str, Any]], settings: SFTSettings) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Prompt-completion rows for TRL from generated rows, filtered by score; and counts for the summary."""
    examples: list[dict[str, Any]] = []
    total = unscored = 0
    for row in rows:
        completions = list(row.get("completions") or [])
        total += len(completions)
        scores = row_scores(row, settings.score)
        if settings.min_score is not None and scores is None:
            unscored += len(completions)
            continue
        seen: set[str] = set()
        kept = 0
        for i, text in enumerate(completions):
            if settings.min_score is not None:
                s = scores[i] if i < len(scores) else None
                if s is None or float(s) < settings.min_score:
                    continue
            if settings.dedupe and text in seen:
                continue
            if settings.max_per_prompt is not None and kept >= settings.max_per_prompt:
                break
            seen.add(text)
            kept += 1
            examples.append({"prompt": list(row["prompt"]), "completion": [{"role": "assistant", "content": text}]})
    return examples, {"completions": total, "kept": len(examples), "unscored": unscored, "prompts": len(rows)}


def load_examples(settings: SFTSettings) -> tuple[list[dict[str, Any]], dict[str, int]]:
    from rlvr.datagen.writer import load_rows

    path = Path(str(settings.data)).expanduser()
    if not path.exists():
        raise UserError(f"sft.data: {path} does not exist")
    rows = load_rows(path)
    if not rows:
        raise UserError(f"sft.data: {path} holds no rows")
    examples, counts = sft_examples(rows, settings)
    if counts["unscored"] == counts["completions"]:
        raise UserError(
            f"sft.data: {path} has no `{settings.score}` scores: generate with generate.score=true, or set "
            "sft.min_score=null to keep every completion"
        )
    if not examples:
        raise UserError(
            f"sft.data: no completion of {path} reaches sft.min_score={settings.min_score} ({counts['completions']} "
            "completions): lower sft.min_score or generate more samples"
        )
    return examples, counts


# ------------------------------------------------------------------------------------------------------------- train
def run(cfg: SFTRunConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train, save ``model/`` (with tokenizer) and ``summary.json`` in ``run_dir``; returns the summary."""
    examples, counts = load_examples(cfg.sft)  # bad data fails here, before torch and TRL are imported
    from loguru import logger

    from rlvr.callbacks import MetricsJsonl
    from rlvr.credentials import redacting_filter, secret_values
    from rlvr.run_dir import git_commit
    from rlvr.seeding import seed_everything
    from rlvr.tracking import close_wandb, setup_wandb

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    sink = logger.add(run_dir / "train.log", level="INFO", filter=redacting_filter(secret_values(cfg)))
    try:
        seed_everything(cfg.seed)
        setup_wandb(cfg.logging, run_dir, cfg.tags)
        logger.info(
            f"sft: {counts['kept']} of {counts['completions']} completions kept from {counts['prompts']} prompts "
            f"({cfg.sft.score} >= {cfg.sft.min_score}) in {cfg.sft.data}"
        )
        summary = _train(cfg, run_dir, examples, MetricsJsonl(run_dir / "metrics.jsonl"))
        summary.update(
            {
                "exp_name": cfg.exp_name,
                "seed": cfg.seed,
                "tags": list(cfg.tags),
                "data": str(cfg.sft.data),
                "score": cfg.sft.score,
                "min_score": cfg.sft.min_score,
                "prompts_in_data": counts["prompts"],
                "completions_in_data": counts["completions"],
                "unscored_in_data": counts["unscored"],
                "examples": counts["kept"],
                "wall_seconds": round(time.time() - start, 1),
                "git_commit": git_commit(),
                "run_dir": str(run_dir),
                "model_dir": str(run_dir / "model"),
            }
        )
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        logger.info(f"sft: model saved to {run_dir / 'model'} (GRPO: model.name_or_path={run_dir / 'model'})")
        return summary
    finally:
        close_wandb()
        logger.remove(sink)


def _train(cfg: SFTRunConfig, run_dir: Path, examples: list[dict[str, Any]], metrics: Any) -> dict[str, Any]:
    import torch as th
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from rlvr.models import load_model_and_tokenizer, lora_config

    s = cfg.sft
    cache_dir = os.environ.get("RLVR_CACHE_DIR") or cfg.paths.cache_dir
    model, tokenizer, model_path = load_model_and_tokenizer(cfg.model, cache_dir)
    bf16 = s.bf16 if s.bf16 is not None else bool(th.cuda.is_available() and th.cuda.is_bf16_supported())
    args = SFTConfig(
        output_dir=str(run_dir),
        learning_rate=s.learning_rate,
        num_train_epochs=s.num_train_epochs,
        max_steps=s.max_steps,
        per_device_train_batch_size=s.per_device_train_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        max_length=s.max_length,
        bf16=bf16,
        logging_steps=cfg.logging.logging_steps,
        report_to="wandb" if cfg.logging.backend == "wandb" else "none",
        save_strategy="no",
        seed=cfg.seed,
        disable_tqdm=True,
        **dict(s.extra),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.model),
        callbacks=[metrics],
    )
    out = trainer.train()
    final = trainer.model
    if hasattr(final, "merge_and_unload"):  # LoRA: a plain model GRPO can load
        final = final.merge_and_unload()
    final.save_pretrained(str(run_dir / "model"))
    tokenizer.save_pretrained(str(run_dir / "model"))
    return {"model": model_path, "steps": trainer.state.global_step, "train_loss": out.training_loss}
