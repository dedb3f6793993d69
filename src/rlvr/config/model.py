"""``model`` group: which policy to load, how, how it samples, LoRA, and the offline tiny model's recipe."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rlvr.errors import UserError

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")

# training.generation_kwargs key -> the model.generation_kwargs key that owns it. TRL applies
# GRPOConfig.generation_kwargs after its sampling fields (transformers and vLLM paths alike), so a key here
# would silently override model.generation_kwargs; "max_tokens" is vLLM's name for max_new_tokens.
GENERATION_OWNED = {
    "max_new_tokens": "max_new_tokens",
    "max_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
}
# training.model_init_kwargs keys that model.model_kwargs owns (rlvr passes them to TRL's reference model).
MODEL_INIT_OWNED = {
    "dtype": "dtype",
    "torch_dtype": "dtype",
    "trust_remote_code": "trust_remote_code",
    "attn_implementation": "attn_implementation",
    "quantization_config": "load_in_4bit/load_in_8bit",
    "load_in_4bit": "load_in_4bit",
    "load_in_8bit": "load_in_8bit",
}


@dataclass
class ModelKwargs:
    """Passed to ``AutoModelForCausalLM.from_pretrained`` (quantisation flags build a BitsAndBytesConfig).

    The dtype rule: ``dtype`` is the storage dtype of the weights that are NOT trained (TRL's reference model when
    ``training.beta`` != 0, the frozen base under LoRA). Trainable weights are always float32 (full fine-tuning
    loads the policy in float32; LoRA adapters are float32) and ``training.bf16=true`` autocasts the compute: under
    DDP or one GPU nothing else keeps a float32 master copy, and AdamW steps at lr ~1e-6 round away in bfloat16.
    Full fine-tuning in float32 needs ~16 bytes/parameter for weights, gradients and AdamW state: shard them with
    ``conf/accelerate/zero2.yaml``/``zero3.yaml``/``fsdp.yaml`` when that does not fit. vLLM loads its own copy in
    the checkpoint's dtype.
    """

    dtype: str = "auto"  # auto | float32 | bfloat16 | float16: storage dtype of frozen weights (see the class doc)
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
    # module names to adapt, or ["all-linear"] (every linear layer except the output head)
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    modules_to_save: list[str] = field(default_factory=list)  # trained in full and saved with the adapter
    use_rslora: bool = False  # rank-stabilised scaling alpha / sqrt(r) instead of alpha / r

    def __post_init__(self) -> None:
        if self.r < 1:
            raise UserError(f"model.lora.r must be >= 1, got {self.r}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"model.lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise UserError("model.lora.target_modules is empty: name modules, or use [all-linear]")


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
    # answer: the warm start teaches "\\boxed{85}"; think: a column-by-column scratchpad inside <think>...</think>
    # first ("<think>7+8=15,4+3+1=8</think>\\boxed{85}"), the thinking variant the reasoning vocabulary is tried on
    warmup_format: str = "answer"

    def __post_init__(self) -> None:
        if self.warmup_format not in ("answer", "think"):
            raise UserError(f"model.tiny.warmup_format: {self.warmup_format!r} is not one of answer, think")


REASONING_INSIDE_MODES = ("both", "reasoning_only")


@dataclass
class ReasoningVocabConfig:
    """A "reasoning vocabulary" (``model.reasoning_vocab.*``): R extra tokens that may be sampled only while thinking.

    With V the row count of the model's input embedding, token V+i is a copy of standard token ``source_ids[i]``:
    its input-embedding row and its output (lm_head) row start equal to that token's. Outside the thinking block
    (``think_open`` ... ``think_close``) only standard tokens may be sampled. ``rlvr.vocab`` builds the token map,
    extends the model, masks the logits during sampling and logs how the copies are used.

    ``size`` and ``init`` together:

    - ``size=0``: off (the baseline; the other keys are still validated but nothing changes).
    - ``init=first_n``: copies of standard ids 0..size-1; needs 1 <= size <= V.
    - ``init=all``: one copy of every standard id 0..V-1; ``size`` must be -1 ("as many as init gives") or V.
    - ``init=<path>``: a JSON file holding a list of standard ids, repeats allowed (the k-th copy of a token has
      multiplicity k); ``size`` must be -1 or the list's length.

    ``inside`` says what may be sampled inside thinking: ``both`` (standard tokens and reasoning copies) or
    ``reasoning_only`` (reasoning copies, plus the standard tokens that write the closing tag from where the
    partial match stands; EOS is masked there too, so a completion must close its thinking block to end).

    ``marker`` shows reasoning tokens in logged text (``rlvr.vocab.text.decode_marked``): ``{}`` in it stands for
    the token's text (the default wraps it: ``⟨x⟩``); a marker without ``{}`` is put before the token's text.
    """

    size: int = 0  # 0: off; -1: as many as init gives (init=all: V; init=<file>: the list's length)
    init: str = "first_n"  # first_n | all | path to a JSON list of standard ids (repeats allowed)
    think_open: str = "<think>"  # the thinking block's opening tag (a string; may span several tokens)
    think_close: str = "</think>"  # its closing tag
    inside: str = "both"  # both | reasoning_only: what may be sampled inside thinking
    marker: str = "⟨{}⟩"  # how decode_marked shows a reasoning token: {} is its text; without {} a prefix
    # log the policy's mean entropy inside and outside thinking every step (one extra no-grad forward per batch)
    log_entropy: bool = True

    def __post_init__(self) -> None:
        key = "model.reasoning_vocab"
        if self.size < -1:
            raise UserError(f"{key}.size must be >= 0 (0: off) or -1 (as many as {key}.init gives), got {self.size}")
        if not str(self.init).strip():
            raise UserError(f"{key}.init is empty: use first_n, all, or the path of a JSON list of token ids")
        if self.size == -1 and self.init == "first_n":
            raise UserError(f"{key}.size=-1 needs {key}.init=all or a file of ids: first_n needs a size >= 1")
        if self.inside not in REASONING_INSIDE_MODES:
            raise UserError(f"{key}.inside: {self.inside!r} is not one of {', '.join(REASONING_INSIDE_MODES)}")
        for name in ("think_open", "think_close"):
            if not getattr(self, name):
                raise UserError(f"{key}.{name} is empty: thinking needs an opening and a closing tag")
        if self.think_open == self.think_close:
            raise UserError(f"{key}.think_open and {key}.think_close are equal ({self.think_open!r})")
        if self.think_open in self.think_close or self.think_close in self.think_open:
            raise UserError(
                f"{key}.think_open ({self.think_open!r}) and {key}.think_close ({self.think_close!r}): "
                "one must not contain the other"
            )
        if not self.marker:
            raise UserError(f"{key}.marker is empty: use e.g. '⟨{{}}⟩' ({{}} is the token's text) or a prefix")

    @property
    def enabled(self) -> bool:
        return self.size != 0


@dataclass
class ModelConfig:
    name: str = "tiny"  # label used in run names
    name_or_path: str = "tiny"  # "tiny" builds our offline model; else a hub id or a local directory
    tokenizer_name_or_path: str | None = None  # defaults to name_or_path
    model_kwargs: ModelKwargs = field(default_factory=ModelKwargs)
    generation_kwargs: GenerationKwargs = field(default_factory=GenerationKwargs)
    lora: LoraSettings = field(default_factory=LoraSettings)
    tiny: TinyModelSpec = field(default_factory=TinyModelSpec)  # used only when name_or_path == "tiny"
    reasoning_vocab: ReasoningVocabConfig = field(default_factory=ReasoningVocabConfig)  # off unless size != 0

    def __post_init__(self) -> None:
        kw = self.model_kwargs
        if (kw.load_in_4bit or kw.load_in_8bit) and not self.lora.enabled:
            flag = "load_in_4bit" if kw.load_in_4bit else "load_in_8bit"
            raise UserError(
                f"model.model_kwargs.{flag}=true needs model.lora.enabled=true: quantised weights cannot be trained"
            )


def as_mapping(value: Any, key: str) -> dict[str, Any]:
    """A dict-valued GRPOConfig field (None, a mapping, or a JSON string as TRL accepts) as a new dict."""
    if value is None:
        return {}
    if isinstance(value, str):  # GRPOConfig also accepts a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"{key}: {value!r} is not a mapping (or a JSON object)") from None
    if not isinstance(value, dict):
        raise UserError(f"{key}: expected a mapping, got {type(value).__name__}")
    return dict(value)


def check_generation_overlap(training_generation_kwargs: Any, model_generation_kwargs: GenerationKwargs) -> None:
    """``model.generation_kwargs`` is the one source of the sampling settings: ``training.generation_kwargs`` may add
    other ``generate``/vLLM ``SamplingParams`` keys, but not override these (TRL would apply it last, silently).
    """
    extra = as_mapping(training_generation_kwargs, "training.generation_kwargs")
    for key in extra:
        if key in GENERATION_OWNED:
            owner = GENERATION_OWNED[key]
            raise UserError(
                f"training.generation_kwargs.{key} would override model.generation_kwargs.{owner} "
                f"(= {getattr(model_generation_kwargs, owner)!r}): set model.generation_kwargs.{owner} instead"
            )


def check_model_init_overlap(
    training_model_init_kwargs: Any, training_trust_remote_code: bool, model: ModelConfig
) -> None:
    """``model.model_kwargs`` is the one source of how models load (policy and TRL's reference model)."""
    extra = as_mapping(training_model_init_kwargs, "training.model_init_kwargs")
    for key in extra:
        if key in MODEL_INIT_OWNED:
            raise UserError(
                f"training.model_init_kwargs.{key} is set by model.model_kwargs.{MODEL_INIT_OWNED[key]}: set it there"
            )
    if training_trust_remote_code and not model.model_kwargs.trust_remote_code:
        raise UserError(
            "training.trust_remote_code=true: set model.model_kwargs.trust_remote_code=true instead (it reaches "
            "the policy, the reference model, the tokenizer and vLLM)"
        )


def check_training_overlap(training: Any, model: ModelConfig) -> None:
    """The ``training`` keys that would silently override ``model`` keys: one-line errors at compose time."""
    check_generation_overlap(training.generation_kwargs, model.generation_kwargs)
    check_model_init_overlap(training.model_init_kwargs, bool(training.trust_remote_code), model)
