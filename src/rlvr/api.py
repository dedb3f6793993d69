"""rlvr's Python API: compose -> prepare -> train -> export -> quick test, the same path as the CLI.

```python
from rlvr import api

cfg = api.compose(["training.max_steps=10", "eval.max_samples=50"])  # the config exp/grpo_train.py composes
session = api.prepare(cfg)              # model, tokenizer, data, rewards, trainer built; nothing trained
result = api.train(session)             # the run directory the CLI writes; returns summary.json's content
out = api.export(session.run_dir, "exported", merge=True)
print(api.quick_test(out, "12+34"))
```

``prepare`` and ``train`` are :func:`rlvr.run.prepare` and :func:`rlvr.run.train`, which ``exp/grpo_train.py``
calls too (through ``rlvr.run.run``). Errors a user can cause raise :class:`rlvr.errors.UserError` with the
CLI's one-line message. Reference: ``docs/api.md``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from rlvr.config import RootConfig, to_typed
from rlvr.config.compose import compose, composed_with
from rlvr.credentials import redact_config, redact_overrides
from rlvr.errors import UserError
from rlvr.models import base_model_path, load_for_chat, resolve_model_dir

if TYPE_CHECKING:
    from rlvr.run import Session

RunResult = dict[str, Any]  # the run summary (what summary.json holds)
__all__ = ["RunResult", "Session", "compose", "export", "prepare", "quick_test", "run_full_pipeline", "train"]

# Files of a checkpoint that are training state, not the model (with every pickle and RNG state: ``is_training_state``).
TRAINING_STATE = {
    "optimizer.pt",
    "scheduler.pt",
    "training_args.bin",
    "trainer_state.json",
    "rlvr_state.json",
    "rlvr_complete.json",
    "replay_buffer.pkl",
    "README.md",
}


def is_training_state(name: str) -> bool:
    """Whether a checkpoint file is training state (optimizer, scheduler, RNG, replay buffer and prompt statistics,
    markers), which an export leaves behind: it holds the model, tokenizer, card and token map only."""
    return name in TRAINING_STATE or name.startswith("rng_state") or name.endswith(".pkl")


def __getattr__(name: str) -> Any:  # Session without importing torch at ``import rlvr.api``
    if name == "Session":
        from rlvr.run import Session

        return Session
    raise AttributeError(name)


def default_run_dir(cfg: RootConfig) -> Path:
    """``<paths.output_root>/<exp_name>/<timestamp>/``, as the CLI names a run directory (relative to the cwd)."""
    return Path(cfg.paths.output_root) / cfg.exp_name / time.strftime("%Y-%m-%d_%H-%M-%S")


def prepare(cfg: RootConfig | DictConfig, run_dir: str | Path | None = None) -> Session:
    """Build model, tokenizer, datasets, rewards and trainer for ``cfg``; train nothing.

    The returned :class:`rlvr.run.Session` exposes ``trainer``, ``model``, ``tokenizer``, ``train_dataset``,
    ``held_out``, ``cfg`` and ``run_dir``. ``run_dir`` defaults to ``outputs/<exp_name>/<timestamp>/``; the
    composed config (secrets masked) is saved to ``<run_dir>/.hydra/config.yaml`` and the overrides to
    ``.hydra/overrides.yaml``, as the CLI does. Call :func:`train` next (or ``session.close()`` to drop it).
    """
    from rlvr.preflight import check_inputs

    raw, overrides = composed_with(cfg) if isinstance(cfg, RootConfig) else (cfg, [])
    typed = to_typed(cfg)
    check_inputs(typed)  # as the CLI: reward names and local paths before torch, the run directory and its log
    from rlvr.run import prepare as run_prepare

    if raw is None:
        raw = OmegaConf.structured(typed)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(typed)
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(redact_config(raw), hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(redact_overrides(overrides)), hydra_dir / "overrides.yaml")
    return run_prepare(typed, run_dir, raw=raw, overrides=overrides)


def train(session: Session) -> RunResult:
    """Train a prepared session, evaluate it and write the run directory exactly as the CLI does
    (``summary.json``, ``metrics.jsonl``, ``train.log``, checkpoints, ``model/`` with its card); returns the summary."""
    from rlvr.run import train as run_train

    return run_train(session)


def run_full_pipeline(
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
    export_dir: str | Path | None = None,
    *,
    merge: bool = False,
) -> tuple[Session, RunResult, Path]:
    """compose -> prepare -> train -> export; returns ``(session, summary, export_dir)``.

    ``export_dir`` defaults to ``<run_dir>/export``.
    """
    session = prepare(compose(overrides), run_dir)
    result = train(session)
    out = export(session.run_dir, export_dir or session.run_dir / "export", merge=merge)
    return session, result, out


# ----------------------------------------------------------------------------------------------------- export
def _run_dir_of(model_dir: Path) -> Path | None:
    for candidate in (model_dir, model_dir.parent):
        if (candidate / ".hydra" / "config.yaml").is_file() or (candidate / "summary.json").is_file():
            return candidate
    return None


def _load_run_config(run_dir: Path | None) -> tuple[RootConfig | None, list[str]]:
    if run_dir is None or not (run_dir / ".hydra" / "config.yaml").is_file():
        return None, []
    try:
        loaded = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        cfg = to_typed(OmegaConf.merge(OmegaConf.structured(RootConfig), loaded))
    except Exception:  # an older or hand-edited config: the card is written without it
        cfg = None
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    overrides = list(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
    return cfg, [str(o) for o in overrides]


def export(run_dir_or_checkpoint: str | Path, out_dir: str | Path, *, merge: bool = False, zip: bool = False) -> Path:
    """Write a trained model where others can load it; returns ``out_dir``.

    From a run directory (its ``model/``, else its newest complete checkpoint), a checkpoint or a model directory:

    - LoRA runs: the adapter (``adapter_config.json``, ``adapter_model.safetensors``), loadable with
      ``peft.PeftModel.from_pretrained(base, out_dir)``; with ``merge=True`` the base with the adapter merged in,
      loadable with ``AutoModelForCausalLM.from_pretrained(out_dir)``.
    - Full fine-tunes: the model (``merge`` changes nothing).
    - A reasoning-vocabulary model keeps its ``reasoning_token_map.json`` (merged or not).
    - Always: the tokenizer with its chat template, and ``README.md`` (model card: the real base model, the run's
      config and summary) plus ``rlvr_config.yaml`` and ``rlvr_summary.json`` when the run has them.
    - ``zip=True``: also ``<out_dir>.zip`` next to it.

    ``out_dir`` must not exist or be empty. Raises :class:`UserError` for a path that names no model.
    """
    from rlvr.models import load_tokenizer
    from rlvr.reporting import model_card

    source = resolve_model_dir(run_dir_or_checkpoint)
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not an empty directory; choose another output directory")
    run_dir = _run_dir_of(source)
    cfg, overrides = _load_run_config(run_dir)
    summary = (
        json.loads((run_dir / "summary.json").read_text()) if run_dir and (run_dir / "summary.json").is_file() else None
    )
    lora = (source / "adapter_config.json").is_file()
    base = base_model_path(source) if lora else str((summary or {}).get("model") or "")
    out.mkdir(parents=True, exist_ok=True)
    try:
        if lora and merge:
            _merge_adapter(source, base, out)
            from rlvr.vocab.token_map import TOKEN_MAP_FILE

            if (source / TOKEN_MAP_FILE).is_file():  # a reasoning-vocabulary model: its map travels with it
                shutil.copy2(source / TOKEN_MAP_FILE, out / TOKEN_MAP_FILE)
        else:
            for item in source.iterdir():
                if item.is_file() and not is_training_state(item.name):
                    shutil.copy2(item, out / item.name)
        tokenizer_source = source if (source / "tokenizer_config.json").is_file() else Path(base)
        load_tokenizer(str(tokenizer_source)).save_pretrained(str(out))
        base_name = base or (cfg.model.name_or_path if cfg else "") or "unknown"
        kind = "merged LoRA" if lora and merge else "LoRA adapter" if lora else "full model"
        card = model_card(cfg, base_name, summary, overrides) if cfg else f"---\nbase_model: {base_name}\n---\n"
        card += _export_note(kind, base_name, source)
        (out / "README.md").write_text(card)
        if run_dir and (run_dir / ".hydra" / "config.yaml").is_file():
            shutil.copy2(run_dir / ".hydra" / "config.yaml", out / "rlvr_config.yaml")
        if summary is not None:
            (out / "rlvr_summary.json").write_text(json.dumps(summary, indent=2))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    if zip:
        archive = shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name)
        from loguru import logger

        logger.info(f"exported {kind} to {out} and {archive}")
    return out


def _export_note(kind: str, base: str, source: Path) -> str:
    if kind == "LoRA adapter":
        load = (
            "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n"
            f"base = AutoModelForCausalLM.from_pretrained({base!r})\nmodel = PeftModel.from_pretrained(base, 'THIS_DIR')"
        )
    else:
        load = (
            "from transformers import AutoModelForCausalLM\n\nmodel = AutoModelForCausalLM.from_pretrained('THIS_DIR')"
        )
    return f"\n## Export\n\n{kind}, exported by `rlvr.api.export` from `{source}`.\n\n```python\n{load}\n```\n"


def _merge_adapter(source: Path, base: str, out: Path) -> None:
    import torch as th
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if not base or not (Path(base).is_dir() or "/" in base):
        raise UserError(f"{source}: the adapter names no loadable base model ({base!r}); export without merge")
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=th.float32)
    except OSError as err:
        raise UserError(f"cannot load the base model {base!r} to merge into: {str(err).splitlines()[0]}") from None
    merged = PeftModel.from_pretrained(model, str(source)).merge_and_unload()
    merged.save_pretrained(str(out))


# ----------------------------------------------------------------------------------------------------- quick test
def quick_test(
    model_or_dir_or_session: Any,
    question: str | list[str],
    *,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    tokenizer: Any = None,
    system_prompt: str | None = None,
    token_map: Any = None,
) -> str | list[str]:
    """Answer ``question`` (one or several) with a model through its chat template; greedy when ``temperature`` is 0.

    ``model_or_dir_or_session``: a :class:`Session` (its policy, tokenizer, ``model.generation_kwargs.max_new_tokens``
    and ``dataset.system_prompt``), a directory (run dir, checkpoint, export) or a model object with ``tokenizer=``.
    Returns the completion text (special tokens dropped), a list for a list of questions.

    A reasoning-vocabulary model (the session's, a directory with ``reasoning_token_map.json``, or ``token_map=``)
    samples under the thinking mask, and its reasoning tokens read as their source tokens.
    """
    from rlvr.run import Session

    if isinstance(model_or_dir_or_session, Session):
        session = model_or_dir_or_session
        token_map = token_map or session.trainer.token_map
        model, tok = session.model, session.tokenizer
        max_new_tokens = max_new_tokens or session.cfg.model.generation_kwargs.max_new_tokens
        system_prompt = system_prompt if system_prompt is not None else session.cfg.dataset.system_prompt
    elif isinstance(model_or_dir_or_session, (str, Path)):
        from rlvr.vocab.token_map import TokenMap

        model, tok = load_for_chat(model_or_dir_or_session)
        token_map = token_map or TokenMap.load(resolve_model_dir(model_or_dir_or_session))
    else:
        model, tok = model_or_dir_or_session, tokenizer
        if tok is None:
            raise UserError("quick_test(model, ...): pass tokenizer= with a model object")
    from rlvr.evaluation.decoding import generate_completions

    questions = [question] if isinstance(question, str) else list(question)
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    prompts = [[*system, {"role": "user", "content": q}] for q in questions]
    stops = getattr(model.generation_config, "eos_token_id", None) if hasattr(model, "generation_config") else None
    stops = [stops] if isinstance(stops, int) else stops  # the model's own stop tokens, else the tokenizer's EOS
    processors, decode = None, None
    if token_map is not None:
        from rlvr.vocab.text import decode_mapped
        from rlvr.vocab.thinking import ThinkingLogitsProcessor

        processors = [ThinkingLogitsProcessor(token_map, tok)]
        decode = lambda ids: decode_mapped(tok, ids, token_map)  # noqa: E731
    sampling = {"temperature": temperature} if temperature > 0 else None
    groups = generate_completions(
        model, tok, prompts, max_new_tokens or 256, max(1, len(prompts)), 1, sampling, stops, None, processors, decode
    )
    answers = [g[0].text for g in groups]
    return answers[0] if isinstance(question, str) else answers
