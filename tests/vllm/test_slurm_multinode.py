"""``slurm/train_multinode.sbatch`` against a real local SLURM of two nodes, with vLLM's CPU build.

The script needs two nodes (trainers + a vLLM node). ``TwoNodeSlurm`` runs two ``slurmd`` on this
machine (Debian's slurm-wlm is built with multiple-slurmd support), under two node names that both
resolve to loopback: the real host name and ``localhost``. The job runs the script unchanged: the
last node starts ``trl vllm-serve`` on the tiny model, the first runs ``accelerate launch
exp/grpo_train.py ... training.vllm_mode=server``; the trainer waits for the server, connects, and
stops where weight sync needs NCCL (CUDA), so the job ends FAILED with status 1 after the script
has shut the server down. What is checked: the server start, the trainer reaching it, the shutdown.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import FAST
from tests.helpers.net import free_port, port_open
from tests.helpers.slurm_cluster import LocalSlurm, _which, missing_binaries
from tests.helpers.vllm_env import CPU_SITE, ENV_DIR, SERVER_ARGS

pytestmark = [pytest.mark.vllm, pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DONE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE")
NCCL_NEEDS_CUDA = "needs a CUDA device"


def second_node_name(first: str) -> str | None:
    """A second name for this machine that resolves to loopback (the trainer connects to the node by name)."""
    try:
        ok = socket.gethostbyname("localhost").startswith("127.")
    except OSError:
        ok = False
    return "localhost" if ok and first != "localhost" else None


class TwoNodeSlurm(LocalSlurm):
    """``LocalSlurm`` with two nodes on this machine: one ``slurmd -N <name>`` each, own port, spool,
    pid and log file (``%n``)."""

    def __init__(self, root: Path, second: str) -> None:
        super().__init__(root)
        self.nodes = [self.node, second]

    def write_config(self) -> None:
        super().write_config()
        r = self.root
        lines = []
        for line in self.conf.read_text().splitlines():
            if line.startswith("NodeName="):
                hw = line.split("NodeAddr=127.0.0.1 ", 1)[1]
                lines += [
                    f"NodeName={n} NodeHostname={self.node} NodeAddr=127.0.0.1 Port={free_port()} {hw}"
                    for n in self.nodes
                ]
            elif line.startswith("SlurmdSpoolDir="):
                lines.append(f"SlurmdSpoolDir={r / 'spool'}/%n")
            elif line.startswith("SlurmdPidFile="):
                lines.append(f"SlurmdPidFile={r / 'slurmd-%n.pid'}")
            elif line.startswith("SlurmdLogFile="):
                lines.append(f"SlurmdLogFile={r / 'log' / 'slurmd-%n.log'}")
            else:
                lines.append(line)
        self.conf.write_text("\n".join(lines) + "\n")
        for n in self.nodes:
            (r / "spool" / n).mkdir(parents=True, exist_ok=True)

    def start_nodes(self, timeout: float) -> None:
        for i, n in enumerate(self.nodes):
            self._spawn(f"slurmd{i}", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", n])
        self._wait(self._nodes_idle, timeout, "both slurmd to register idle nodes")

    def _nodes_idle(self) -> bool:
        states = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
        return len(states) == 2 and all(s.startswith(("idle", "mixed")) for s in states)

    def stop(self) -> None:
        # the base class stops slurmd, slurmctld, munged by name: hand it our second slurmd first
        for name in [k for k in self.procs if k.startswith("slurmd")]:
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        super().stop()


@pytest.fixture(scope="module")
def two_nodes(vllm_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodeSlurm]:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} not found): apt-get install slurm-wlm munge")
    second = second_node_name(socket.gethostname().split(".")[0])
    if second is None:
        pytest.skip("no second host name resolving to loopback (localhost) for the second SLURM node")
    cluster = TwoNodeSlurm(tmp_path_factory.mktemp("slurm2"), second)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_multinode_sbatch_starts_vllm_server(
    two_nodes: TwoNodeSlurm, vllm_tiny_model: Path, cache_dir: Path, tmp_path: Path
) -> None:
    run_dir, log = tmp_path / "run", tmp_path / "job.out"
    port = free_port()
    env = {
        "PATH": f"{ENV_DIR / 'bin'}:{two_nodes.env['PATH']}",
        "VIRTUAL_ENV": str(ENV_DIR),
        "PYTHONPATH": str(CPU_SITE),
        "RLVR_UV_RUN": "",  # the vLLM env's python/trl/accelerate from PATH, as with an activated venv
        "RLVR_RUN_DIR": str(run_dir),
        "RLVR_GPUS": "1",  # the script refuses GPU-less nodes; one "GPU" -> TP 1 x DP 1, one trainer process
        "RLVR_VLLM_MODEL": str(vllm_tiny_model),
        "RLVR_VLLM_PORT": str(port),
        "RLVR_VLLM_ARGS": " ".join(SERVER_ARGS),
        "RLVR_CACHE_DIR": str(cache_dir),
        "WANDB_MODE": "offline",
        "HF_HUB_OFFLINE": "1",
    }
    start = time.monotonic()
    job = two_nodes.sbatch(
        "--job-name=rlvr-mn-test",
        "--nodes=2",
        "--gpus-per-node=0",
        "--cpus-per-task=1",
        f"--output={log}",
        str(ROOT / "slurm" / "train_multinode.sbatch"),
        *FAST,
        "training.vllm_server_timeout=500",  # after the script's own 1800: ours wins
        cwd=ROOT,
        env=env,
    )
    info = two_nodes.wait_job(job, DONE, timeout=700)
    text = log.read_text(errors="replace") if log.exists() else "(no job log)"
    print(f"multinode job {job}: {info.get('JobState')} {info.get('ExitCode')} after {time.monotonic() - start:.0f} s")

    nodes = two_nodes.run("scontrol", "show", "hostnames", info["NodeList"]).stdout.split()
    assert len(nodes) == 2, info
    assert f"vLLM on {nodes[-1]} (TP 1 x DP 1) serving {vllm_tiny_model}" in text, text[-5000:]
    assert "Application startup complete" in text, text[-5000:]  # trl vllm-serve came up on the vLLM node
    assert '"GET /get_world_size HTTP/1.1" 200' in text, text[-5000:]  # the trainer node reached it
    assert NCCL_NEEDS_CUDA in text, text[-5000:]  # ... and stopped at the NCCL weight sync (CPU)
    assert "training exited with status 1" in text, text[-5000:]
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "1:0", info
    assert not port_open(port), "the vLLM server outlived the job"
