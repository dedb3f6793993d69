"""The server path on vLLM's CPU build: ``trl vllm-serve`` (what ``slurm/train_multinode.sbatch`` runs)
on the tiny model on a loopback port, clients, our CLI in ``vllm_mode=server``, and shutdown.

One server for the module (starting one takes ~40-90 s on 2 cores). What cannot run here: the weight
transfer itself. TRL's ``VLLMClient.init_communicator`` joins the server's NCCL group, which needs CUDA;
on CPU it stops with ``NotImplementedError`` before any NCCL call. The tests check everything up to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import FAST
from tests.helpers.net import port_open
from tests.helpers.vllm_env import (
    VLLM_OVERRIDES,
    VLLMServer,
    env_result,
    http_json,
    run_train,
)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

NCCL_NEEDS_CUDA = "needs a CUDA device"  # TRL 1.16's VLLMClient.init_communicator on a CPU device


@pytest.fixture(scope="module")
def server(vllm_tiny_model: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    srv = VLLMServer(vllm_tiny_model, log, cache_dir)
    try:
        srv.wait_healthy(timeout=400)
        print(f"vLLM server healthy after {srv.startup_seconds:.0f} s")
        yield srv
    finally:
        srv.stop()


def test_server_serves_the_model(server: VLLMServer) -> None:
    models = http_json(f"{server.base_url}/v1/models")
    assert [m["id"] for m in models["data"]] == [str(server.model)]
    # trl vllm-serve turned on what TRL's trainer needs: dev-mode endpoints and the NCCL weight transfer.
    info = http_json(f"{server.base_url}/server_info?config_format=json")["vllm_config"]
    assert info["weight_transfer_config"] == {"backend": "nccl"}, info["weight_transfer_config"]
    assert http_json(f"{server.base_url}/get_world_size") == {"world_size": 1}


def test_openai_chat_completion(server: VLLMServer) -> None:
    """A plain OpenAI-style request with the tiny model's own chat template."""
    payload = {
        "model": str(server.model),
        "messages": [{"role": "user", "content": "47+38"}],
        "max_tokens": 12,
        "temperature": 0,
    }
    answer = http_json(f"{server.base_url}/v1/chat/completions", payload)
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    assert 0 < answer["usage"]["completion_tokens"] <= 12


CLIENT = """
import json, sys
from trl.generation.vllm_client import VLLMClient
from transformers import AutoTokenizer

client = VLLMClient(base_url=sys.argv[1], connection_timeout=30)
tok = AutoTokenizer.from_pretrained(sys.argv[2])
prompt = tok.apply_chat_template([{"role": "user", "content": "12+34"}], add_generation_prompt=True, tokenize=True)
prompt = prompt["input_ids"] if hasattr(prompt, "keys") else prompt  # a BatchEncoding in transformers 5
out = client.generate([prompt, prompt], n=4, max_tokens=8, temperature=1.0, logprobs=0)
client.reset_prefix_cache()
result = {
    "world_size": client.get_world_size(),
    "prompt_ids": out["prompt_ids"],
    "prompt": prompt,
    "completion_lengths": [len(c) for c in out["completion_ids"]],
    "logprob_lengths": [len(lp) for lp in out["logprobs"]],
}
try:
    client.init_communicator(device="cpu")
except NotImplementedError as err:
    result["init_communicator"] = str(err)
print("RESULT=" + json.dumps(result))
"""


def test_trl_client_generates(server: VLLMServer, cache_dir: Path) -> None:
    """TRL's ``VLLMClient`` (what the trainer uses in server mode), from the vLLM env: token-id prompts,
    n completions per prompt with their log-probs, prefix-cache reset; weight sync stops at NCCL."""
    result = env_result(["-c", CLIENT, server.base_url, str(server.model)], cache_dir)
    assert result["world_size"] == 1
    assert result["prompt_ids"] == [result["prompt"]] * 2
    assert len(result["completion_lengths"]) == 8 and all(0 < n <= 8 for n in result["completion_lengths"])
    assert result["logprob_lengths"] == result["completion_lengths"]
    assert NCCL_NEEDS_CUDA in result["init_communicator"]


def test_cli_server_mode_connects(server: VLLMServer, cache_dir: Path, tmp_path: Path) -> None:
    """Our CLI with ``training.vllm_mode=server``: host, port and timeout reach TRL, the trainer finds the
    server, reads its model, config and world size, then stops where weight sync needs NCCL (CUDA)."""
    before = server.log(tail=10**9).count("GET /get_world_size")
    overrides = [*FAST, *VLLM_OVERRIDES, "training.vllm_mode=server", "training.vllm_server_host=127.0.0.1"]
    overrides += [f"training.vllm_server_port={server.port}", "training.vllm_server_timeout=60"]
    proc = run_train([*overrides, f"hydra.run.dir={tmp_path / 'run'}"], cache_dir, timeout=400)
    assert proc.returncode != 0 and NCCL_NEEDS_CUDA in proc.stdout, proc.stdout[-5000:]
    log = server.log(tail=10**9)
    assert log.count("GET /get_world_size") == before + 1, log[-3000:]
    assert '"GET /server_info?config_format=json HTTP/1.1" 200' in log


def test_server_stops_cleanly(server: VLLMServer) -> None:
    """SIGTERM to the server process (what the sbatch script's ``kill`` does): the API server and its
    engine process exit, the port is released. Runs last in this module."""
    status = server.stop(timeout=60)
    assert not server.killed, f"vLLM did not stop within 60 s of SIGTERM:\n{server.log()}"
    assert status is not None and not server.group_alive()
    assert not port_open(server.port)
    print(f"vLLM server stopped {server.stop_seconds:.1f} s after SIGTERM (exit status {status})")
