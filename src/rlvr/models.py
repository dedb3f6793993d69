"""Model and tokenizer loading: the tiny offline model, hub ids, local directories, LoRA."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch as th
from loguru import logger
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from rlvr.config import ModelConfig, ModelKwargs
from rlvr.errors import UserError
from rlvr.tiny_model import ensure_tiny_model

if TYPE_CHECKING:
    from peft import LoraConfig

DTYPES = {"auto": "auto", "float32": th.float32, "bfloat16": th.bfloat16, "float16": th.float16}


def resolve_model_path(cfg: ModelConfig, cache_dir: str) -> str:
    """``tiny`` -> the cached tiny model (built on first use); otherwise the path or hub id."""
    if cfg.name_or_path == "tiny":
        return str(ensure_tiny_model(cfg.tiny, cache_dir))
    from rlvr.preflight import check_model_path  # here: the module imports data loading, which vLLM workers need not

    return check_model_path(str(cfg.name_or_path))


def quantized(cfg: ModelConfig) -> bool:
    return cfg.model_kwargs.load_in_4bit or cfg.model_kwargs.load_in_8bit


def policy_dtype(cfg: ModelConfig) -> th.dtype | str:
    """The dtype the policy is loaded in: the dtype rule of ``model.model_kwargs.dtype``.

    ``model_kwargs.dtype`` is the storage dtype of the weights that are not trained. Trainable weights are held in
    float32 (``training.bf16``/``fp16`` autocast the compute), because under DDP or one GPU there is no other master
    copy: AdamW steps at lr ~1e-6 are below half a bfloat16 ulp and round away. So full fine-tuning loads the
    policy in float32; with LoRA the frozen base keeps ``dtype`` (quantised: bitsandbytes weights) and only the
    adapters are float32 (peft's default; see ``upcast_trainable``).
    """
    return DTYPES[cfg.model_kwargs.dtype] if cfg.lora.enabled else th.float32


def local_device_index() -> int:
    """This process's GPU under ``accelerate launch``/``torchrun`` (``LOCAL_RANK``), 0 in a single process."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def quantization_config(kw: ModelKwargs) -> Any:
    """A BitsAndBytesConfig for ``load_in_4bit``/``load_in_8bit`` (bitsandbytes must be installed)."""
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise UserError("model.model_kwargs.load_in_4bit/8bit need bitsandbytes: uv pip install bitsandbytes") from None
    compute = th.float16 if kw.dtype == "float16" else th.bfloat16
    return BitsAndBytesConfig(
        load_in_4bit=kw.load_in_4bit, load_in_8bit=kw.load_in_8bit, bnb_4bit_compute_dtype=compute
    )


def model_init_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments for the policy (see ``policy_dtype`` for the dtype rule)."""
    kw = cfg.model_kwargs  # dtype validated by rlvr.config.model.ModelKwargs
    out: dict[str, Any] = {"dtype": policy_dtype(cfg), "trust_remote_code": kw.trust_remote_code}
    if kw.attn_implementation:
        out["attn_implementation"] = kw.attn_implementation
    if quantized(cfg):
        out["quantization_config"] = quantization_config(kw)
        # bitsandbytes places a model without a device_map on the current device, cuda:0 on every rank before
        # accelerate picks one: each rank must load onto its own GPU.
        out["device_map"] = {"": local_device_index()}
    return out


def reference_init_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """``GRPOConfig.model_init_kwargs``: how TRL loads the reference model (beta != 0, no LoRA) from the policy's path.

    TRL ignores them for the policy we pass as an object, and otherwise defaults the reference's dtype to the
    policy's (float32 here): the frozen reference keeps the storage dtype instead.
    """
    kw = cfg.model_kwargs
    out: dict[str, Any] = {"dtype": kw.dtype, "trust_remote_code": kw.trust_remote_code}
    if kw.attn_implementation:
        out["attn_implementation"] = kw.attn_implementation
    return out


def upcast_trainable(model: th.nn.Module, args: Any = None) -> int:
    """Cast trainable parameters held in 16 bits to float32 (before the optimizer exists); returns how many.

    TRL 1.16 ``GRPOTrainer.__init__`` casts a quantised model's LoRA adapters to bfloat16, where small updates
    round away: call this on ``trainer.model`` with ``trainer.args`` after the trainer is built. Under DeepSpeed
    or FSDP (``args.distributed_state``) it does nothing: they keep float32 master weights themselves and need
    one dtype across a model's trainable parameters (TRL issue 6089).
    """
    if args is not None and args.distributed_state.distributed_type in ("DEEPSPEED", "FSDP"):
        return 0
    n = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype in (th.bfloat16, th.float16):
            param.data = param.data.to(th.float32)
            n += 1
    if n:
        logger.info(f"{n} trainable parameter tensors upcast to float32")
    return n


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
    logger.info(f"model {cfg.name}: {path} ({n_params / 1e6:.2f}M parameters, {model.dtype})")
    return model, tokenizer, path


def lora_config(cfg: ModelConfig, extra: dict[str, Any] | None = None) -> LoraConfig | None:
    """PEFT's LoraConfig for ``model.lora`` (None when disabled). ``extra``: more LoraConfig arguments, e.g. the
    reasoning vocabulary's trainable rows (``rlvr.vocab.lora_trainable_settings``); its ``modules_to_save`` are
    added to the configured ones."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    extra = dict(extra or {})
    targets = list(cfg.lora.target_modules)
    to_save = list(cfg.lora.modules_to_save) + [
        m for m in extra.pop("modules_to_save", []) if m not in cfg.lora.modules_to_save
    ]
    return LoraConfig(
        **extra,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        modules_to_save=to_save or None,
        use_rslora=cfg.lora.use_rslora,
        task_type="CAUSAL_LM",
    )


# ------------------------------------------------------------------------------------- saved models, for inference
def resolve_model_dir(path: str | Path) -> Path:
    """The model a path names: a run directory's ``model/`` (else its newest complete checkpoint), a checkpoint,
    or a saved model / adapter directory."""
    from rlvr.checkpoints import find_last_checkpoint

    path = Path(path).expanduser()
    if not path.is_dir():
        raise UserError(f"{path}: no such directory (give a run directory, a checkpoint or a saved model)")
    if _is_model_dir(path / "model"):
        return path / "model"
    if _is_model_dir(path):
        return path
    last = find_last_checkpoint(path)
    if last is not None and _is_model_dir(last):
        return last
    raise UserError(
        f"{path}: no model/, no complete checkpoint and no saved model (config.json or adapter_config.json)"
    )


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").is_file() or (path / "adapter_config.json").is_file())


def base_model_path(model_dir: Path) -> str:
    adapter = json.loads((model_dir / "adapter_config.json").read_text())
    return str(adapter.get("base_model_name_or_path") or "")


def load_for_chat(path: str | Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a run directory, checkpoint, exported or saved model (LoRA adapters on their
    base), in eval mode."""
    source = resolve_model_dir(path)
    if (source / "adapter_config.json").is_file():
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_model_path(source), dtype=th.float32)
        model = PeftModel.from_pretrained(base, str(source))
    else:
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=th.float32)
    tok_dir = source if (source / "tokenizer_config.json").is_file() else Path(base_model_path(source))
    return model.eval(), load_tokenizer(str(tok_dir))
