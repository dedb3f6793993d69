"""A real OpenAI-compatible server on loopback for the tests: ``transformers serve`` (transformers' ``serving``
extra: FastAPI + uvicorn) serving a local model directory on CPU, with a health wait and a clean stop.

    server = TransformersServer(model_dir, log_path).start()
    ...  # POST {server.base_url}/chat/completions with model=server.model
    server.stop()

The server is pinned to the one model (the ``FORCE_MODEL`` argument), so requests must name it (``server.model``,
the directory path). It runs in its own process group, so stopping it reaches whatever it started.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rlvr.cli_runner import ROOT
from tests.helpers.net import free_port

SERVING_MODULES = ("fastapi", "uvicorn", "openai")


def missing_reason() -> str | None:
    """Why ``transformers serve`` cannot run here (None when it can)."""
    missing = [m for m in SERVING_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return (
            f"transformers' serving extra is not installed (missing {', '.join(missing)}): "
            "`uv sync --extra serve` (the dev group includes it)"
        )
    if transformers_cli() is None:
        return "the `transformers` command is not installed next to this interpreter"
    return None


def transformers_cli() -> str | None:
    here = Path(sys.executable).parent / "transformers"
    return str(here) if here.exists() else shutil.which("transformers")


class TransformersServer:
    """``transformers serve MODEL --device cpu`` on a free loopback port."""

    def __init__(self, model: Path, log: Path, port: int | None = None, threads: int = 1) -> None:
        self.model = str(model)
        self.log_path = log
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.health_url = f"http://127.0.0.1:{self.port}/health"
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self._log = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(self.threads)}
        # /v1/models scans the hub cache and fails when it does not exist: give it an empty one
        hub = self.log_path.parent / "hf-hub"
        hub.mkdir(parents=True, exist_ok=True)
        env["HF_HUB_CACHE"] = str(hub)
        return env

    def start(self, timeout: float = 180) -> TransformersServer:
        cli = transformers_cli()
        if cli is None:
            raise RuntimeError("no `transformers` command")
        cmd = [cli, "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"]
        cmd += ["--dtype", "float32", "--log-level", "info"]
        self._log = self.log_path.open("w")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:
                    if response.status == 200:
                        self.startup_seconds = time.monotonic() - started
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"transformers serve not healthy after {timeout:.0f} s:\n{self.log()}")

    def log(self, tail: int = 6000) -> str:
        if self._log is not None and not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (uvicorn shuts down cleanly), then SIGKILL to the process group after ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # ours: started with a new session
        self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def __enter__(self) -> TransformersServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tiny_model_dir(cache_dir: Path, overrides: list[str] | None = None) -> Path:
    """The tiny model the CLI uses with ``overrides`` (default: the FAST one), built in the cache if absent."""
    from rlvr.models import resolve_model_path
    from tests.helpers.cli import FAST
    from tests.helpers.config import typed_cfg

    cfg = typed_cfg(FAST if overrides is None else overrides)
    return Path(resolve_model_path(cfg.model, str(cache_dir)))


@contextmanager
def served_tiny_model(cache_dir: Path, workdir: Path) -> Iterator[TransformersServer]:
    """``transformers serve`` of the FAST tiny model for the length of the block (skips the test without the extra)."""
    import pytest

    if reason := missing_reason():
        pytest.skip(reason)
    server = TransformersServer(tiny_model_dir(cache_dir), workdir / "serve.log").start()
    try:
        yield server
    finally:
        server.stop()
