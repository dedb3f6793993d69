"""What GRPO did to a reasoning vocabulary (``exp/analyze_reasoning_vocab.py``): usage, drift, PCA, entropy.

Everything is read from a run directory: ``metrics.jsonl`` (usage logged every step by ``rlvr.vocab.mixin``),
``checkpoint-0/`` (the model as initialised), every complete ``checkpoint-<N>/`` and ``model/`` (the embeddings),
``summary.json`` (accuracy) and ``.hydra/config.yaml`` (the held-out prompts, for the entropy profile).

- **drift**: cosine distance ``1 - cos`` between embedding rows. For reasoning token ``V+i``: from its source row
  ``ids[i]`` in the same checkpoint (how far the copy moved away from its original) and from its own row in
  ``checkpoint-0``; for standard tokens: from their ``checkpoint-0`` row. Input embeddings and, when the model is
  untied, output embeddings (tied models have one matrix; the report says so).
- **PCA**: the rows of chosen tokens (the copies that drifted furthest from their sources, and those sources) at
  every checkpoint, projected on the top two principal components of all those rows (``torch.pca_lowrank``).
- **entropy by position**: mean next-token entropy of the final policy along sampled completions of held-out
  prompts, split into positions inside and outside thinking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch as th
from loguru import logger

from rlvr.checkpoints import checkpoint_folders, checkpoint_step, is_complete
from rlvr.errors import UserError
from rlvr.vocab.token_map import TokenMap


@dataclass
class Snapshot:
    label: str
    step: int
    input: th.Tensor  # (V+R, d) input embedding
    output: th.Tensor | None  # (V+R, d) output rows when untied, else None


def _load_embeddings(folder: Path) -> tuple[th.Tensor, th.Tensor | None]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"{folder}: no *.safetensors weights (a LoRA adapter? full models only)")
    tensors: dict[str, th.Tensor] = {}
    for f in files:
        tensors.update(load_file(f))
    emb = next((v for k, v in tensors.items() if k.endswith("embed_tokens.weight")), None)
    if emb is None:
        raise UserError(f"{folder}: no embed_tokens weight found")
    head = next((v for k, v in tensors.items() if k.endswith("lm_head.weight")), None)
    return emb.float(), (head.float() if head is not None else None)


def snapshots(run_dir: Path) -> list[Snapshot]:
    """checkpoint-0, every complete checkpoint and model/ (at the run's final step), oldest first."""
    found: list[tuple[str, int, Path]] = []
    initial = run_dir / "checkpoint-0"
    if not (initial / "config.json").is_file():
        raise UserError(f"{run_dir}: no checkpoint-0/ (not a reasoning-vocabulary run, or written before it existed)")
    found.append(("checkpoint-0", 0, initial))
    for folder in checkpoint_folders(run_dir):
        step = checkpoint_step(folder)
        if step and is_complete(folder):
            found.append((folder.name, step, folder))
    final = run_dir / "model"
    if (final / "config.json").is_file():
        try:
            step = int(json.loads((run_dir / "summary.json").read_text())["steps"])
        except (OSError, KeyError, ValueError):
            step = (found[-1][1] + 1) if found else 1
        if all(s != step for _, s, _ in found):
            found.append(("model", step, final))
    out = []
    for label, step, folder in found:
        emb, head = _load_embeddings(folder)
        out.append(Snapshot(label, step, emb, head))
    return out


def cosine_distance(a: th.Tensor, b: th.Tensor) -> th.Tensor:
    return 1.0 - th.nn.functional.cosine_similarity(a, b, dim=-1)


def drift_table(snaps: list[Snapshot], tm: TokenMap) -> list[dict[str, Any]]:
    """Per snapshot: mean cosine distance of copies from their sources, of copies from checkpoint-0, of standard
    tokens from checkpoint-0 (input rows; ``*_out`` for output rows of an untied model)."""
    v, n = tm.base_vocab_size, tm.vocab_size
    src = th.tensor(tm.source_ids)
    first = snaps[0]
    rows = []
    for s in snaps:
        row: dict[str, Any] = {"label": s.label, "step": s.step}
        for name, mat, init in (("in", s.input, first.input), ("out", s.output, first.output)):
            if mat is None or init is None:
                continue
            row[f"copy_vs_source_{name}"] = float(cosine_distance(mat[v:n], mat[src]).mean())
            row[f"copy_vs_initial_{name}"] = float(cosine_distance(mat[v:n], init[v:n]).mean())
            row[f"standard_vs_initial_{name}"] = float(cosine_distance(mat[:v], init[:v]).mean())
        rows.append(row)
    return rows


def most_drifted(snap: Snapshot, tm: TokenMap, tokenizer: Any, k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` reasoning copies furthest (cosine distance) from their sources in ``snap``'s input embedding."""
    v, n = tm.base_vocab_size, tm.vocab_size
    dist = cosine_distance(snap.input[v:n], snap.input[th.tensor(tm.source_ids)])
    top = th.argsort(dist, descending=True)[:k].tolist()
    return [
        {
            "reasoning_id": v + i,
            "source_id": tm.source_ids[i],
            "token": tokenizer.convert_ids_to_tokens(tm.source_ids[i]) if tm.source_ids[i] < len(tokenizer) else "?",
            "multiplicity": tm.multiplicity[i],
            "distance": float(dist[i]),
        }
        for i in top
    ]


def pca_trajectories(snaps: list[Snapshot], ids: list[int]) -> th.Tensor:
    """(len(snaps), len(ids), 2): the rows ``ids`` of every snapshot on the top 2 principal components."""
    stack = th.stack([s.input[ids] for s in snaps])  # (S, K, d)
    flat = stack.reshape(-1, stack.shape[-1])
    mean = flat.mean(0, keepdim=True)
    _, _, basis = th.pca_lowrank(flat - mean, q=2, center=False)
    return ((flat - mean) @ basis[:, :2]).reshape(stack.shape[0], stack.shape[1], 2)


def step_entropies(scores: tuple[th.Tensor, ...]) -> th.Tensor:
    """(B, T): the entropy of the distribution each completion token was sampled from. ``scores`` are
    ``generate``'s per-step logits after every processor and warper (temperature, top-k, the thinking mask)
    and before sampling, so they are softmaxed as they are: the temperature is already in them."""
    logp = th.stack([th.log_softmax(s.float(), dim=-1) for s in scores], dim=1)
    return -(logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1)


def entropy_profile(run_dir: Path, n_prompts: int = 32, seed: int = 0) -> dict[str, Any] | None:
    """Mean next-token entropy by completion position of the final policy (``model/``) on held-out prompts,
    inside and outside thinking; sampled at the run's temperature under the thinking mask. None without model/."""
    from omegaconf import OmegaConf

    from rlvr.config import RootConfig, to_typed
    from rlvr.data.loading import load_datasets
    from rlvr.evaluation.decoding import generate_batch
    from rlvr.models import load_for_chat
    from rlvr.vocab.metrics import thinking_mask
    from rlvr.vocab.thinking import ThinkingLogitsProcessor, ThinkingTracker

    model_dir, saved = run_dir / "model", run_dir / ".hydra" / "config.yaml"
    if not (model_dir / "config.json").is_file() or not saved.is_file():
        return None
    cfg = to_typed(OmegaConf.merge(OmegaConf.structured(RootConfig), OmegaConf.load(saved)))
    model, tok = load_for_chat(model_dir)
    tm = TokenMap.load(model_dir)
    held = load_datasets(cfg.dataset, cfg.seed)[1].select(range(n_prompts)).to_list()
    gen = cfg.model.generation_kwargs
    processors = [ThinkingLogitsProcessor(tm, tok)] if tm is not None else None
    kwargs = cfg.training.chat_template_kwargs if isinstance(cfg.training.chat_template_kwargs, dict) else None
    th.manual_seed(seed)
    out = generate_batch(
        model, tok, [r["prompt"] for r in held], gen.max_new_tokens, sampling={"temperature": gen.temperature},
        chat_template_kwargs=kwargs, logits_processors=processors, output_scores=True,
    )  # fmt: skip
    assert out.scores is not None
    completion = out.completion_ids
    ent = step_entropies(out.scores)
    alive = th.ones_like(completion, dtype=th.bool)
    ended = (completion == tok.eos_token_id).cumsum(1) > 0
    alive[:, 1:] = ~ended[:, :-1]
    tracker = ThinkingTracker(tok, cfg.model.reasoning_vocab.think_open, cfg.model.reasoning_vocab.think_close, tm)
    inside = thinking_mask(completion, alive.int(), out.prompt_ids, tracker, out.prompt_mask)
    width = completion.shape[1]
    by_pos: dict[str, list[float | None]] = {"inside": [], "outside": []}
    for t in range(width):
        for name, flag in (("inside", inside[:, t]), ("outside", alive[:, t] & ~inside[:, t])):
            by_pos[name].append(float(ent[flag, t].mean()) if bool(flag.any()) else None)
    return {
        "n_prompts": len(held),
        "by_position": by_pos,
        "entropy_inside": float(ent[inside].mean()) if bool(inside.any()) else None,
        "entropy_outside": float(ent[alive & ~inside].mean()) if bool((alive & ~inside).any()) else None,
    }


def usage_series(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``reasoning_vocab/*`` and ``eval/accuracy`` against the step, from ``metrics.jsonl``."""
    series: dict[str, list[tuple[int, float]]] = {}
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return series
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        for key, value in rec.items():
            if (key.startswith("reasoning_vocab/") or key == "eval/accuracy") and isinstance(value, int | float):
                series.setdefault(key, []).append((int(rec["step"]), float(value)))
    return series


def summary_of(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        logger.warning(f"{run_dir}: no summary.json (the run did not finish?)")
        return {}
