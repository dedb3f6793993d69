"""A CPU dry run of every GPU recipe (``experiment=`` presets that do not use the tiny model).

Each recipe is composed as a user would run it, with the hub model replaced by a tiny model of the SAME
architecture saved by the test (``save_pretrained``) and the hub dataset by a local parquet with the preset's
real column names. Only what a CPU cannot do is overridden (bf16 autocast, vLLM) plus the budget (2 steps,
small batches), so recipe/TRL mismatches (unknown keys, incompatible batch sizes, dtype handling, gradient
checkpointing, reward kwargs) show up here instead of after a GPU allocation.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch as th
from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

from rlvr.tiny_model import build_tokenizer
from tests.helpers.cli import CONF_DIR, run_cli
from tests.helpers.config import typed_cfg

ARCHITECTURES = {"qwen3": (Qwen3Config, Qwen3ForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}
GPU_RECIPES = [
    p.stem
    for p in sorted((CONF_DIR / "experiment").glob("*.yaml"))
    if typed_cfg([f"experiment={p.stem}"]).model.name_or_path != "tiny"
]
CPU_ONLY = [
    "training.bf16=false",
    "training.use_vllm=false",
    "training.use_cpu=true",
    "training.max_steps=2",
    "training.per_device_train_batch_size=4",
    "training.num_generations=4",
    "training.gradient_accumulation_steps=1",
    "training.save_steps=2",
    "model.generation_kwargs.max_new_tokens=8",
    "eval.max_samples=4",
    "eval.batch_size=4",
    "logging=none",
    "print_config=none",
]


def tiny_of_architecture(name_or_path: str, out: Path) -> Path:
    """A ~1M-parameter model of the hub model's architecture family, with our chat-templated tokenizer."""
    family = "qwen3" if "qwen3" in name_or_path.lower() else "qwen2"
    config_cls, model_cls = ARCHITECTURES[family]
    tok = build_tokenizer()
    config = config_cls(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    model_cls(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def local_dataset(recipe: str, out: Path) -> Path:
    """A parquet with the columns the recipe's dataset preset reads, holding small math problems."""
    ds = typed_cfg([f"experiment={recipe}"]).dataset
    rows = []
    for a in range(10, 40):
        answer = str(a + 7)
        row = {ds.problem_column: f"What is {a}+7?", ds.answer_column: answer}
        if ds.answer_format == "gsm8k":
            row[ds.answer_column] = f"{a}+7={answer}\n#### {answer}"
        elif ds.answer_format == "boxed":
            row[ds.answer_column] = f"So the answer is \\boxed{{{answer}}}."
        if ds.prompt_column:
            row[ds.prompt_column] = [{"role": "user", "content": f"What is {a}+7?"}]
        for column, source in ds.columns.items():
            row.setdefault(source, answer if column == "solution" else "x")
        rows.append(row)
    path = out / f"{ds.name}.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("recipe", GPU_RECIPES)
def test_gpu_recipe_dry_runs_on_cpu(recipe: str, tmp_path: Path, cache_dir: Path) -> None:
    cfg = typed_cfg([f"experiment={recipe}"])
    model_dir = tiny_of_architecture(cfg.model.name_or_path, tmp_path / "model")
    data = local_dataset(recipe, tmp_path)
    run_dir = tmp_path / "run"
    overrides = [
        f"experiment={recipe}",
        f"model.name_or_path={model_dir}",
        f"dataset.path={data}",
        "dataset.eval_size=8",
        *CPU_ONLY,
        f"hydra.run.dir={run_dir}",
    ]
    proc = run_cli(overrides, cache_dir, timeout=900)
    assert proc.returncode == 0, (
        f"exp/grpo_train.py {' '.join(overrides)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["exp_name"] == cfg.exp_name
    assert summary["eval_after"]["n"] == 4 and summary["generated_tokens"] > 0
    assert (run_dir / "checkpoint-2/rlvr_state.json").exists() and (run_dir / "model/config.json").exists()
    assert json.loads((run_dir / "model/config.json").read_text())["model_type"] == (
        "qwen3" if "qwen3" in cfg.model.name_or_path.lower() else "qwen2"
    )


def test_gpu_smoke_script_refuses_a_machine_without_cuda(tmp_path: Path) -> None:
    """slurm/gpu_smoke.sh started by mistake on a login node (no CUDA) stops at once with one line saying where to
    run it, and trains nothing. Its GPU runs themselves are recorded in slurm/README.md ("GPU smoke test")."""
    if th.cuda.is_available():
        pytest.skip("this machine has CUDA: the script would run for real")
    proc = subprocess.run(
        ["bash", str(CONF_DIR.parent / "slurm/gpu_smoke.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("gpu_smoke: no CUDA device here: run it on a GPU node")
    assert not list((tmp_path / "out").glob("*/summary.json"))
