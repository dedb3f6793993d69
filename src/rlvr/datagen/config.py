"""The root config of ``exp/generate.py`` (``conf/generate.yaml``): the training groups (``model``, ``dataset``,
``rewards``, ``logging``) plus ``generate.*``. Light on purpose (no torch import): a bad value fails before anything
heavy happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from rlvr.config import RootConfig, register_configs
from rlvr.errors import UserError

SPLITS = ("train", "held_out")
FORMATS = ("jsonl", "parquet")


@dataclass
class GenerateSettings:
    base_url: str = "http://127.0.0.1:8000/v1"  # an OpenAI-compatible server; POST {base_url}/chat/completions
    model: str | None = None  # the served model's name; None: model.name_or_path (not "tiny")
    api_key_env: str | None = "OPENAI_API_KEY"  # environment variable holding the key (None/unset: no header)
    num_samples: int = 4  # completions per prompt
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    request_n: bool = True  # ask for all num_samples in one request (`n`); missing ones are asked for one by one
    extra_body: dict[str, Any] = field(default_factory=dict)  # more request fields (e.g. chat_template_kwargs)
    split: str = "train"  # train | held_out: which split of the dataset group to sample prompts from
    max_prompts: int | None = None  # the first N prompts of the split (None: all)
    concurrency: int = 8  # prompts in flight
    timeout: float = 120.0  # seconds per HTTP request
    max_retries: int = 5  # per request, on connection errors, timeouts, 429 and 5xx
    max_failures: int = 10  # stop after this many prompts failed for good (a rerun retries them)
    backoff: float = 1.0  # first retry after this many seconds, doubling each time (with jitter)
    backoff_max: float = 30.0
    output: str | None = None  # the output file (.jsonl); None: <paths.output_root>/generate/<dataset.name>.jsonl
    format: str = "jsonl"  # jsonl | parquet (the JSONL is written as rows finish, converted at the end)
    score: bool = False  # add each completion's rewards (rewards group) and correctness score
    progress: bool = True  # a tqdm progress bar on stderr

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise UserError(f"generate.num_samples must be >= 1, got {self.num_samples}")
        if self.max_tokens < 1:
            raise UserError(f"generate.max_tokens must be >= 1, got {self.max_tokens}")
        if self.concurrency < 1:
            raise UserError(f"generate.concurrency must be >= 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise UserError(f"generate.max_retries must be >= 0, got {self.max_retries}")
        if self.split not in SPLITS:
            raise UserError(f"generate.split: {self.split!r} is not one of {', '.join(SPLITS)}")
        if self.format not in FORMATS:
            raise UserError(f"generate.format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise UserError(f"generate.max_prompts must be >= 1 or null, got {self.max_prompts}")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise UserError(f"generate.base_url must start with http:// or https://, got {self.base_url!r}")


@dataclass
class GenerateConfig(RootConfig):
    generate: GenerateSettings = field(default_factory=GenerateSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.generate.model and str(self.model.name_or_path) == "tiny":
            raise UserError("generate.model: give the served model's name (model.name_or_path is 'tiny')")


def register_generate_config() -> None:
    """Register the group schemas and ``generate_schema`` (the root of ``conf/generate.yaml``)."""
    register_configs()
    ConfigStore.instance().store(name="generate_schema", node=GenerateConfig)
