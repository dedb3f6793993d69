"""exp/generate.py end to end against a real OpenAI-compatible server (``transformers serve`` of the tiny model on
loopback), the client's retries against a scripted stdlib server, and the rubric judge against the real server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from rlvr.cli_runner import ROOT, run_script
from rlvr.datagen.client import ChatClient, RequestFailed
from rlvr.datagen.writer import read_done, read_rows
from tests.helpers.cli import FAST, cli_env, run_cli
from tests.helpers.net import free_port
from tests.helpers.serve import served_tiny_model

SCRIPT = "exp/generate.py"
SECRET = "sk-test-never-written-7f3a"


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with served_tiny_model(cache_dir, tmp_path_factory.mktemp("serve")) as s:
        yield s


def overrides(server, out: Path, *extra: str) -> list[str]:
    return [
        f"generate.base_url={server.base_url}",
        f"generate.model={server.model}",
        f"generate.output={out}",
        "generate.max_tokens=16",
        "generate.progress=false",
        *extra,
    ]


def env(cache_dir: Path) -> dict[str, str]:
    return cli_env(cache_dir, OMP_NUM_THREADS="1", OPENAI_API_KEY=SECRET)


# ------------------------------------------------------------------------------------------ end to end, real server
@pytest.mark.slow
def test_generate_writes_every_row_with_scores(server, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    args = overrides(server, out, "generate.num_samples=2", "generate.max_prompts=12", "generate.score=true")
    proc = run_script([*args, "generate.format=parquet"], script=SCRIPT, env=env(cache_dir), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = read_rows(out)
    assert len(rows) == 12 and sorted(r["index"] for r in rows) == list(range(12))
    for r in rows:
        assert r["prompt"][-1]["role"] == "user" and r["solution"] and r["task"] == "math"
        assert len(r["completions"]) == len(r["finish_reasons"]) == len(r["completion_tokens"]) == 2
        assert all(reason in ("stop", "length") for reason in r["finish_reasons"])
        assert r["prompt_tokens"] > 0 and r["total_completion_tokens"] > 0
        assert len(r["scores"]["accuracy"]) == 2 and len(r["correctness"]) == 2
        assert all(s in (0.0, 1.0) for s in r["correctness"])
    table = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(table) == 12 and list(table["index"]) == list(range(12))
    for path in (out, out.with_suffix(".parquet")):
        assert SECRET.encode() not in path.read_bytes()
    assert SECRET not in proc.stdout + proc.stderr
    again = run_script(args, script=SCRIPT, env=env(cache_dir), timeout=300)  # complete: nothing to do
    assert again.returncode == 0 and "0 to sample" in again.stdout + again.stderr
    assert len(read_rows(out)) == 12


@pytest.mark.slow
def test_dataset_columns_named_like_the_resume_keys_do_not_break_resume(
    server, cache_dir: Path, tmp_path: Path
) -> None:
    """A local dataset with its own ``id``, ``index``, ``split`` and ``model`` columns: the second run samples
    nothing (the resume keys are ours), and the dataset's values are kept as ``data_<name>``."""
    data = tmp_path / "data.jsonl"
    rows = [{"problem": f"{a}+3", "answer": str(a + 3), "id": f"q{a}", "index": 100 + a, "split": "x", "model": "m"}
            for a in range(3)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "samples.jsonl"
    dataset = ["dataset=deepscaler", f"dataset.path={data}", "dataset.eval_size=0", "generate.max_prompts=3"]
    args = overrides(server, out, *dataset)
    for expected in ("3 to sample", "0 to sample"):
        proc = run_script(args, script=SCRIPT, env=env(cache_dir), timeout=300)
        assert proc.returncode == 0 and expected in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    written = read_rows(out)
    assert len(written) == 3 and sorted(r["index"] for r in written) == [0, 1, 2]
    assert sorted(r["data_id"] for r in written) == ["q0", "q1", "q2"]
    assert {r["data_model"] for r in written} == {"m"} and {r["model"] for r in written} == {server.model}
    assert sorted(r["data_index"] for r in written) == [100, 101, 102] and {r["split"] for r in written} == {"train"}


@pytest.mark.slow
def test_generate_killed_then_resumed_without_duplicates_or_gaps(server, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    n = 80
    args = overrides(server, out, "generate.num_samples=2", f"generate.max_prompts={n}", "generate.concurrency=1")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / SCRIPT), *args],
        cwd=ROOT,
        env=env(cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(read_rows(out)) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "generate.py finished before it could be killed"
    first = read_rows(out)
    assert 5 <= len(first) < n
    with out.open("a") as f:  # a row torn by the kill
        f.write('{"id": "train-79-torn", "completions": ["\\boxed{1')
    resumed = run_script(args, script=SCRIPT, env=env(cache_dir), timeout=300)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert "torn last line" in log and f"{len(first)} already in" in log
    rows = read_rows(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == n
    assert sorted(r["index"] for r in rows) == list(range(n))
    assert rows[: len(first)] == first  # the first run's rows are kept as written
    assert read_done(out) == set(ids)


def test_generate_bad_input_is_one_line(tmp_path: Path) -> None:
    proc = run_script(["generate.num_samples=0", "generate.model=m"], script=SCRIPT, timeout=120)
    assert proc.returncode == 2 and "generate.num_samples must be >= 1" in proc.stdout + proc.stderr
    proc = run_script([], script=SCRIPT, timeout=120)  # the tiny model is not a served model name
    assert proc.returncode == 2 and "generate.model" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------- retries and backoff
TORN = -1  # in a script: a reply that stops mid-body


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted status (200 after the script ends)."""

    script: list[int] = []
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"body": body, "auth": self.headers.get("Authorization")})
        status = type(self).script.pop(0) if type(self).script else 200
        if status == TORN:  # a 200 whose body is cut off: the connection drops before Content-Length bytes came
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "400")
            self.end_headers()
            self.wfile.write(b'{"choices": [{"index": 0, "mess')
            self.wfile.flush()
            self.close_connection = True
            return
        if status == 200:
            reply = {
                "choices": [{"index": 0, "message": {"content": "\\boxed{3}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4},
            }
            data = json.dumps(reply).encode()
        else:
            data = b'{"error": "scripted"}'
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Scripted.script, Scripted.seen = [], []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_client_retries_5xx_and_429_then_succeeds(scripted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLVR_TEST_KEY", "k-123")
    Scripted.script = [503, 429, 500]
    client = ChatClient(scripted, "m", api_key_env="RLVR_TEST_KEY", max_retries=3, backoff=0.01)
    reply = client.chat([{"role": "user", "content": "1+2"}], n=2, max_tokens=8)
    assert client.retries == 3 and len(Scripted.seen) == 4
    assert reply.choices[0].text == "\\boxed{3}" and reply.prompt_tokens == 5 and reply.completion_tokens == 4
    assert Scripted.seen[-1]["body"]["n"] == 2 and Scripted.seen[-1]["body"]["model"] == "m"
    assert Scripted.seen[-1]["auth"] == "Bearer k-123"


def test_client_retries_a_reply_cut_off_mid_body(scripted: str) -> None:
    """A dropped connection mid-body (``http.client.IncompleteRead``) is retried like any transient failure."""
    Scripted.script = [TORN, TORN]
    client = ChatClient(scripted, "m", api_key_env=None, max_retries=3, backoff=0.01)
    reply = client.chat([{"role": "user", "content": "1+2"}], n=1, max_tokens=8)
    assert client.retries == 2 and len(Scripted.seen) == 3
    assert reply.choices[0].text == "\\boxed{3}"


def test_client_gives_up_after_retries_and_not_on_400(scripted: str) -> None:
    Scripted.script = [502] * 10
    client = ChatClient(scripted, "m", api_key_env=None, max_retries=2, backoff=0.01)
    with pytest.raises(RequestFailed, match="gave up after 3 attempts: HTTP 502"):
        client.chat([{"role": "user", "content": "x"}])
    Scripted.script, Scripted.seen = [400], []
    with pytest.raises(RequestFailed, match="HTTP 400"):
        client.chat([{"role": "user", "content": "x"}])
    assert len(Scripted.seen) == 1 and Scripted.seen[0]["auth"] is None


def test_client_retries_connection_errors() -> None:
    client = ChatClient(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=2, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(RequestFailed, match="gave up after 3 attempts"):
        client.chat([{"role": "user", "content": "x"}])
    assert client.retries == 2 and time.monotonic() - start < 10


# ----------------------------------------------------------------------------------- the rubric judge, real server
@pytest.mark.slow
def test_rubric_judge_against_served_model(server) -> None:
    from loguru import logger

    from rlvr.rewards import build_reward
    from rlvr.tasks.rubric import Judge, parse_judge_score

    judge = Judge(base_url=server.base_url, model=server.model, timeout=60, max_tokens=16)
    messages = judge.messages("What is 2+2?", ["says 4"], "4", "It is 4.")
    try:  # the request/response path works; a tiny model's reply rarely holds a score
        score = judge.ask(messages)
        assert 0.0 <= score <= 1.0
    except ValueError as err:
        assert "no score in the judge reply" in str(err)
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    try:
        reward = build_reward(
            "rubric", {"judge": {"base_url": server.base_url, "model": server.model, "max_tokens": 16}}
        )
        prompt = [{"role": "user", "content": "What is 2+2?"}]
        scores = reward(
            completions=[[{"role": "assistant", "content": "4"}]] * 2,
            prompts=[prompt] * 2,
            rubric=[["says 4"]] * 2,
            reference_answer=["4", "4"],
        )
    finally:
        logger.remove(sink)
    assert len(scores) == 2
    for s in scores:
        assert s is None or 0.0 <= s <= 1.0
    if None in scores:
        assert any("gradings failed" in w and "no score in the judge reply" in w for w in warnings)
    assert parse_judge_score("\\boxed{4}") is None
    assert 'POST /v1/chat/completions HTTP/1.1" 200' in server.log()


@pytest.mark.slow
def test_generate_filter_sft_then_grpo(server, cache_dir: Path, tmp_path: Path) -> None:
    """generate (scored) -> SFT on the kept completions -> GRPO from the SFT model, each through its CLI."""
    env = cli_env(cache_dir, OMP_NUM_THREADS="1")
    samples = tmp_path / "samples.jsonl"
    gen = run_script(
        [
            f"generate.base_url={server.base_url}",
            f"generate.model={server.model}",
            f"generate.output={samples}",
            "generate.num_samples=2",
            "generate.max_prompts=16",
            "generate.max_tokens=16",
            "generate.score=true",
            "generate.progress=false",
        ],
        script="exp/generate.py",
        env=env,
        timeout=300,
    )
    assert gen.returncode == 0, gen.stdout[-3000:] + gen.stderr[-3000:]
    # The FAST tiny model (20 warm-up steps) rarely solves a problem: keep every scored completion (min_score=0);
    # test_sft_examples_filter_by_score covers the filter itself.
    sft_root = tmp_path / "outputs"
    sft = run_script(
        [
            f"sft.data={samples}",
            "sft.min_score=0.0",
            "sft.max_steps=3",
            "sft.per_device_train_batch_size=8",
            f"paths.output_root={sft_root}",
            *[o for o in FAST if o.startswith("model.")],
        ],
        script="exp/sft_train.py",
        env=env,
        timeout=300,
    )
    assert sft.returncode == 0, sft.stdout[-3000:] + sft.stderr[-3000:]
    (run_dir,) = (sft_root / "sft").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["examples"] > 0 and summary["completions_in_data"] == 32
    assert (run_dir / "train.log").stat().st_size > 0 and (run_dir / ".hydra" / "config.yaml").exists()
    model = run_dir / "model"
    assert (model / "config.json").exists() and (model / "model.safetensors").exists()
    assert (model / "tokenizer.json").exists() and (model / "chat_template.jinja").exists()
    grpo = run_cli([*FAST, f"model.name_or_path={model}", f"paths.output_root={tmp_path / 'grpo'}"], cache_dir)
    assert grpo.returncode == 0, grpo.stdout[-3000:] + grpo.stderr[-3000:]
    (grpo_dir,) = (tmp_path / "grpo" / "default").iterdir()
    grpo_summary = json.loads((grpo_dir / "summary.json").read_text())
    assert grpo_summary["steps"] == 2 and grpo_summary["model"] == str(model)
