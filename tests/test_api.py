"""The Python API (``rlvr.api``) takes the CLI's path: same config, same run directory, same training."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch as th
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM

from rlvr import api
from rlvr.cli import override_error
from rlvr.config import RootConfig, to_typed
from rlvr.errors import UserError
from rlvr.models import load_tokenizer
from tests.helpers.cli import FAST, run_cli

# maxent: its entropy term moves the weights even when every group has the same reward (the FAST model's case)
OVERRIDES = [*FAST, "training.max_steps=4", "exp_name=api", "seed=1", "eval.every_steps=2", "objective=maxent"]
# what differs between two runs of one config: timings, where and how they were started
VARYING = {"time", "run_dir", "overrides", "environment", "git_commit", "step_time", "train_runtime", "eval/seconds"}


def same_run(obj: object) -> object:
    """``obj`` without the entries that differ between two runs of one config (timings, paths)."""
    if isinstance(obj, dict):
        return {
            k: same_run(v)
            for k, v in obj.items()
            if k not in VARYING and not k.endswith(("seconds", "per_second", "compl/s"))
        }
    if isinstance(obj, list):
        return [same_run(v) for v in obj]
    return obj


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def files_of(run_dir: Path) -> set[str]:
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    run_dir = tmp_path_factory.mktemp("api") / "cli"
    proc = run_cli([*OVERRIDES, f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def py_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[api.Session, dict, Path]:
    mp = pytest.MonkeyPatch()
    mp.setenv("RLVR_CACHE_DIR", str(cache_dir))
    mp.setenv("HF_HUB_OFFLINE", "1")
    run_dir = tmp_path_factory.mktemp("api") / "py"
    session = api.prepare(api.compose(OVERRIDES), run_dir)
    assert (run_dir / ".hydra/config.yaml").exists() and not (run_dir / "summary.json").exists()  # nothing trained
    result = api.train(session)
    yield session, result, run_dir
    mp.undo()


def test_compose_equals_the_cli_config(cli_run: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv("RLVR_CACHE_DIR", str(cache_dir))  # paths.cache_dir interpolates it, in both
    saved = OmegaConf.merge(OmegaConf.structured(RootConfig), OmegaConf.load(cli_run / ".hydra/config.yaml"))
    assert api.compose(OVERRIDES) == to_typed(saved)
    as_dict = {o.partition("=")[0]: o.partition("=")[2] for o in OVERRIDES}
    assert api.compose(as_dict) == api.compose(OVERRIDES)  # a dict of overrides is the same config
    assert api.compose({"model.lora.target_modules": ["q_proj", "v_proj"]}).model.lora.target_modules == [
        "q_proj",
        "v_proj",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=nope"], override_error(["model=nope"])),  # the CLI's own line
        (["training.learning_rte=1e-4"], "learning_rte"),  # a typo: Hydra's error, on one line
        (["training.learning_rate=-1"], "training.learning_rate"),  # a bad value: rlvr.config's check
        (["replay=ucb", "replay.ratio=2"], "replay.ratio"),
    ],
)
def test_compose_raises_one_line_user_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError) as info:
        api.compose(overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_python_train_writes_the_cli_run_dir(cli_run: Path, py_run: tuple) -> None:
    session, result, run_dir = py_run
    assert files_of(run_dir) == files_of(cli_run) - {".hydra/hydra.yaml"}  # Hydra's own settings: CLI only
    assert (run_dir / ".hydra/config.yaml").read_text() == (cli_run / ".hydra/config.yaml").read_text()
    cli_summary = json.loads((cli_run / "summary.json").read_text())
    assert result == json.loads((run_dir / "summary.json").read_text())
    assert same_run(result) == same_run(cli_summary)  # the same seed trains the same run: one code path
    assert same_run(read_jsonl(run_dir / "metrics.jsonl")) == same_run(read_jsonl(cli_run / "metrics.jsonl"))
    assert result["train_loss"] != 0.0  # the weights did move
    assert result["steps"] == 4 and result["overrides"] == OVERRIDES
    log = (run_dir / "train.log").read_text()
    assert "held-out greedy accuracy after" in log and "finished: held-out accuracy" in log
    assert session.closed and session.run_dir == run_dir


def test_quick_test_answers_with_the_trained_model(py_run: tuple) -> None:
    session, _, run_dir = py_run
    questions = ["12+34", "7+5"]
    answers = api.quick_test(session, questions)
    assert isinstance(answers, list) and len(answers) == 2 and all(answers)
    assert api.quick_test(session, "12+34") == answers[0]
    assert api.quick_test(run_dir, questions) == answers  # the saved model/ answers the same
    # ... and it is what greedy decoding of the saved model gives through its chat template
    tok = load_tokenizer(str(run_dir / "model"))
    model = AutoModelForCausalLM.from_pretrained(str(run_dir / "model"), dtype=th.float32).eval()
    prompt = tok.apply_chat_template([{"role": "user", "content": "12+34"}], tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=session.cfg.model.generation_kwargs.max_new_tokens, do_sample=False)
    assert tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True) == answers[0]


def test_prepare_refuses_a_closed_session(py_run: tuple) -> None:
    with pytest.raises(UserError, match="closed"):
        api.train(py_run[0])


def test_export_of_a_full_fine_tune(py_run: tuple, tmp_path: Path) -> None:
    session, result, run_dir = py_run
    out = api.export(run_dir, tmp_path / "full", merge=True, zip=True)  # merge: nothing to merge, same export
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    assert (tmp_path / "full.zip").exists()
    assert f"base_model: {result['model']}" in (out / "README.md").read_text()
    assert api.quick_test(out, "12+34") == api.quick_test(run_dir, "12+34")
    with pytest.raises(UserError, match="not an empty directory"):
        api.export(run_dir, out)


def test_export_of_a_checkpoint_leaves_the_training_state_behind(py_run: tuple, tmp_path: Path) -> None:
    """A replay run's checkpoint also holds the buffer and the prompt statistics: none of it reaches the export."""
    _, _, run_dir = py_run
    checkpoint = tmp_path / "run" / "checkpoint-2"
    shutil.copytree(run_dir / "checkpoint-2", checkpoint)
    for name in ("replay_buffer.pkl", "replay_prompt_stats.pkl"):  # as ReplayMixin writes them
        (checkpoint / name).write_bytes(pickle.dumps({"prompts": []}))
    out = api.export(checkpoint, tmp_path / "export")
    kept = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in kept and "config.json" in kept, kept
    leaked = [n for n in kept if n.endswith((".pkl", ".pt", ".pth")) or n in api.TRAINING_STATE - {"README.md"}]
    assert not leaked, leaked
