"""Data generation: sample completions from an OpenAI-compatible endpoint for rejection sampling / SFT data
(``exp/generate.py``).

- :mod:`.config`: ``GenerateConfig`` (the root of ``conf/generate.yaml``: the training groups plus ``generate.*``).
- :mod:`.client`: a thread-safe ``/v1/chat/completions`` client with retries and exponential backoff (stdlib only).
- :mod:`.writer`: the resumable JSONL output (one row per prompt, appended and flushed as it finishes) and the
  conversion to parquet.
- :mod:`.pipeline`: the driver: prompts from the dataset group, bounded concurrency, progress bar, optional scores.

Reference: docs/generation.md.
"""
