"""Offline evaluation of saved models (``exp/evaluate.py``): greedy pass@1, pass@k and maj@k, per task and group.

For each model to evaluate (a model directory, a hub id, the tiny model, a run's ``model/`` or every complete
checkpoint of a run), on the dataset's held-out split:

1. each rank takes its shard of the problems (``rows[rank::world]`` under ``accelerate launch``) and generates one
   greedy completion and ``eval.n_samples`` sampled ones per problem with transformers ``generate`` (batched,
   stopped at the tokenizer's EOS, ``training.chat_template_kwargs`` applied as in training), or, with
   ``eval.backend=vllm``, with vLLM's offline ``LLM`` in one process (:mod:`rlvr.evaluation.vllm_backend`);
2. every completion is scored by its row's task's correctness reward (:func:`rlvr.evaluation.scoring.correctness_scorer`)
   and its final answer extracted for the majority vote (``rlvr.tasks.answer_key``: the key its task declares);
3. the per-problem results are gathered and rank 0 writes ``eval.json``, ``eval.md`` and, for several
   checkpoints, ``accuracy.png`` (metrics against the training step).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch as th
from loguru import logger

from rlvr.errors import UserError
from rlvr.evaluation.completions import Completion, Generate
from rlvr.evaluation.decoding import generate_completions
from rlvr.evaluation.passk import ProblemResult, Sample, breakdown
from rlvr.evaluation.scoring import correctness_scorer, score_rows
from rlvr.evaluation.targets import (
    PLOT,
    REPORT_JSON,
    REPORT_MD,
    EvaluateConfig,
    Target,
    check_backend,
    default_output_dir,
    targets,
)
from rlvr.tasks import answer_key


# ---------------------------------------------------------------------------------------------------- models
def load_policy(target: Target, cfg: EvaluateConfig, device: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode on ``device``: a local directory through ``rlvr.models.load_for_chat``
    (a LoRA adapter on its base model), anything else (hub id, ``tiny``) as training loads it."""
    if Path(target.path).is_dir():
        from rlvr.models import load_for_chat

        model, tok = load_for_chat(target.path)
        if cfg.model.tokenizer_name_or_path:
            from rlvr.models import load_tokenizer

            tok = load_tokenizer(cfg.model.tokenizer_name_or_path, cfg.model.model_kwargs.trust_remote_code)
    else:
        import os

        from rlvr.models import load_model_and_tokenizer

        cache_dir = os.environ.get("RLVR_CACHE_DIR") or cfg.paths.cache_dir
        model, tok, _ = load_model_and_tokenizer(cfg.model, cache_dir)
    return model.to(device).eval(), tok


# ---------------------------------------------------------------------------------------------------- evaluation
def _scores(rows: list[dict[str, Any]], texts: list[str], score: Any, threshold: float) -> tuple[list[bool], int]:
    values = score_rows(rows, texts, score)
    return [v is not None and v >= threshold for v in values], sum(v is None for v in values)


def transformers_generator(model: Any, tokenizer: Any, cfg: EvaluateConfig, model_dir: str | None = None) -> Generate:
    """``gen(prompts, n, sampling)`` with transformers ``generate`` (``sampling`` None: greedy). A reasoning-
    vocabulary model (``model_dir`` holds a token map) samples under the thinking mask and its completions read
    reasoning tokens as their sources, exactly as in training."""
    ev = cfg.eval
    max_new = ev.max_new_tokens or cfg.model.generation_kwargs.max_new_tokens
    kwargs = cfg.training.chat_template_kwargs if isinstance(cfg.training.chat_template_kwargs, dict) else None
    processors, decode = thinking_generation(model_dir, tokenizer)

    def gen(prompts: list[Any], n: int, sampling: dict[str, Any] | None) -> list[list[Completion]]:
        return generate_completions(
            model, tokenizer, prompts, max_new, ev.batch_size, n, sampling, None, kwargs, processors, decode
        )

    return gen


def thinking_generation(
    model_dir: str | None, tokenizer: Any
) -> tuple[list[Any] | None, Callable[[list[int]], str] | None]:
    """``(logits_processors, decode)`` for a model directory with a reasoning token map, else ``(None, None)``."""
    if model_dir is None or not Path(model_dir).is_dir():
        return None, None
    from rlvr.vocab.text import decode_mapped
    from rlvr.vocab.thinking import ThinkingLogitsProcessor
    from rlvr.vocab.token_map import TokenMap

    token_map = TokenMap.load(model_dir)
    if token_map is None:
        return None, None
    logger.info(f"{model_dir}: reasoning vocabulary ({token_map.size} tokens): generating under the thinking mask")
    return [ThinkingLogitsProcessor(token_map, tokenizer)], lambda ids: decode_mapped(tokenizer, ids, token_map)


def sampling_settings(cfg: EvaluateConfig) -> dict[str, Any]:
    """The sampled completions' settings, in ``generate``'s names (``top_k`` None: off)."""
    gk = cfg.model.generation_kwargs
    sampling: dict[str, Any] = {"temperature": cfg.eval.temperature or gk.temperature, "top_p": gk.top_p}
    sampling["top_k"] = gk.top_k or None
    if gk.min_p is not None:
        sampling["min_p"] = gk.min_p
    return sampling


def evaluate_model(
    gen: Generate, rows: list[dict[str, Any]], indices: list[int], cfg: EvaluateConfig, score: Any
) -> list[ProblemResult]:
    """Greedy and sampled completions of ``rows`` (this rank's shard, at ``indices`` of the full list), scored."""
    ev = cfg.eval
    prompts = [r["prompt"] for r in rows]
    greedy = [g[0] for g in gen(prompts, 1, None)]
    g_solved, g_unscored = _scores(rows, [c.text for c in greedy], score, ev.success_threshold)
    sampled: list[list[Completion]] = [[] for _ in rows]
    s_solved: list[bool] = []
    s_unscored = 0
    n = ev.n_samples
    if n:
        sampled = gen(prompts, n, sampling_settings(cfg))
        flat_rows = [r for r in rows for _ in range(n)]
        s_solved, s_unscored = _scores(flat_rows, [c.text for g in sampled for c in g], score, ev.success_threshold)
    group_col = cfg.dataset.group_column
    results = []
    for j, row in enumerate(rows):
        task = str(row.get("task", ""))
        samples = [
            Sample(s_solved[j * n + m], c.tokens, c.truncated, answer_key(task, c.text))
            for m, c in enumerate(sampled[j])
        ]
        results.append(
            ProblemResult(
                index=indices[j],
                task=task,
                group=str(row[group_col]) if group_col and group_col in row else None,
                greedy=Sample(g_solved[j], greedy[j].tokens, greedy[j].truncated, answer_key(task, greedy[j].text)),
                samples=samples,
            )
        )
    # unscored counts are reported once, on the first problem of the shard (they are summed)
    if results:
        results[0].unscored = g_unscored + s_unscored
    return results


def held_out_rows(cfg: EvaluateConfig, tokenizer: Any) -> list[dict[str, Any]]:
    from rlvr.data.loading import load_datasets
    from rlvr.data.prompts import filter_prompts_by_length

    train, held = load_datasets(cfg.dataset, cfg.seed)
    _, held = filter_prompts_by_length(train, held, tokenizer, cfg.dataset.max_prompt_length)
    if cfg.eval.max_samples is not None:
        held = held.select(range(min(cfg.eval.max_samples, len(held))))
    if len(held) == 0:
        raise UserError(f"dataset {cfg.dataset.name}: no held-out rows to evaluate (dataset.eval_size?)")
    return held.to_list()


def evaluate(cfg: EvaluateConfig, raw_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate every target of ``cfg`` (a collective under ``accelerate launch``); rank 0 writes the report.

    Returns the report (what ``eval.json`` holds) on every rank.
    """
    from accelerate import PartialState
    from accelerate.utils import gather_object

    from rlvr.console import quiet_library_progress

    check_backend(cfg)
    quiet_library_progress()
    found = targets(cfg)
    out_dir = default_output_dir(cfg, found)
    state = PartialState(cpu=not th.cuda.is_available())  # CPU ranks under accelerate launch: gloo
    rank, world = state.process_index, state.num_processes
    if cfg.eval.backend == "vllm" and world > 1:
        raise UserError(
            "eval.backend=vllm runs in one process (vLLM batches and shards itself: "
            "training.vllm_tensor_parallel_size): start exp/evaluate.py without accelerate launch"
        )
    score = correctness_scorer(cfg.rewards, cfg.eval.reward)
    entries = []
    rows: list[dict[str, Any]] | None = None
    for target in found:
        start = time.time()
        if cfg.eval.backend == "vllm":
            from rlvr.evaluation.vllm_backend import vllm_generator

            gen, tok, release = vllm_generator(target, cfg)
        else:
            model, tok = load_policy(target, cfg, state.device)
            gen, release = transformers_generator(model, tok, cfg, target.path), None
        if rows is None:
            rows = held_out_rows(cfg, tok)
        mine = list(range(rank, len(rows), world))
        th.manual_seed(cfg.seed * 1000 + rank)  # the same sampling stream for every checkpoint
        local = evaluate_model(gen, [rows[i] for i in mine], mine, cfg, score)
        if release is not None:
            release()
        problems = sorted(gather_object(local) if world > 1 else local, key=lambda p: p.index)
        entry = {
            "label": target.label,
            "step": target.step,
            "path": target.path,
            **breakdown(problems, cfg.eval.k_values),
        }
        entry["seconds"] = round(time.time() - start, 2)
        entries.append(entry)
        m = entry["metrics"]
        (logger.info if state.is_main_process else logger.debug)(
            f"{target.label}: greedy {m['greedy']}"
            + "".join(f", pass@{k} {m[f'pass@{k}']}, maj@{k} {m[f'maj@{k}']}" for k in cfg.eval.k_values)
            + f" on {m['n']} problems ({entry['seconds']} s)"
        )
        del gen
    report = {
        "dataset": cfg.dataset.name,
        "n_problems": len(rows or []),
        "n_samples": cfg.eval.n_samples,
        "k_values": list(cfg.eval.k_values),
        "temperature": cfg.eval.temperature or cfg.model.generation_kwargs.temperature,
        "max_new_tokens": cfg.eval.max_new_tokens or cfg.model.generation_kwargs.max_new_tokens,
        "success_threshold": cfg.eval.success_threshold,
        "ranks": world,
        "output_dir": str(out_dir),
        "metrics": entries[-1]["metrics"],
        "results": entries,
        "config": raw_config,
    }
    if state.is_main_process:
        write_report(out_dir, report, cfg.dataset.group_column)
    state.wait_for_everyone()
    return report


# ---------------------------------------------------------------------------------------------------- report
def metric_names(k_values: list[int]) -> list[str]:
    return ["greedy"] + [f"pass@{k}" for k in k_values] + [f"maj@{k}" for k in k_values]


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(first: str, rows: list[tuple[str, dict[str, Any]]], names: list[str]) -> list[str]:
    cols = [*names, "greedy tokens", "greedy truncated", "sample tokens", "sample truncated", "n"]
    keys = [*names, "greedy_mean_tokens", "greedy_truncation_rate", "sample_mean_tokens", "sample_truncation_rate", "n"]
    lines = [f"| {first} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, m in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(m.get(k)) for k in keys) + " |")
    return lines


def markdown(report: dict[str, Any], group_column: str | None) -> str:
    names = metric_names(report["k_values"])
    lines = [
        f"# Evaluation on {report['dataset']}",
        "",
        f"{report['n_problems']} held-out problems; greedy pass@1, and {report['n_samples']} samples per problem at "
        f"temperature {report['temperature']} for pass@k (unbiased estimator) and maj@k; at most "
        f"{report['max_new_tokens']} new tokens (truncated: hit that limit without a stop token).",
        "",
    ]
    rows = [
        (f"{e['label']}" + (f" (step {e['step']})" if e["step"] is not None else ""), e["metrics"])
        for e in report["results"]
    ]
    lines += _table("model", rows, names) + [""]
    for e in report["results"]:
        if len(e["per_task"]) > 1:
            lines += [f"## {e['label']}: by task", "", *_table("task", list(e["per_task"].items()), names), ""]
        if e["per_group"]:
            lines += [
                f"## {e['label']}: by {group_column}",
                "",
                *_table(str(group_column), list(e["per_group"].items()), names),
                "",
            ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path | None:
    """Metrics against the training step (entries without a step are left out); None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.error("error: the accuracy plot needs matplotlib (uv sync --group dev); eval.json and eval.md written")
        return None
    points = [e for e in report["results"] if e["step"] is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in metric_names(report["k_values"]):
        xs = [e["step"] for e in points if e["metrics"].get(name) is not None]
        ys = [e["metrics"][name] for e in points if e["metrics"].get(name) is not None]
        if xs:
            ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"held-out {report['dataset']}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(out_dir: Path, report: dict[str, Any], group_column: str | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, default=str))
    (out_dir / REPORT_MD).write_text(markdown(report, group_column))
    written = [REPORT_JSON, REPORT_MD]
    if len(report["results"]) > 1 and plot(report, out_dir / PLOT):
        written.append(PLOT)
    logger.info(f"wrote {', '.join(written)} to {out_dir}")


__all__ = ["Completion", "evaluate"]
