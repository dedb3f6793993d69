"""Grow a causal LM by the reasoning tokens: rows V..V+R-1 start as exact copies of their source rows.

Extend the plain ``transformers`` model before any wrapping (peft, accelerate, DeepSpeed ZeRO-3). The extended
model saves and loads as an ordinary model with V+R rows (``config.vocab_size`` is updated); save the token map
beside it (``TokenMap.save(dir)``) so that a later load recognises it (:func:`is_extended`) instead of extending
it twice.

Under LoRA, the base weights are frozen, so the reasoning rows need their own trainable parameters:
:func:`lora_trainable_settings` returns the ``peft.LoraConfig`` keyword arguments for that.
"""

from __future__ import annotations

from typing import Any

import torch as th
from loguru import logger
from transformers import PreTrainedModel

from rlvr.errors import UserError
from rlvr.vocab.token_map import KEY, TokenMap


def _rows(model: PreTrainedModel) -> int:
    return int(model.get_input_embeddings().weight.shape[0])


def is_tied(model: PreTrainedModel) -> bool:
    """Whether the output layer shares its weight with the input embedding."""
    out = model.get_output_embeddings()
    return out is not None and out.weight is model.get_input_embeddings().weight


def is_extended(model: PreTrainedModel, token_map: TokenMap) -> bool:
    """Whether ``model`` already holds the reasoning rows of ``token_map`` (its embedding has V+R rows)."""
    return _rows(model) == token_map.vocab_size


def extend_model(model: PreTrainedModel, token_map: TokenMap) -> None:
    """Grow ``model`` in place to V+R rows, row V+i an exact copy of row ``source_ids[i]``.

    Copies the input-embedding row, and when the output layer is not tied to it, the output row and its bias entry
    too. A tied model stays tied. ``config.vocab_size`` (and the text sub-config's) becomes V+R. Refuses (UserError)
    a model whose embedding does not have V rows, in particular one that is already extended: load such a model as
    is (see :func:`ensure_extended`).
    """
    v, n = token_map.base_vocab_size, token_map.vocab_size
    rows = _rows(model)
    if rows == n:
        raise UserError(
            f"{KEY}: the model already has {n} = V+R embedding rows: it is extended already (load it as is)"
        )
    if rows != v:
        raise UserError(f"{KEY}: the token map is for a model with V={v} embedding rows, this one has {rows}")
    tied = is_tied(model)
    model.resize_token_embeddings(n, pad_to_multiple_of=None, mean_resizing=False)
    src = th.tensor(token_map.source_ids, dtype=th.long)
    with th.no_grad():
        emb = model.get_input_embeddings().weight
        emb[v:n] = emb[src.to(emb.device)]
        out = model.get_output_embeddings()
        if out is not None and not tied:
            out.weight[v:n] = out.weight[src.to(out.weight.device)]
            bias = getattr(out, "bias", None)
            if bias is not None and bias.shape[0] == n:
                bias[v:n] = bias[src.to(bias.device)]
    if tied and not is_tied(model):
        raise RuntimeError("extend_model: resizing untied the output layer from the input embedding")
    model.config.vocab_size = n
    model.config.get_text_config().vocab_size = n
    logger.info(f"reasoning vocab: model extended from {v} to {n} rows ({'tied' if tied else 'untied'} output)")


def ensure_extended(model: PreTrainedModel, token_map: TokenMap) -> bool:
    """Extend ``model`` unless it already holds the reasoning rows (resume, reload); True when it extended it."""
    if is_extended(model, token_map):
        logger.info(f"reasoning vocab: model already has {token_map.vocab_size} rows, loaded as is")
        return False
    extend_model(model, token_map)
    return True


def _module_name(model: PreTrainedModel, module: th.nn.Module) -> str:
    for name, mod in model.named_modules():
        if mod is module:
            return name.rsplit(".", 1)[-1]
    raise ValueError("module not found in model")


def lora_trainable_settings(model: PreTrainedModel, token_map: TokenMap) -> dict[str, Any]:
    """The ``peft.LoraConfig`` keyword arguments that make the reasoning rows trainable under LoRA.

    PEFT's ``trainable_token_indices`` trains only the listed rows (a small delta per row, saved with the adapter),
    not the whole matrix. For the input embedding (``embed_tokens``) PEFT also adapts an output layer tied to it.
    An untied output layer without bias gets its own entry (``lm_head``); one with a bias cannot (PEFT's
    trainable-tokens layer drops the bias), so it goes to ``modules_to_save`` (trained and saved in full).
    Merge these into the LoraConfig arguments (extend any ``modules_to_save`` you already have).
    """
    ids = token_map.reasoning_ids
    emb_name = _module_name(model, model.get_input_embeddings())
    settings: dict[str, Any] = {"trainable_token_indices": {emb_name: ids}}
    out = model.get_output_embeddings()
    if out is not None and not is_tied(model):
        head_name = _module_name(model, out)
        if getattr(out, "bias", None) is None:
            settings["trainable_token_indices"][head_name] = ids
        else:
            settings["modules_to_save"] = [head_name]
    return settings
