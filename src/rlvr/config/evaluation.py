"""``eval`` keys (in conf/config.yaml): held-out greedy accuracy before, during and after training.

The sampling keys (``n_samples``, ``k_values``, ``temperature``, ``backend``) are read by ``exp/evaluate.py``
(conf/evaluate.yaml: pass@k and maj@k); training's own evaluation is greedy and ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlvr.errors import UserError


@dataclass
class EvalConfig:
    enabled: bool = True  # greedy held-out accuracy before and after training
    before: bool = True
    after: bool = True
    max_samples: int | None = None  # None: the whole held-out split
    batch_size: int = 64
    max_new_tokens: int | None = None  # None: model.generation_kwargs.max_new_tokens
    reward: str | None = None  # one reward that defines success for every row; None: each row's task correctness reward
    success_threshold: float = 1.0
    every_steps: int = 0  # > 0: also evaluate every this many steps (eval/accuracy in metrics.jsonl)
    # Evaluate on another dataset than the one trained on: a conf/dataset preset (its held-out split), with
    # dataset_overrides on top (keys of the dataset group, e.g. {eval_size: 500, path: /data/math500.parquet}).
    # null: the training dataset's held-out split.
    dataset: str | None = None
    dataset_overrides: Any = None  # a mapping, e.g. eval.dataset_overrides={eval_size:500}
    # exp/evaluate.py only (pass@k / maj@k, docs/evaluation.md):
    n_samples: int = 0  # sampled completions per problem; 0: greedy only
    k_values: list[int] = field(default_factory=list)  # k of pass@k and maj@k; []: [1, n_samples]
    temperature: float | None = None  # sampling temperature; None: model.generation_kwargs.temperature
    backend: str = "transformers"  # transformers | vllm (exp/evaluate.py only; rlvr.evaluation.vllm_backend)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"eval.batch_size must be >= 1, got {self.batch_size}")
        if self.max_samples is not None and self.max_samples < 1:
            raise UserError(f"eval.max_samples must be >= 1 or null, got {self.max_samples}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"eval.max_new_tokens must be >= 1 or null, got {self.max_new_tokens}")
        if self.every_steps < 0:
            raise UserError(f"eval.every_steps must be >= 0 (0: off), got {self.every_steps}")
        if self.n_samples < 0:
            raise UserError(f"eval.n_samples must be >= 0 (0: greedy only), got {self.n_samples}")
        if not self.k_values and self.n_samples:
            self.k_values = sorted({1, self.n_samples})
        bad = [k for k in self.k_values if not 1 <= k <= self.n_samples]
        if bad:
            raise UserError(f"eval.k_values: {bad} not in [1, eval.n_samples={self.n_samples}]")
        if self.temperature is not None and not self.temperature > 0:
            raise UserError(f"eval.temperature must be > 0 or null, got {self.temperature}")
        if self.backend not in ("transformers", "vllm"):
            raise UserError(f"eval.backend: {self.backend!r} is not one of transformers, vllm")


DATASET_PRESETS = Path(__file__).resolve().parents[3] / "conf" / "dataset"


def eval_dataset_config(ev: EvalConfig) -> Any:
    """The :class:`rlvr.config.dataset.DatasetConfig` of ``eval.dataset`` (with ``eval.dataset_overrides``), or
    None when the training dataset's held-out split is evaluated. Raises :class:`UserError` naming the key."""
    if not ev.dataset:
        if ev.dataset_overrides:
            raise UserError("eval.dataset_overrides needs eval.dataset=<preset> (the dataset they change)")
        return None
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from rlvr.config.dataset import DatasetConfig

    path = DATASET_PRESETS / f"{ev.dataset}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DATASET_PRESETS.glob("*.yaml")))
        raise UserError(f"eval.dataset: no preset {ev.dataset!r} in conf/dataset (known: {known})")
    preset = OmegaConf.load(path)
    preset.pop("defaults", None)
    extra = ev.dataset_overrides or {}
    if not isinstance(extra, dict):
        raise UserError(f"eval.dataset_overrides: expected a mapping of dataset keys, got {extra!r}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(DatasetConfig), preset, extra)
    except OmegaConfBaseException as err:
        raise UserError(f"eval.dataset_overrides: {err.msg if hasattr(err, 'msg') else err}".splitlines()[0]) from None
    return OmegaConf.to_object(merged)


EVAL_ON_SAVE = ("none", "inline", "slurm")
RUN_KEYS = ("run_dir", "checkpoints", "output_dir")  # what slurm/evaluate.sbatch passes to exp/evaluate.py


@dataclass
class CallbacksConfig:
    """``callbacks`` keys: what happens when the trainer saves a checkpoint."""

    # none | inline: evaluate every saved checkpoint in the training job (all ranks join) | slurm: submit
    # slurm/evaluate.sbatch per saved checkpoint (rlvr.evaluation.on_save; results gathered into metrics.jsonl)
    eval_on_save: str = "none"
    eval_sbatch_args: list[str] = field(default_factory=list)  # slurm: sbatch options, e.g. [--time=01:00:00]
    eval_overrides: list[str] = field(default_factory=list)  # slurm: exp/evaluate.py overrides, e.g. [eval.n_samples=8]
    push_revisions: bool = False  # push every checkpoint to training.hub_model_id at revision <exp_name>-step-<N>
    # stop training at the first optimizer step where the generated (completion) tokens, over all processes,
    # reach this budget (null: no budget; training.max_steps still applies): compare arms at equal compute
    max_generated_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.max_generated_tokens is not None and self.max_generated_tokens < 1:
            raise UserError(f"callbacks.max_generated_tokens must be >= 1 or null, got {self.max_generated_tokens}")
        if self.eval_on_save not in EVAL_ON_SAVE:
            raise UserError(f"callbacks.eval_on_save: {self.eval_on_save!r} is not one of {', '.join(EVAL_ON_SAVE)}")
        bad = [o for o in self.eval_overrides if "=" not in o or o.split("=", 1)[0].lstrip("+~") in RUN_KEYS]
        if bad:
            raise UserError(
                f"callbacks.eval_overrides: {bad[0]!r} is not an exp/evaluate.py override key=value (the job sets "
                f"{', '.join(RUN_KEYS)} itself)"
            )
