"""``eval.backend=vllm``: the completions of ``exp/evaluate.py`` from vLLM's offline ``LLM`` instead of transformers.

One process: vLLM batches every prompt itself and shards a large model over GPUs with
``training.vllm_tensor_parallel_size``; its memory share is ``training.vllm_gpu_memory_utilization`` and its context
``training.vllm_max_model_length`` (None: the model's own), the same keys as training's colocated vLLM. Greedy
completions use temperature 0; sampled ones the settings of the transformers backend, seeded by ``seed``. vLLM
loads full models only: export a LoRA run's merged model first (``exp/export.py``).
"""

from __future__ import annotations

import gc
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.errors import UserError
from rlvr.evaluation.completions import Completion, Generate
from rlvr.evaluation.targets import EvaluateConfig, Target


def model_directory(target: Target, cfg: EvaluateConfig) -> str:
    """The directory (or hub id) vLLM loads for ``target``; the tiny model is built/cached as training does."""
    path = Path(target.path)
    if path.is_dir():
        if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
            raise UserError(
                f"eval.backend=vllm loads full models, and {path} holds a LoRA adapter: merge it with "
                "`uv run python exp/export.py run_dir=<run> merge=true` and evaluate the export, or use "
                "eval.backend=transformers"
            )
        return str(path)
    from rlvr.models import resolve_model_path

    return resolve_model_path(cfg.model, os.environ.get("RLVR_CACHE_DIR") or cfg.paths.cache_dir)


def vllm_generator(target: Target, cfg: EvaluateConfig) -> tuple[Generate, Any, Callable[[], None]]:
    """``(gen, tokenizer, release)`` for ``target``: ``gen(prompts, n, sampling)`` as the transformers backend's,
    ``release()`` frees vLLM's memory before the next checkpoint loads."""
    if importlib.util.find_spec("vllm") is None:
        raise UserError("eval.backend=vllm needs vLLM, which is not installed: run `uv sync --extra vllm`")
    from vllm import LLM, SamplingParams

    from rlvr.models import load_tokenizer
    from rlvr.vocab.text import decode_mapped
    from rlvr.vocab.token_map import TokenMap

    path = model_directory(target, cfg)
    tokenizer = load_tokenizer(cfg.model.tokenizer_name_or_path or path, cfg.model.model_kwargs.trust_remote_code)
    token_map = TokenMap.load(path)  # a reasoning-vocabulary model: sample under the thinking mask
    extra: dict[str, Any] = {}
    if token_map is not None:
        from rlvr.vocab.vllm_mask import ThinkingMaskVLLM

        extra["logits_processors"] = [ThinkingMaskVLLM]
    tr = cfg.training
    llm = LLM(
        **extra,
        model=path,
        tokenizer=cfg.model.tokenizer_name_or_path or path,
        seed=cfg.seed,
        gpu_memory_utilization=tr.vllm_gpu_memory_utilization,
        max_model_len=tr.vllm_max_model_length,
        tensor_parallel_size=tr.vllm_tensor_parallel_size,
        trust_remote_code=cfg.model.model_kwargs.trust_remote_code,
    )
    ev = cfg.eval
    max_new = ev.max_new_tokens or cfg.model.generation_kwargs.max_new_tokens
    kwargs = tr.chat_template_kwargs if isinstance(tr.chat_template_kwargs, dict) else {}
    stops = [tokenizer.eos_token_id]
    logger.info(f"eval.backend=vllm: {path} loaded in vLLM")

    def gen(prompts: list[Any], n: int, sampling: dict[str, Any] | None) -> list[list[Completion]]:
        texts = [
            tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False, **kwargs) for p in prompts
        ]
        settings: dict[str, Any] = {"temperature": 0.0} if sampling is None else dict(sampling)
        settings["top_k"] = settings.get("top_k") or 0  # 0: off, as generate's None
        params = SamplingParams(n=n, max_tokens=max_new, stop_token_ids=stops, skip_special_tokens=True, **settings)
        outputs = llm.generate([{"prompt": t} for t in texts], params, use_tqdm=False)

        def text(o: Any) -> str:  # reasoning tokens read as their sources, as in training
            return o.text if token_map is None else decode_mapped(tokenizer, list(o.token_ids), token_map)

        return [
            [Completion(text(o), len(o.token_ids), o.finish_reason == "length") for o in request.outputs]
            for request in outputs
        ]

    def release() -> None:
        nonlocal llm
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del llm
        gc.collect()

    return gen, tokenizer, release


__all__ = ["model_directory", "vllm_generator"]
