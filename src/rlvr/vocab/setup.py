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


# A token map's fields and the config keys that set them (the marker only changes logged text: not compared).
MAP_KEYS = {
    "base_vocab_size": "model.name_or_path (another base vocabulary)",
    "source_ids": f"{KEY}.init / {KEY}.size",
    "multiplicity": f"{KEY}.init",
    "think_open": f"{KEY}.think_open",
    "think_close": f"{KEY}.think_close",
    "inside": f"{KEY}.inside",
}


def check_same_vocabulary(token_map: TokenMap, initial: TokenMap | None, where: Path) -> None:
    """A run continued in its directory (a resume) must use the reasoning vocabulary it started with, the one
    ``checkpoint-0`` records: the checkpoint's rows, the masks its rollouts were sampled under and its metrics all
    assume it. One line naming the changed keys otherwise."""
    if initial is None:
        return
    changed = [key for field, key in MAP_KEYS.items() if getattr(token_map, field) != getattr(initial, field)]
    if changed:
        was = {f: getattr(initial, f) for f in ("inside", "think_open", "think_close") if f in str(changed)}
        raise UserError(
            f"the reasoning vocabulary differs from the one this run started with ({where}): {', '.join(changed)} "
            f"changed{f' (it had {was})' if was else ''}; keep the run's settings to resume it, or start a new run "
            "directory"
        )


def prepare_reasoning_vocab(
    cfg: ModelConfig, model: Any, tokenizer: Any, model_path: str, run_dir: Path, main_process: bool
) -> TokenMap | None:
    """Extend ``model`` (in place) and write ``checkpoint-0``; returns the token map, or None for the baseline."""
    token_map = token_map_for(cfg, model, tokenizer, model_path)
    if token_map is None:
        return None
    ensure_extended(model, token_map)
    initial = Path(run_dir) / INITIAL_CHECKPOINT
    check_same_vocabulary(token_map, TokenMap.load(initial), initial)
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
