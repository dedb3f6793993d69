"""The driver of ``exp/generate.py``: every prompt of a split, ``num_samples`` completions each, from an
OpenAI-compatible endpoint, written row by row to a resumable JSONL (then parquet if asked).

Prompts are the chat messages the dataset group builds for training (:func:`rlvr.data.loading.load_datasets`), so
the samples match what GRPO would see. Requests run in a thread pool (``generate.concurrency`` prompts in flight);
rows are written and scored in the main thread as they finish (rewards such as math-verify use signals, which only
work there). A prompt whose requests fail for good is not written: rerun the same command to fill it in.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.datagen.client import ChatClient, Choice, RequestFailed
from rlvr.datagen.config import GenerateConfig
from rlvr.datagen.writer import RowWriter, read_done, to_parquet
from rlvr.errors import UserError


def output_paths(cfg: GenerateConfig) -> tuple[Path, Path | None]:
    """The JSONL written as rows finish and, with ``format=parquet``, the parquet file made from it at the end."""
    out = Path(cfg.generate.output or Path(cfg.paths.output_root) / "generate" / f"{cfg.dataset.name}.jsonl")
    out = out.expanduser()
    if out.suffix == ".parquet":
        return out.with_suffix(".jsonl"), out
    if cfg.generate.format == "parquet":
        return out, out.with_suffix(".parquet")
    return out, None


def row_id(split: str, index: int, prompt: Any) -> str:
    """A stable id: the split, the row's index and a hash of its prompt (a changed dataset does not alias)."""
    digest = hashlib.sha1(json.dumps(prompt, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{split}-{index}-{digest}"


# The keys a resume matches rows on (with the row's dataset index and split, and the serving model).
RECORD_KEYS = ("id", "split", "index", "model")
DATA_PREFIX = "data_"


def record(rid: str, split: str, index: int, model: str, row: dict[str, Any], result: dict[str, Any]) -> dict:
    """One output row: the resume keys, the dataset's columns, the samples. A dataset column named like a resume
    key (an ``id`` or ``index`` of its own) is kept as ``data_<name>``: it must never replace the key a rerun
    matches on."""
    data = {(DATA_PREFIX + k if k in RECORD_KEYS else k): v for k, v in row.items()}
    return {**data, **result, "id": rid, "split": split, "index": index, "model": model}


def load_prompts(cfg: GenerateConfig) -> list[dict[str, Any]]:
    from rlvr.data.loading import load_datasets

    train, held_out = load_datasets(cfg.dataset, cfg.seed)
    rows = (train if cfg.generate.split == "train" else held_out).to_list()
    if cfg.generate.max_prompts is not None:
        rows = rows[: cfg.generate.max_prompts]
    if not rows:
        raise UserError(f"dataset {cfg.dataset.name}: no rows in split {cfg.generate.split}")
    return rows


def sample(client: ChatClient, messages: list[dict[str, Any]], cfg: GenerateConfig) -> dict[str, Any]:
    """``num_samples`` completions of one prompt (asked for with ``n``, topped up one by one if the server returns
    fewer), their finish reasons and token counts."""
    g = cfg.generate
    params: dict[str, Any] = {"max_tokens": g.max_tokens, "temperature": g.temperature, "top_p": g.top_p}
    params.update(g.extra_body)
    choices: list[Choice] = []
    per_completion: list[int | None] = []
    prompt_tokens: int | None = None
    total = 0
    requests = 0
    while len(choices) < g.num_samples:
        want = g.num_samples - len(choices) if g.request_n else 1
        reply = client.chat(messages, n=want, **params)
        requests += 1
        got = reply.choices[:want]
        if not got:
            raise RequestFailed(f"{client.url} returned no choices")
        choices += got
        prompt_tokens = reply.prompt_tokens if prompt_tokens is None else prompt_tokens
        total += reply.completion_tokens or 0
        # usage counts the whole reply: per completion only when it holds one choice
        per_completion += [reply.completion_tokens] if len(got) == 1 else [None] * len(got)
    return {
        "completions": [c.text for c in choices],
        "finish_reasons": [c.finish_reason for c in choices],
        "completion_tokens": per_completion,
        "prompt_tokens": prompt_tokens,
        "total_completion_tokens": total,
        "requests": requests,
    }


class Scorer:
    """Each completion's rewards (the ``rewards`` group, by name) and its correctness (its task's verifier)."""

    def __init__(self, cfg: GenerateConfig) -> None:
        from rlvr.evaluation.scoring import correctness_scorer
        from rlvr.rewards import build_reward

        self.rewards = [(s.name, build_reward(s.name, dict(s.kwargs))) for s in cfg.rewards.funcs]
        self.correctness = correctness_scorer(cfg.rewards, cfg.eval.reward)

    def __call__(self, row: dict[str, Any], texts: list[str]) -> dict[str, Any]:
        from rlvr.evaluation.scoring import score_rows

        rows = [row] * len(texts)
        scores = {name: score_rows(rows, texts, fn) for name, fn in self.rewards}
        return {"scores": scores, "correctness": score_rows(rows, texts, self.correctness)}


def generate(cfg: GenerateConfig) -> dict[str, Any]:
    """Sample, write and (optionally) score every prompt not in the output yet; returns a small summary."""
    g = cfg.generate
    jsonl, parquet = output_paths(cfg)
    model = g.model or str(cfg.model.name_or_path)
    rows = load_prompts(cfg)
    renamed = sorted(set(RECORD_KEYS) & set(rows[0]))
    if renamed:
        logger.info(
            f"generate: the dataset's own {renamed} columns are written as {[DATA_PREFIX + k for k in renamed]}"
        )
    done = read_done(jsonl)
    todo = []
    for index, row in enumerate(rows):
        rid = row_id(g.split, index, row["prompt"])
        if rid not in done:
            todo.append((rid, index, row))
    logger.info(
        f"generate: {len(rows)} prompts of {cfg.dataset.name}/{g.split}, {len(rows) - len(todo)} already in {jsonl}, "
        f"{len(todo)} to sample ({g.num_samples} each) from {g.base_url} (model {model})"
    )
    client = ChatClient(g.base_url, model, g.api_key_env, g.timeout, g.max_retries, g.backoff, g.backoff_max)
    scorer = Scorer(cfg) if g.score and todo else None
    start = time.time()
    written, failed, tokens = 0, 0, 0
    errors: list[str] = []
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="generate", unit="prompt", disable=not g.progress, dynamic_ncols=True)
    with RowWriter(jsonl) as writer, ThreadPoolExecutor(max_workers=g.concurrency) as pool:
        queue = iter(todo)
        running: dict[Future, tuple[str, int, dict[str, Any]]] = {}

        def fill() -> None:
            while len(running) < g.concurrency:
                item = next(queue, None)
                if item is None:
                    return
                running[pool.submit(sample, client, item[2]["prompt"], cfg)] = item

        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                rid, index, row = running.pop(future)
                try:
                    result = future.result()
                except RequestFailed as err:
                    failed += 1
                    errors.append(str(err))
                    logger.error(f"prompt {rid}: {err}")
                    continue
                out = record(rid, g.split, index, model, row, result)
                if scorer is not None:
                    out.update(scorer(row, result["completions"]))
                writer.write(json.loads(json.dumps(out, default=str)))
                written += 1
                tokens += result["total_completion_tokens"]
                bar.update(1)
            if failed >= g.max_failures:
                for future in running:
                    future.cancel()
                running.clear()
                break
            fill()
    bar.close()
    seconds = time.time() - start
    summary = {
        "prompts": len(rows),
        "written": written,
        "already_done": len(rows) - len(todo),
        "failed": failed,
        "completion_tokens": tokens,
        "retries": client.retries,
        "seconds": round(seconds, 1),
        "output": str(jsonl),
    }
    logger.info(
        f"generate: wrote {written} rows ({tokens} completion tokens, {client.retries} retries) in {seconds:.1f} s"
    )
    if failed:
        raise UserError(
            f"{failed} prompts failed ({errors[0]}); {written} rows written to {jsonl}: rerun the same command to "
            "sample the rest"
        )
    if parquet is not None:
        summary["output"] = str(to_parquet(jsonl, parquet))
        logger.info(f"generate: {summary['output']}")
    return summary
