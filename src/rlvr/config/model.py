"""``model`` group: which policy to load, how, how it samples, LoRA, and the offline tiny model's recipe."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlvr.errors import UserError

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class ModelKwargs:
    """Passed to ``AutoModelForCausalLM.from_pretrained`` (quantisation flags build a BitsAndBytesConfig)."""

    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    trust_remote_code: bool = False
    attn_implementation: str | None = None  # e.g. sdpa, eager, flash_attention_2
    load_in_4bit: bool = False
    load_in_8bit: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_NAMES:
            raise UserError(f"model.model_kwargs.dtype: {self.dtype!r} is not one of {', '.join(DTYPE_NAMES)}")
        if self.load_in_4bit and self.load_in_8bit:
            raise UserError("model.model_kwargs: set at most one of load_in_4bit and load_in_8bit")


@dataclass
class GenerationKwargs:
    """Sampling settings for training rollouts; they become GRPOConfig's generation fields."""

    max_new_tokens: int = 256  # -> GRPOConfig.max_completion_length
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 disables top-k
    min_p: float | None = None
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError(f"model.generation_kwargs.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature > 0:
            raise UserError(
                f"model.generation_kwargs.temperature must be > 0, got {self.temperature}: GRPO rollouts sample "
                "(greedy decoding would give every completion of a group the same reward)"
            )
        if not 0 < self.top_p <= 1:
            raise UserError(f"model.generation_kwargs.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise UserError(f"model.generation_kwargs.top_k must be >= 0 (0: off), got {self.top_k}")
        if self.min_p is not None and not 0 <= self.min_p <= 1:
            raise UserError(f"model.generation_kwargs.min_p must be in [0, 1] or null, got {self.min_p}")
        if not self.repetition_penalty > 0:
            raise UserError(f"model.generation_kwargs.repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class LoraSettings:
    """Optional LoRA adapters through peft (``model.lora.enabled=true``)."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class TinyModelSpec:
    """Architecture and warm-start recipe of the tiny offline model (``model.tiny.*``; rlvr.tiny_model builds it)."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 256
    warmup_steps: int = 1500  # most supervised steps (also the cosine horizon of the learning rate)
    warmup_batch_size: int = 64
    warmup_lr: float = 1e-2
    # Stop early once greedy accuracy on a probe set reaches this (0 disables), so GRPO starts from
    # a model that is partly right however fast this machine's run of the warm start learned.
    warmup_target_accuracy: float = 0.4
    warmup_eval_every: int = 25
    warmup_levels: list[str] = field(default_factory=lambda: ["2+2"])
    warmup_samples: int = 20000
    system_prompt: str | None = None  # must match the dataset's system prompt for a useful warm start
    seed: int = 0


@dataclass
class ModelConfig:
    name: str = "tiny"  # label used in run names
    name_or_path: str = "tiny"  # "tiny" builds our offline model; else a hub id or a local directory
    tokenizer_name_or_path: str | None = None  # defaults to name_or_path
    model_kwargs: ModelKwargs = field(default_factory=ModelKwargs)
    generation_kwargs: GenerationKwargs = field(default_factory=GenerationKwargs)
    lora: LoraSettings = field(default_factory=LoraSettings)
    tiny: TinyModelSpec = field(default_factory=TinyModelSpec)  # used only when name_or_path == "tiny"
