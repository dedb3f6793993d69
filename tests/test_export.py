"""LoRA training, checkpoints, resume and export (``rlvr.api.export``, ``exp/export.py``, ``exp/chat.py``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch as th
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from rlvr import api
from rlvr.errors import UserError
from rlvr.models import load_tokenizer
from tests.helpers.cli import FAST, ROOT, cli_env

# maxent's entropy term gives the adapters a gradient even when every group has the same reward (the FAST model)
LORA = [*FAST, "model.lora.enabled=true", "objective=maxent", "training.learning_rate=1e-3", "exp_name=lora"]
ATOL = 1e-5  # merged vs base + adapter logits, float32


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):  # noqa: ANN201
    """A 2-step LoRA run from Python, with every parameter before and after training."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RLVR_CACHE_DIR", str(cache_dir))
    mp.setenv("HF_HUB_OFFLINE", "1")
    run_dir = tmp_path_factory.mktemp("lora") / "run"
    session = api.prepare(api.compose(LORA), run_dir)
    before = {n: p.detach().clone() for n, p in session.model.named_parameters()}
    result = api.train(session)
    after = {n: p.detach().clone() for n, p in session.model.named_parameters()}
    yield run_dir, before, after, result
    mp.undo()


def test_lora_trains_only_the_adapters(lora_run: tuple) -> None:
    _, before, after, result = lora_run
    assert result["steps"] == 2 and before.keys() == after.keys()
    changed = {n for n in before if not th.equal(before[n], after[n])}
    adapters = {n for n in before if "lora_" in n}
    assert adapters and changed == adapters, sorted(changed ^ adapters)[:5]  # every adapter moved, no base weight


def test_checkpoints_and_model_hold_the_adapter(lora_run: tuple) -> None:
    run_dir, _, after, _ = lora_run
    for folder in (run_dir / "checkpoint-2", run_dir / "model"):
        assert (folder / "adapter_config.json").exists() and (folder / "adapter_model.safetensors").exists()
        assert not (folder / "model.safetensors").exists()  # the adapter only, not the base
    saved = load_file(str(run_dir / "checkpoint-2" / "adapter_model.safetensors"))
    assert saved and all("lora_" in k for k in saved)
    trained = {n.replace(".default", ""): p for n, p in after.items() if "lora_" in n}
    assert all(th.equal(saved[k], trained[k]) for k in saved)  # the checkpoint holds the trained adapter


def test_resume_continues_the_lora_run(lora_run: tuple, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(lora_run[0], run_dir)
    overrides = [*LORA, "training.max_steps=4", "training.resume_from_checkpoint=auto"]
    result = api.train(api.prepare(api.compose(overrides), run_dir))
    assert result["resumed_from"] == str(run_dir / "checkpoint-2") and result["steps"] == 4
    assert (run_dir / "checkpoint-4" / "adapter_model.safetensors").exists()
    a = load_file(str(run_dir / "checkpoint-2" / "adapter_model.safetensors"))
    b = load_file(str(run_dir / "checkpoint-4" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and any(not th.equal(a[k], b[k]) for k in a)


def logits(model: th.nn.Module, tok, text: str) -> th.Tensor:  # noqa: ANN001
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    with th.no_grad():
        return model(**ids).logits


def test_export_adapter_and_merged_give_the_same_logits(lora_run: tuple, tmp_path: Path) -> None:
    run_dir = lora_run[0]
    adapter_dir = api.export(run_dir, tmp_path / "adapter", zip=True)
    merged_dir = api.export(run_dir / "checkpoint-2", tmp_path / "merged", merge=True)
    assert (adapter_dir / "adapter_model.safetensors").exists() and not (adapter_dir / "model.safetensors").exists()
    assert (merged_dir / "model.safetensors").exists() and not (merged_dir / "adapter_config.json").exists()
    with zipfile.ZipFile(tmp_path / "adapter.zip") as zf:
        assert "adapter/adapter_model.safetensors" in zf.namelist()
    base_path = json.loads((run_dir / "summary.json").read_text())["model"]
    for out in (adapter_dir, merged_dir):
        tok = load_tokenizer(str(out))  # raises unless it has a chat template
        assert "<|im_start|>" in tok.apply_chat_template([{"role": "user", "content": "1+1"}], tokenize=False)
        card = (out / "README.md").read_text()
        assert f"base_model: {base_path}" in card and "exp_name=lora" in card and "held-out accuracy" in card
        assert (out / "rlvr_config.yaml").exists() and (out / "rlvr_summary.json").exists()
        assert not (out / "optimizer.pt").exists() and not (out / "training_args.bin").exists()
    text = tok.apply_chat_template([{"role": "user", "content": "12+34"}], tokenize=False, add_generation_prompt=True)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=th.float32).eval()
    base_logits = logits(base, tok, text)
    with_adapter = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir), dtype=th.float32).eval()
    adapted, merged_logits = logits(with_adapter, tok, text), logits(merged, tok, text)
    assert not th.allclose(adapted, base_logits, atol=ATOL)  # the adapter changes the model ...
    assert th.allclose(merged_logits, adapted, atol=ATOL, rtol=0)  # ... and merging keeps that change exactly
    assert api.quick_test(merged_dir, "12+34") == api.quick_test(adapter_dir, "12+34")


def test_export_refuses_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such directory"):
        api.export(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no model/"):
        api.export(tmp_path / "empty", tmp_path / "out")


def run_script(script: str, *args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        env=cli_env(cache_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_export_and_chat_clis(lora_run: tuple, tmp_path: Path, cache_dir: Path) -> None:
    bad = run_script("exp/export.py", str(tmp_path / "missing"), cache_dir=cache_dir)
    errors = [line for line in (bad.stdout + bad.stderr).splitlines() if "ERROR" in line]
    assert bad.returncode == 2 and len(errors) == 1 and "no such directory" in errors[0]
    assert "Traceback" not in bad.stderr
    out = tmp_path / "merged"
    proc = run_script("exp/export.py", str(lora_run[0]), "--merge", "--out", str(out), cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    chat = run_script("exp/chat.py", str(out), "12+34", "--max-new-tokens", "12", cache_dir=cache_dir)
    assert chat.returncode == 0, chat.stderr[-2000:]
    assert chat.stdout.splitlines()[-1] == api.quick_test(out, "12+34", max_new_tokens=12)  # (libraries print too)
    bad_chat = run_script("exp/chat.py", str(tmp_path / "missing"), "1+1", cache_dir=cache_dir)
    assert bad_chat.returncode == 2 and "Traceback" not in bad_chat.stderr
