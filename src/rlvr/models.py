"""Model and tokenizer loading: the tiny offline model, hub ids, local directories, LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch as th
from loguru import logger
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from rlvr.config import ModelConfig
from rlvr.errors import UserError
from rlvr.tiny_model import ensure_tiny_model

if TYPE_CHECKING:
    from peft import LoraConfig

DTYPES = {"auto": "auto", "float32": th.float32, "bfloat16": th.bfloat16, "float16": th.float16}


def resolve_model_path(cfg: ModelConfig, cache_dir: str) -> str:
    """``tiny`` -> the cached tiny model (built on first use); otherwise the path or hub id."""
    if cfg.name_or_path == "tiny":
        return str(ensure_tiny_model(cfg.tiny, cache_dir))
    path = str(cfg.name_or_path)
    local = Path(path).expanduser()
    if path.startswith(("/", "./", "../", "~")) and not local.exists():
        raise UserError(f"model.name_or_path: directory {path} does not exist")
    if local.is_dir() and not (local / "config.json").exists():
        raise UserError(
            f"model.name_or_path: {path} has no config.json: not a saved model (write one with save_pretrained)"
        )
    return str(Path(path).expanduser()) if path.startswith("~") else path


def model_init_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    kw = cfg.model_kwargs  # dtype validated by rlvr.config.model.ModelKwargs
    out: dict[str, Any] = {"dtype": DTYPES[kw.dtype], "trust_remote_code": kw.trust_remote_code}
    if kw.attn_implementation:
        out["attn_implementation"] = kw.attn_implementation
    if kw.load_in_4bit or kw.load_in_8bit:
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise UserError(
                "model.model_kwargs.load_in_4bit/8bit need bitsandbytes: uv pip install bitsandbytes"
            ) from None
        out["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=kw.load_in_4bit, load_in_8bit=kw.load_in_8bit, bnb_4bit_compute_dtype=th.bfloat16
        )
    return out


def load_tokenizer(path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"model.name_or_path: cannot load a tokenizer from {path!r}: {first}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        raise UserError(f"model.tokenizer_name_or_path: tokenizer at {path!r} has no chat template")
    tok.padding_side = "left"
    return tok


def load_model_and_tokenizer(cfg: ModelConfig, cache_dir: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str]:
    """Load the policy and its tokenizer; returns ``(model, tokenizer, resolved_path)``."""
    path = resolve_model_path(cfg, cache_dir)
    kwargs = model_init_kwargs(cfg)
    tokenizer = load_tokenizer(cfg.tokenizer_name_or_path or path, cfg.model_kwargs.trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"model.name_or_path: cannot load a model from {path!r}: {first}") from None
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(f"model {cfg.name}: {path} ({n_params / 1e6:.2f}M parameters)")
    return model, tokenizer, path


def lora_config(cfg: ModelConfig) -> LoraConfig | None:
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )
