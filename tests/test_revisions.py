"""``callbacks.push_revisions``: revision names, what a revision gets, and a push that fails (the hub is not
reachable from here: a local HTTP server that answers 503 stands in for it) warns while training goes on. No
test here pretends a push succeeded."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rlvr.cli_runner import run_script
from rlvr.revisions import files_to_push, revision_name
from tests.helpers.cli import FAST, cli_env


def test_revision_names_are_branch_safe() -> None:
    assert revision_name("deepscaler_qwen3", 100) == "deepscaler_qwen3-step-100"
    assert revision_name("my run/v2", 4) == "my-run-v2-step-4"


def test_a_revision_gets_the_model_and_rlvr_state_not_the_optimizer(tmp_path: Path) -> None:
    names = [
        "model.safetensors",
        "config.json",
        "trainer_state.json",
        "rlvr_state.json",
        "rlvr_complete.json",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state_0.pth",
        "rng_state_1.pth",
        "replay_buffer.pkl",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    assert files_to_push(tmp_path) == sorted(
        ["config.json", "model.safetensors", "rlvr_complete.json", "rlvr_state.json", "trainer_state.json"]
    )


class Unavailable(BaseHTTPRequestHandler):
    seen: list[str] = []

    def answer(self) -> None:
        Unavailable.seen.append(f"{self.command} {self.path}")
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = answer

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.mark.slow
def test_a_failed_push_warns_and_training_goes_on(tmp_path: Path, cache_dir: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run_dir = tmp_path / "run"
        env = cli_env(
            cache_dir,
            HF_HUB_OFFLINE="0",
            HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}",
            HF_TOKEN="hf_not_a_real_token",
            HF_HUB_ETAG_TIMEOUT="2",
            HF_HUB_DOWNLOAD_TIMEOUT="2",
        )
        overrides = [
            *FAST,
            "training.save_steps=1",
            "callbacks.push_revisions=true",
            "training.hub_model_id=someone/tiny-grpo",
            "exp_name=push",
            f"hydra.run.dir={run_dir}",
        ]
        proc = run_script(overrides, env=env, timeout=600)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["revisions"]["pushed"] == []
    assert sorted(summary["revisions"]["failed"]) == ["push-step-1", "push-step-2"]
    assert "push of push-step-1 to someone/tiny-grpo failed" in proc.stdout + proc.stderr
    assert Unavailable.seen  # the pushes really went out, to the stand-in endpoint


def test_push_revisions_needs_a_hub_model_id() -> None:
    from rlvr.errors import UserError
    from tests.helpers.config import typed_cfg

    with pytest.raises(UserError, match="callbacks.push_revisions=true needs training.hub_model_id"):
        typed_cfg(["callbacks.push_revisions=true"])
