"""rlvr.models: the dtype rule (trainable weights in float32), quantized placement, LoRA adapters."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch as th
from accelerate.utils import DistributedType

from rlvr import models
from rlvr.config import TinyModelSpec
from rlvr.errors import UserError
from rlvr.tiny_model import build_model, build_tokenizer
from tests.helpers.config import typed_cfg

TINY = TinyModelSpec(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=16,
    max_position_embeddings=128,
)


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3 saved in bfloat16, as hub checkpoints such as Qwen/Qwen3-0.6B are."""
    out = tmp_path_factory.mktemp("tiny-bf16")
    tok = build_tokenizer()
    build_model(TINY, tok).to(th.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _fraction_changed_after_adamw(model: th.nn.Module, vocab: int, lr: float, steps: int = 10) -> float:
    """Train as the GPU recipe does (AdamW at ``lr``, bf16 autocast) and count the entries that moved."""
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = th.optim.AdamW(params, lr=lr)
    gen = th.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        ids = th.randint(0, vocab, (4, 32), generator=gen)
        with th.autocast("cpu", dtype=th.bfloat16):  # what training.bf16=true does (accelerate's autocast)
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    changed = sum(int((p.detach() != b).sum()) for p, b in zip(params, before, strict=True))
    return changed / sum(b.numel() for b in before)


def test_gpu_recipe_keeps_small_updates(bf16_checkpoint: Path, tmp_path: Path) -> None:
    """model=qwen3_0.6b sets dtype bfloat16: full fine-tuning must still hold the weights in float32.

    In bfloat16 storage, 10 AdamW steps at lr 1e-6 change ~2% of the entries (the rest round away).
    """
    for recipe in ("qwen3_0.6b", "qwen2.5_1.5b_instruct"):
        cfg = typed_cfg([f"model={recipe}", f"model.name_or_path={bf16_checkpoint}", "training=grpo_default"])
        assert cfg.model.model_kwargs.dtype == "bfloat16" and cfg.training.bf16
        assert cfg.training.learning_rate == 1e-6
        model, tok, _ = models.load_model_and_tokenizer(cfg.model, str(tmp_path))
        changed = _fraction_changed_after_adamw(model, len(tok), cfg.training.learning_rate)
        assert changed >= 0.99, f"{recipe}: only {changed:.1%} of the weights moved"
        assert {p.dtype for p in model.parameters() if p.requires_grad} == {th.float32}


def test_lora_base_keeps_the_storage_dtype(bf16_checkpoint: Path, tmp_path: Path) -> None:
    """With LoRA the base is frozen: it stays in model_kwargs.dtype; the adapters are float32."""
    from peft import get_peft_model

    cfg = typed_cfg(["model=qwen3_0.6b", f"model.name_or_path={bf16_checkpoint}", "model.lora.enabled=true"])
    model, _, _ = models.load_model_and_tokenizer(cfg.model, str(tmp_path))
    assert {p.dtype for p in model.parameters()} == {th.bfloat16}
    lora = models.lora_config(cfg.model)
    assert lora is not None
    peft_model = get_peft_model(model, lora, autocast_adapter_dtype=False)  # bf16 adapters, as TRL leaves QLoRA's
    for sharded in (DistributedType.DEEPSPEED, DistributedType.FSDP):  # they keep float32 masters themselves
        args = SimpleNamespace(distributed_state=SimpleNamespace(distributed_type=sharded))
        assert models.upcast_trainable(peft_model, args) == 0
    plain = SimpleNamespace(distributed_state=SimpleNamespace(distributed_type=DistributedType.MULTI_GPU))
    assert models.upcast_trainable(peft_model, plain) > 0
    trainable = {p.dtype for p in peft_model.parameters() if p.requires_grad}
    frozen = {p.dtype for p in peft_model.parameters() if not p.requires_grad}
    assert trainable == {th.float32} and frozen == {th.bfloat16}


def test_quantized_loads_on_the_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """4/8-bit: each rank loads onto its own GPU (bitsandbytes' default is the current device, cuda:0)."""
    monkeypatch.setattr(models, "quantization_config", lambda kw: "bnb-config")  # no bitsandbytes here
    monkeypatch.setenv("LOCAL_RANK", "1")
    for flag in ("load_in_4bit", "load_in_8bit"):
        cfg = typed_cfg(["model=qwen3_0.6b", f"model.model_kwargs.{flag}=true", "model.lora.enabled=true"])
        kwargs = models.model_init_kwargs(cfg.model)
        assert kwargs["device_map"] == {"": 1} and kwargs["quantization_config"] == "bnb-config"
        assert kwargs["dtype"] == th.bfloat16  # non-quantized base parts keep the storage dtype
    monkeypatch.delenv("LOCAL_RANK")
    assert models.model_init_kwargs(cfg.model)["device_map"] == {"": 0}
    plain = models.model_init_kwargs(typed_cfg(["model=qwen3_0.6b"]).model)
    assert "device_map" not in plain and plain["dtype"] == th.float32


def test_quantized_without_lora_is_a_compose_error() -> None:
    with pytest.raises(UserError, match="model.lora.enabled"):
        typed_cfg(["model=qwen3_0.6b", "model.model_kwargs.load_in_4bit=true"])


def test_lora_keys_reach_peft_and_only_adapters_and_saved_modules_train() -> None:
    import math

    import torch as th
    from peft import get_peft_model

    from rlvr.config import TinyModelSpec
    from rlvr.models import lora_config
    from rlvr.tiny_model import build_model, build_tokenizer
    from tests.helpers.config import typed_cfg

    cfg = typed_cfg(
        [
            "model.lora.enabled=true",
            "model.lora.r=4",
            "model.lora.alpha=8",
            "model.lora.target_modules=[all-linear]",
            "model.lora.modules_to_save=[norm]",
            "model.lora.use_rslora=true",
        ]
    )
    peft_cfg = lora_config(cfg.model)
    assert peft_cfg.target_modules == "all-linear" and peft_cfg.use_rslora and set(peft_cfg.modules_to_save) == {"norm"}
    tok = build_tokenizer()
    th.manual_seed(0)
    model = get_peft_model(build_model(TinyModelSpec(num_hidden_layers=1), tok), peft_cfg)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("mlp.down_proj.lora_A" in n for n in names)  # all-linear reaches the MLP, not only attention
    assert any("modules_to_save" in n and n.endswith("norm.modules_to_save.default.weight") for n in names)
    assert not any("lm_head" in n for n in names)  # the output head is never a LoRA target
    layer = model.base_model.model.model.layers[0].mlp.down_proj
    assert math.isclose(layer.scaling["default"], 8 / math.sqrt(4))  # rslora: alpha / sqrt(r)

    for module in model.modules():  # peft starts lora_B at 0: perturb it so every adapter gets a gradient
        if hasattr(module, "lora_B"):
            th.nn.init.normal_(module.lora_B["default"].weight, std=0.02)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = th.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = th.tensor([tok("12+34=")["input_ids"]])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not th.equal(p, before[n])}
    assert changed and changed <= names  # nothing outside the adapters and modules_to_save moved
    assert any("modules_to_save" in n for n in changed) and any("lora_A" in n for n in changed)
