"""Credentials come from the environment or ``.env`` and never reach a file of the run directory."""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rlvr import api
from rlvr.cli_runner import run_script
from rlvr.credentials import (
    MASK,
    Secret,
    load_dotenv,
    parse_dotenv,
    redact_overrides,
    secret_values,
)
from tests.helpers.cli import FAST, cli_env


def test_dotenv_fills_only_unset_variables(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport HF_TOKEN='hf-from-file'\nWANDB_API_KEY = abc123  # inline\nEMPTY=\n")
    assert parse_dotenv(env_file.read_text()) == {"HF_TOKEN": "hf-from-file", "WANDB_API_KEY": "abc123", "EMPTY": ""}
    environ = {"HF_TOKEN": "from-env"}
    assert load_dotenv([env_file], environ) == ["WANDB_API_KEY"]  # names only, never values
    assert environ == {"HF_TOKEN": "from-env", "WANDB_API_KEY": "abc123"}  # the environment wins


def test_secret_prints_and_pickles_masked() -> None:
    token = Secret("hf_realvalue")
    assert token == "hf_realvalue" and f"Bearer {token}" == "Bearer hf_realvalue"  # usable as the value
    assert repr(token) == repr(MASK) and "realvalue" not in repr({"hub_token": token})
    assert pickle.loads(pickle.dumps(token)) == MASK
    assert redact_overrides(["training.hub_token=abc", "seed=1", "+training.hub_token=x"]) == [
        f"training.hub_token={MASK}",
        "seed=1",
        f"+training.hub_token={MASK}",
    ]


def test_judge_key_named_by_the_config_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "judge-secret-1")
    cfg = {"rewards": {"funcs": [{"name": "rubric", "kwargs": {"judge": {"api_key_env": "MY_JUDGE_KEY"}}}]}}
    assert "judge-secret-1" in secret_values(cfg)


def test_prepare_passes_the_real_hub_token_to_grpo_config_only(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLVR_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    token = f"hf_api_{uuid.uuid4().hex}"
    session = api.prepare(api.compose([*FAST, f"training.hub_token={token}"]), tmp_path / "run")
    try:
        assert session.trainer.args.hub_token == token  # the real value, for push_to_hub
        assert token not in repr(session.trainer.args) and token not in str(session.trainer.args.to_dict())
    finally:
        session.close()
    assert_absent(tmp_path / "run", [token])
    assert OmegaConf.load(tmp_path / "run/.hydra/config.yaml").training.hub_token == MASK


def assert_absent(run_dir: Path, secrets: list[str]) -> None:
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret[:6]}... found in {path.relative_to(run_dir)}"


def test_no_secret_reaches_the_run_dir(tmp_path: Path, cache_dir: Path) -> None:
    """A CLI run with a hub token on the command line, a judge key in the environment and a wandb key in ./.env,
    logging to wandb (offline): every file the run writes, checkpoints and wandb's included, is grepped."""
    hub = f"hubtok-{uuid.uuid4().hex}"
    judge = f"judgekey-{uuid.uuid4().hex}"
    wandb_key = f"wandbkey-{uuid.uuid4().hex}"
    (tmp_path / ".env").write_text(f"WANDB_API_KEY={wandb_key}\n")
    run_dir = tmp_path / "run"
    overrides = [o for o in FAST if o != "print_config=none"]  # the config diff is printed and logged too
    env = cli_env(cache_dir, JUDGE_API_KEY=judge)
    env.pop("WANDB_API_KEY", None)
    proc = run_script(
        [*overrides, f"training.hub_token={hub}", "logging=wandb", f"hydra.run.dir={run_dir}"],
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run_dir / "checkpoint-2/training_args.bin").exists() and (run_dir / "wandb").is_dir()
    assert_absent(run_dir, [hub, judge, wandb_key])
    console = proc.stdout + proc.stderr
    assert hub not in console and judge not in console and wandb_key not in console
    assert f"training.hub_token: {MASK}" in (run_dir / "train.log").read_text()  # the diff, masked
    assert f"training.hub_token={MASK}" in OmegaConf.load(run_dir / ".hydra/overrides.yaml")
    for name in ("config", "hydra"):  # the masked files are still the YAML Hydra wrote
        assert OmegaConf.select(OmegaConf.load(run_dir / f".hydra/{name}.yaml"), "training.hub_token") in (MASK, None)
    assert OmegaConf.load(run_dir / ".hydra/config.yaml").training.hub_token == MASK
    assert os.environ.get("WANDB_API_KEY") != wandb_key  # .env is read by the CLI process, not leaked back
