"""Set a run's model up for its reasoning vocabulary, before the trainer is built (``rlvr.run.build``).

- The token map comes from the loaded model directory when it holds one (``reasoning_token_map.json``: a model
  saved by an earlier reasoning-vocabulary run, or a resumed run), else from ``model.reasoning_vocab``; a model
  that already has V+R rows is used as is, otherwise it is extended (rows copied).
- ``<run_dir>/checkpoint-0/`` receives the model as initialised (weights, config with V+R rows, tokenizer, token
  map), written once by the main process. It is not a resumable checkpoint (no trainer state, no completion
  marker), so ``resume_from_checkpoint=auto``, rotation and ``exp/evaluate.py checkpoints=all`` skip it.
- The policy's ``config._name_or_path`` (and ``name_or_path``) then point at ``checkpoint-0``: TRL builds the
  reference model (``training.beta > 0``) from that path, so it is extended the same way, under DeepSpeed and FSDP
  too; under LoRA the adapter names it as its base model, so ``model/`` reloads onto the extended model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.config.model import ModelConfig
from rlvr.errors import UserError
from rlvr.vocab.model_extension import ensure_extended
from rlvr.vocab.token_map import KEY, TokenMap, build_token_map

INITIAL_CHECKPOINT = "checkpoint-0"


def token_map_for(cfg: ModelConfig, model: Any, tokenizer: Any, model_path: str) -> TokenMap | None:
    """The run's token map (None: baseline); see the module doc for where it comes from."""
    saved = TokenMap.load(model_path) if Path(model_path).is_dir() else None
    rv = cfg.reasoning_vocab
    if saved is not None:
        if rv.enabled and rv.size != -1 and rv.size != saved.size:
            raise UserError(
                f"{KEY}.size={rv.size}, but {model_path} is a reasoning-vocabulary model with {saved.size} reasoning "
                f"tokens: set {KEY}.size={saved.size} (or -1), or load a model without them"
            )
        logger.info(f"reasoning vocab: {saved.size} reasoning tokens, as saved with {model_path}")
        return saved
    if not rv.enabled:
        return None
    rows = int(model.get_input_embeddings().weight.shape[0])
    return build_token_map(rv, rows, tokenizer)


def prepare_reasoning_vocab(
    cfg: ModelConfig, model: Any, tokenizer: Any, model_path: str, run_dir: Path, main_process: bool
) -> TokenMap | None:
    """Extend ``model`` (in place) and write ``checkpoint-0``; returns the token map, or None for the baseline."""
    token_map = token_map_for(cfg, model, tokenizer, model_path)
    if token_map is None:
        return None
    ensure_extended(model, token_map)
    initial = Path(run_dir) / INITIAL_CHECKPOINT
    if main_process and TokenMap.load(initial) is None:
        model.save_pretrained(initial)
        tokenizer.save_pretrained(initial)
        token_map.save(initial)  # last: its presence says checkpoint-0 is whole
        logger.info(f"reasoning vocab: the initial model is in {initial}")
    from accelerate import PartialState

    PartialState().wait_for_everyone()
    # TRL's reference model loads from here, and a LoRA adapter names it as its base (PEFT reads name_or_path)
    model.config._name_or_path = model.name_or_path = str(initial.resolve())
    return token_map
