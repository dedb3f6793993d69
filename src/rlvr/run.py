"""The one orchestration place: ``build(cfg)`` -> trainer, ``prepare`` -> session, ``train`` -> summary.

``run(cfg, run_dir)`` is ``train(prepare(cfg, run_dir))``: ``exp/grpo_train.py`` calls it, and the Python API
(``rlvr.api``) calls ``prepare`` and ``train`` themselves, so there is one path. The composed config is converted once into
typed dataclasses (``rlvr.config.to_typed``, which validates every value) before anything heavy happens; every
function below takes those dataclasses. Everything a run writes lands in its run directory: the composed config
(``.hydra/``), ``train.log``, ``metrics.jsonl``, ``summary.json``, checkpoints and the final ``model/``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset
from loguru import logger
from omegaconf import DictConfig
from transformers import PrinterCallback, ProgressCallback

from rlvr import preemption
from rlvr.callbacks import EvalAtStart, EvalOnSave, EvalOnSaveSlurm, MetricsJsonl, PeriodicEval, TokenBudget
from rlvr.checkpoints import (
    check_checkpoint_dir,
    check_new_run_dir,
    find_last_checkpoint,
    finished_summary,
    resolve_resume,
    resume_auto,
    resume_requested,
)
from rlvr.config import RootConfig, to_typed
from rlvr.config.evaluation import eval_dataset_config
from rlvr.console import ProgressLine, quiet_library_progress, setup_console
from rlvr.credentials import (
    protect_config_secrets,
    redact_config,
    redact_overrides,
    redacting_filter,
    secret_values,
)
from rlvr.data.loading import load_datasets
from rlvr.data.prompts import filter_long_prompts, filter_prompts_by_length
from rlvr.errors import UserError
from rlvr.evaluation.heldout import HeldOutSpec, evaluate_held_out
from rlvr.evaluation.scoring import EvalResult, correctness_scorer
from rlvr.models import load_model_and_tokenizer, lora_config, upcast_trainable
from rlvr.objectives.mixin import objective_class
from rlvr.registry.rewards import check_rewards_serve
from rlvr.reporting import end_banner, format_config, model_card, start_banner
from rlvr.revisions import RevisionPusher
from rlvr.rewards import build_rewards
from rlvr.run_dir import environment_info, git_commit, is_main_process, link_slurm_logs, submitit_log_dir
from rlvr.seeding import seed_everything
from rlvr.tracking import close_wandb, current_sweep_run, log_to_wandb, setup_wandb, wandb_location
from rlvr.trainers import RLVRTrainer
from rlvr.trainers.args import grpo_args
from rlvr.trainers.assembled import compose, enabled_extensions, extension_kwargs
from rlvr.trainers.extensions import ExtensionContext
from rlvr.vocab import lora_trainable_settings
from rlvr.vocab.setup import prepare_reasoning_vocab

EVAL_BEFORE_FILE = "eval_before.json"  # the first run's "before" evaluation, reused on resume


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
    objective_class(cfg.objective.name)  # an unknown objective: one line naming the registered ones, before any load
    if cfg.training.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UserError("training.use_vllm=true needs vLLM, which is not installed: run `uv sync --extra vllm`")
    seed_everything(cfg.seed)
    reward_funcs, reward_weights = build_rewards(cfg.rewards.funcs)
    eval_score = correctness_scorer(cfg.rewards, cfg.eval.reward)  # each row: the correctness reward of its task
    train_ds, held_out = load_datasets(cfg.dataset, cfg.seed)
    if len(train_ds) == 0:
        raise UserError(f"dataset {cfg.dataset.name}: no usable training rows")
    check_rewards_serve(reward_funcs, set(train_ds["task"]) if "task" in train_ds.column_names else {None},
                        cfg.dataset.name)  # fmt: skip
    cache_dir = os.environ.get("RLVR_CACHE_DIR") or cfg.paths.cache_dir
    model, tokenizer, model_path = load_model_and_tokenizer(cfg.model, cache_dir)
    train_ds, held_out = filter_prompts_by_length(train_ds, held_out, tokenizer, cfg.dataset.max_prompt_length)
    if (other := eval_dataset_config(cfg.eval)) is not None:  # eval.dataset: evaluate on another dataset's split
        held_out = load_datasets(other, cfg.seed)[1]
        if other.max_prompt_length is not None:
            held_out = filter_long_prompts(held_out, tokenizer, other.max_prompt_length, "held-out")
        if len(held_out) == 0:
            raise UserError(f"eval.dataset={cfg.eval.dataset}: no held-out rows to evaluate (its eval_size?)")
    token_map = prepare_reasoning_vocab(cfg.model, model, tokenizer, model_path, run_dir, is_main_process())
    args = grpo_args(cfg, run_dir, reward_weights)
    prompts = args.generation_batch_size // args.num_generations
    if len(train_ds) < prompts:  # TRL's sampler would yield no batch: the run would "finish" having trained nothing
        raise UserError(
            f"dataset {cfg.dataset.name}: {len(train_ds)} training rows, but one generation batch takes {prompts} "
            f"prompts ({args.generation_batch_size} completions / training.num_generations={args.num_generations}, "
            f"{args.world_size} process(es)): add rows or lower training.per_device_train_batch_size"
        )
    resume_from = resolve_resume(cfg.training.resume_from_checkpoint, run_dir)
    extensions = enabled_extensions(cfg)  # each enabled extension builds its own constructor arguments
    ctx = ExtensionContext(
        cfg, train_ds, run_dir, model=model, tokenizer=tokenizer, token_map=token_map,
        load_train_rows=lambda dataset: load_datasets(dataset, cfg.seed)[0].to_list(),
    )  # fmt: skip
    trainer = compose(extensions)(
        **extension_kwargs(extensions, ctx),
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=lora_config(cfg.model, lora_trainable_settings(model, token_map) if token_map else None),
        callbacks=[MetricsJsonl(run_dir / "metrics.jsonl"), preemption.PreemptionCallback()],
    )
    upcast_trainable(trainer.model, trainer.args)  # TRL casts QLoRA adapters to bf16; keep trainable weights fp32
    return Built(cfg, trainer, held_out, eval_score, resume_from, model_path)


def evaluate(built: Built, label: str) -> EvalResult:
    """Held-out greedy accuracy of the trainer's current policy: a collective, call it on every rank."""
    cfg = built.cfg
    rows = built.held_out
    if cfg.eval.max_samples is not None:
        rows = rows.select(range(min(cfg.eval.max_samples, len(rows))))
    spec = HeldOutSpec(
        max_new_tokens=cfg.eval.max_new_tokens or cfg.model.generation_kwargs.max_new_tokens,
        batch_size=cfg.eval.batch_size,
        success_threshold=cfg.eval.success_threshold,
        group_column=(eval_dataset_config(cfg.eval) or cfg.dataset).group_column,
    )
    result = evaluate_held_out(built.trainer, rows.to_list(), built.eval_score, spec)
    logger.info(f"held-out greedy accuracy {label}: {result.accuracy:.3f} on {result.n} prompts ({result.seconds} s)")
    if result.per_group:
        logger.info(f"  by {spec.group_column}: {result.per_group}")
    if len(result.per_task) > 1 and cfg.dataset.group_column != "task":
        logger.info(f"  by task: {result.per_task}")
    if result.unscored:
        logger.warning(f"  {result.unscored} held-out rows could not be scored (no correctness reward applies)")
    return result


def hydra_overrides() -> list[str]:
    """The command-line overrides of the current Hydra job ([] outside one)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except (ImportError, ValueError):
        return []


def evaluate_before(built: Built, run_dir: Path) -> EvalResult | None:
    """The "before" evaluation (run when training starts, every rank); a resumed run reads the first run's record
    instead of evaluating the checkpoint it resumes from."""
    cfg = built.cfg
    if not (cfg.eval.enabled and cfg.eval.before):
        return None
    record = run_dir / EVAL_BEFORE_FILE
    if built.resume_from:
        if not record.exists():
            logger.info(f"no {record} from the first run: no 'before' evaluation for a resumed run")
            return None
        result = EvalResult(**json.loads(record.read_text()))
        logger.info(f"held-out greedy accuracy before: {result.accuracy:.3f} (from {record}, the first run's record)")
        return result
    result = evaluate(built, "before")
    if is_main_process():
        record.write_text(json.dumps(asdict(result), indent=2))
    return result


def use_progress_line(trainer: RLVRTrainer, cfg: RootConfig) -> None:
    """Replace transformers' progress bar / printer with the one progress line of rlvr.console."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    completions = cfg.training.per_device_train_batch_size * trainer.accelerator.num_processes
    trainer.add_callback(ProgressLine(cfg.logging.progress_every, completions))


@dataclass
class Session:
    """A prepared run: everything built, nothing trained (``prepare``); ``train`` trains it.

    While a session is open it holds the run's console settings, the ``train.log`` sink, the preemption handlers
    and (with ``logging=wandb``) the wandb setup; ``train`` closes it, and so do ``close()`` and ``with session:``.
    """

    cfg: RootConfig
    run_dir: Path
    built: Built
    overrides: list[str]
    start_time: float
    _closers: list[Any] = field(default_factory=list, repr=False)
    result: dict[str, Any] | None = None

    @property
    def trainer(self) -> RLVRTrainer:
        return self.built.trainer

    @property
    def model(self) -> Any:
        """The policy being trained (a ``peft.PeftModel`` with LoRA), unwrapped from accelerate."""
        return self.trainer.accelerator.unwrap_model(self.trainer.model)

    @property
    def tokenizer(self) -> Any:
        return self.trainer.processing_class

    @property
    def train_dataset(self) -> Dataset:
        return self.trainer.train_dataset

    @property
    def held_out(self) -> Dataset:
        return self.built.held_out

    @property
    def closed(self) -> bool:
        return not self._closers

    def close(self) -> None:
        """Close wandb, detach ``train.log``, restore the console (idempotent)."""
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(
    cfg: RootConfig | DictConfig,
    run_dir: str | Path,
    raw: DictConfig | None = None,
    overrides: list[str] | None = None,
) -> Session:
    """Build a run (model, tokenizer, data, rewards, trainer and its callbacks) without training it.

    ``raw`` is the composed config before conversion (for ``print_config``); a ``DictConfig`` ``cfg`` serves too.
    ``overrides`` (default: the current Hydra job's) are recorded in the banner, the summary and the model card,
    with secret values masked (``rlvr.credentials``).
    """
    raw = raw if raw is not None else (cfg if isinstance(cfg, DictConfig) else None)
    cfg = to_typed(cfg)  # validated before anything heavy happens
    protect_config_secrets(cfg)  # training.hub_token: real value to GRPOConfig only, masked in everything written
    run_dir = Path(run_dir)
    resume = cfg.training.resume_from_checkpoint
    check_new_run_dir(run_dir, resume)  # never a second run into another run's directory
    if resume_requested(resume) and not resume_auto(resume):
        check_checkpoint_dir(resume)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"run directory {run_dir}: cannot create it ({err.strerror or err})") from None
    start = time.time()
    main = is_main_process()
    closers: list[Any] = [setup_console(cfg.logging.console == "verbose", main)]
    if main:
        sink = logger.add(run_dir / "train.log", level="INFO", filter=redacting_filter(secret_values(cfg)))
        closers.append(lambda: logger.remove(sink))
        link_slurm_logs(run_dir)  # a submitit (hydra/launcher=slurm) job: <run_dir>/slurm_logs -> its .submitit/ logs
    closers.append(close_wandb)
    quiet_library_progress()
    preemption.start(run_dir, main)  # SIGUSR1/SIGUSR2/SIGTERM or $RLVR_PREEMPT_FILE: stop at a step end
    overrides = redact_overrides(hydra_overrides() if overrides is None else overrides)
    session: Session | None = None
    try:
        if raw is not None and main and (text := format_config(redact_config(raw), cfg.print_config)):
            logger.info(text)
        setup_wandb(cfg.logging, run_dir, cfg.tags, current_sweep_run(cfg.seed, cfg.logging.group))
        built = build(cfg, run_dir)
        session = Session(cfg, run_dir, built, overrides, start, closers)
        trainer = built.trainer
        device, processes = str(trainer.accelerator.device), trainer.accelerator.num_processes
        logger.info(
            start_banner(
                cfg,
                run_dir=run_dir,
                model_path=built.model_path,
                n_params=sum(p.numel() for p in session.model.parameters()),
                n_train=len(trainer.train_dataset),
                n_held_out=len(built.held_out),
                overrides=overrides,
                device=device,
                processes=processes,
                resumed_from=built.resume_from,
            )
        )
        use_progress_line(trainer, cfg)
        trainer.add_callback(
            PeriodicEval(
                cfg.eval.every_steps,
                lambda label: evaluate(built, label),
                lambda: trainer.generated_tokens,
                run_dir / "metrics.jsonl",
            )
        )
        if cfg.callbacks.max_generated_tokens is not None:
            trainer.add_callback(TokenBudget(cfg.callbacks.max_generated_tokens, lambda: trainer.generated_tokens))
        if cfg.callbacks.push_revisions:
            token = cfg.training.hub_token or os.environ.get("HF_TOKEN")
            trainer.add_callback(RevisionPusher(cfg.training.hub_model_id, cfg.exp_name, run_dir, token))
        if cfg.callbacks.eval_on_save == "inline":
            trainer.add_callback(EvalOnSave(lambda label: evaluate(built, label), run_dir, log_to_wandb))
        elif cfg.callbacks.eval_on_save == "slurm":
            c = cfg.callbacks
            trainer.add_callback(
                EvalOnSaveSlurm(run_dir, cfg.exp_name, list(c.eval_sbatch_args), list(c.eval_overrides), log_to_wandb)
            )
        return session
    except BaseException:
        while closers:
            closers.pop()()
        raise


def push_summary(trainer: RLVRTrainer) -> dict[str, Any]:
    """``{"revisions": ...}`` once the background pushes (``callbacks.push_revisions``) are done, and
    ``{"eval_on_save": ...}`` for ``callbacks.eval_on_save=slurm`` (what was submitted and gathered so far)."""
    pusher = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, RevisionPusher)), None)
    out: dict[str, Any] = {"revisions": pusher.finish()} if pusher is not None else {}
    slurm = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, EvalOnSaveSlurm)), None)
    if slurm is not None:
        from rlvr.evaluation.on_save import status

        out["eval_on_save"] = status(slurm.run_dir)  # jobs submitted, results gathered, jobs still pending
    return out


def train(session: Session) -> dict[str, Any]:
    """Train a prepared session, evaluate, save ``model/``, the model card and ``summary.json``; returns the summary.

    Closes the session (wandb, ``train.log``, console) whatever happens. Raises ``rlvr.preemption.Preempted`` when
    training stopped on a preemption request (a checkpoint is written; no evaluation, no summary).
    """
    if session.closed:
        raise UserError("this session is closed (trained already?): prepare a new one")
    cfg, run_dir, built, overrides = session.cfg, session.run_dir, session.built, session.overrides
    trainer = built.trainer
    main = is_main_process()
    try:
        at_start = EvalAtStart(lambda: evaluate_before(built, run_dir))
        trainer.add_callback(at_start)
        train_out = trainer.train(resume_from_checkpoint=built.resume_from)
        before = at_start.result
        preemption.raise_if_stopped(trainer, run_dir, main)  # checkpoint saved: skip eval/summary
        after = evaluate(built, "after") if cfg.eval.enabled and cfg.eval.after else None
        device, processes = str(trainer.accelerator.device), trainer.accelerator.num_processes
        summary: dict[str, Any] = {
            "exp_name": cfg.exp_name,
            "seed": cfg.seed,
            "tags": list(cfg.tags),
            "model": built.model_path,
            "dataset": cfg.dataset.name,
            "eval_dataset": cfg.eval.dataset or cfg.dataset.name,
            "accuracy_before": before.accuracy if before else None,
            "accuracy_after": after.accuracy if after else None,
            "eval_before": asdict(before) if before else None,
            "eval_after": asdict(after) if after else None,
            "steps": trainer.state.global_step,
            "generated_tokens": trainer.generated_tokens,
            "train_loss": train_out.training_loss,
            "wall_seconds": round(time.time() - session.start_time, 1),
            "resumed_from": built.resume_from,
            **trainer.summary_extra(),
            **push_summary(trainer),
            "git_commit": git_commit(),
            "environment": environment_info(device, processes),
            "overrides": overrides,
            "run_dir": str(run_dir),
            "slurm_logs": str(logs) if (logs := submitit_log_dir()) else None,
        }
        trainer.save_model(str(run_dir / "model"))
        if main:
            trainer.processing_class.save_pretrained(str(run_dir / "model"))
            trainer.save_model_files(run_dir / "model")  # the extensions' files a reload needs (a token map)
            card = model_card(cfg, built.model_path, summary, overrides)
            for where in (run_dir / "model", run_dir):  # TRL's own card names no base model
                (where / "README.md").write_text(card)
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            last = find_last_checkpoint(run_dir)
            logger.info(end_banner(summary, run_dir, str(last) if last else None, wandb_location(run_dir)))
        session.result = summary
        return summary
    finally:
        session.close()


def run(cfg: RootConfig | DictConfig, run_dir: str | Path, raw: DictConfig | None = None) -> dict[str, Any]:
    """Train and evaluate one configuration (``prepare`` then ``train``); returns (and writes) the run summary.

    ``raw`` is the composed config before conversion (for ``print_config``); a ``DictConfig`` ``cfg`` serves too.
    A resume of a run that finished (its last checkpoint at ``max_steps``, summarised, ``model/`` saved: what a
    requeued job that had already ended finds) does nothing and returns the run's summary. A run that trained to
    ``max_steps`` but was stopped before its summary resumes without training (``RLVRTrainer.train``) and writes
    what is missing.
    """
    typed = to_typed(cfg)
    resume = typed.training.resume_from_checkpoint
    if resume_requested(resume):
        checkpoint = find_last_checkpoint(Path(run_dir)) if resume_auto(resume) else resume
        done = finished_summary(Path(run_dir), checkpoint, int(typed.training.max_steps or 0))
        if done is not None:
            logger.info(f"{run_dir}: the run finished at step {done['steps']} (summary.json, model/): nothing to do")
            return done
    return train(prepare(cfg, run_dir, raw=raw))
