"""Sample completions from an OpenAI-compatible server: `uv run python exp/generate.py [overrides]`
(config: conf/generate.yaml).

    uv run python exp/generate.py dataset=gsm8k generate.base_url=http://127.0.0.1:8000/v1 \
        generate.model=Qwen/Qwen3-0.6B generate.num_samples=4 generate.max_tokens=512 generate.score=true

Every prompt of the dataset group's split (the chat messages training would use) is sent to
`{generate.base_url}/chat/completions`, `generate.concurrency` at a time, with retries and exponential backoff on
connection errors, 429 and 5xx. Each finished prompt is appended at once to `generate.output` (JSONL: prompt, the
dataset's columns, completions, finish reasons, token counts, and with `generate.score=true` each completion's
rewards and correctness score); rerunning the same command skips the rows already there. `generate.format=parquet`
converts the finished file. The API key comes from `$OPENAI_API_KEY` (`generate.api_key_env`) or `.env`, and is never
written. Reference: docs/generation.md.
"""

from __future__ import annotations

import sys

import hydra
from loguru import logger
from omegaconf import DictConfig

from rlvr.cli import entry_preamble
from rlvr.config import to_typed
from rlvr.datagen.config import GenerateConfig, register_generate_config
from rlvr.errors import UserError

register_generate_config()


def fail(message: str) -> None:
    logger.error(f"error: {message}")
    sys.exit(2)


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    try:
        typed = to_typed(cfg)  # every value checked here, before any heavy import
        if not isinstance(typed, GenerateConfig):
            raise UserError("conf/generate.yaml must use generate_schema")
        from rlvr.datagen.pipeline import generate

        generate(typed)
    except UserError as err:
        fail(str(err))


if __name__ == "__main__":
    entry_preamble(__doc__, "generate")
    main()
