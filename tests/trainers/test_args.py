"""rlvr.trainers.args.grpo_args: what reaches TRL's GRPOConfig from the model group."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch as th

from rlvr.config import ModelConfig, TrainingConfig
from rlvr.errors import UserError
from rlvr.trainers.args import grpo_args
from tests.helpers.config import typed_cfg

QWEN = ["model=qwen3_0.6b", "training=grpo_default", "training.use_cpu=true", "training.bf16=false"]


def test_reference_model_gets_the_model_kwargs(tmp_path: Path) -> None:
    """TRL builds the reference model (beta != 0) from args.model_init_kwargs, not from our loaded policy."""
    cfg = typed_cfg(
        [
            *QWEN,
            "training.beta=0.04",
            "model.model_kwargs.trust_remote_code=true",
            "training.model_init_kwargs={revision: main}",
        ]
    )
    args = grpo_args(cfg, tmp_path, [1.0])
    assert args.model_init_kwargs == {
        "revision": "main",
        "dtype": "bfloat16",  # the frozen reference keeps the storage dtype (the policy trains in float32)
        "trust_remote_code": True,
        "attn_implementation": "sdpa",
    }
    assert args.trust_remote_code is True  # tokenizer, vLLM


def test_no_reference_model_no_model_init_kwargs(tmp_path: Path) -> None:
    """beta=0 (the recipe's default) or LoRA (TRL disables the adapter): TRL builds no reference model."""
    for extra in (["training.beta=0.0"], ["training.beta=0.04", "model.lora.enabled=true"]):
        assert grpo_args(typed_cfg([*QWEN, *extra]), tmp_path, [1.0]).model_init_kwargs is None


@pytest.mark.parametrize(
    ("override", "owner"),
    [
        ("training.generation_kwargs={temperature: 0.3}", "model.generation_kwargs.temperature"),
        ("training.generation_kwargs={max_tokens: 64}", "model.generation_kwargs.max_new_tokens"),
        ("training.generation_kwargs={top_k: 5}", "model.generation_kwargs.top_k"),
        ("training.model_init_kwargs={dtype: float32}", "model.model_kwargs.dtype"),
        ("training.trust_remote_code=true", "model.model_kwargs.trust_remote_code"),
    ],
)
def test_training_keys_cannot_override_model_keys(override: str, owner: str, tmp_path: Path) -> None:
    """TRL applies GRPOConfig.generation_kwargs after its sampling fields: the training key would win silently."""
    with pytest.raises(UserError, match=owner.replace(".", r"\.")):
        cfg = typed_cfg([*QWEN, override])  # raises here once RootConfig.__post_init__ calls check_training_overlap
        grpo_args(cfg, tmp_path, [1.0])


def test_check_training_overlap_names_both_keys() -> None:
    from rlvr.config.model import check_training_overlap  # the line RootConfig.__post_init__ runs

    training = TrainingConfig(generation_kwargs='{"top_p": 0.5}')  # GRPOConfig also takes a JSON string
    with pytest.raises(UserError, match=r"^training\.generation_kwargs\.top_p .*model\.generation_kwargs\.top_p"):
        check_training_overlap(training, ModelConfig())
    check_training_overlap(TrainingConfig(generation_kwargs={"do_sample": True}), ModelConfig())


def test_other_generation_kwargs_pass_through(tmp_path: Path) -> None:
    cfg = typed_cfg([*QWEN, "training.generation_kwargs={do_sample: true}"])
    args = grpo_args(cfg, tmp_path, [1.0])
    assert args.generation_kwargs == {"do_sample": True} and args.temperature == 0.7


def test_trl_builds_the_reference_model_in_the_storage_dtype(tmp_path: Path) -> None:
    """The real TRL path: a float32 policy object + our GRPOConfig -> a bfloat16 reference model with our kwargs."""
    from datasets import Dataset
    from trl import GRPOTrainer

    from rlvr.config import TinyModelSpec
    from rlvr.models import load_model_and_tokenizer
    from rlvr.tiny_model import build_model, build_tokenizer

    spec = TinyModelSpec(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    spec.num_key_value_heads, spec.head_dim = 1, 16
    tok = build_tokenizer()
    build_model(spec, tok).to(th.bfloat16).save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    cfg = typed_cfg(
        [
            *QWEN,
            f"model.name_or_path={tmp_path / 'ckpt'}",
            "model.model_kwargs.attn_implementation=eager",
            "training.beta=0.04",
            "training.per_device_train_batch_size=2",
            "training.gradient_accumulation_steps=1",
            "training.num_generations=2",
            "training.gradient_checkpointing=false",
        ]
    )
    model, tokenizer, _ = load_model_and_tokenizer(cfg.model, str(tmp_path))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=lambda completions, **_: [0.0] * len(completions),
        args=grpo_args(cfg, tmp_path / "run", [1.0]),
        train_dataset=Dataset.from_list([{"prompt": "1+1"}] * 4),
        processing_class=tokenizer,
    )
    assert trainer.model.dtype == th.float32
    assert trainer.ref_model is not None and trainer.ref_model.dtype == th.bfloat16
    assert trainer.ref_model.config._attn_implementation == "eager"
