"""The rubric task: heuristic coverage + similarity, the LLM-judge path against a local HTTP server, and
the rubric / reference-answer columns filled while rows are loaded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from loguru import logger

from rlvr.errors import UserError
from rlvr.rewards import build_reward
from rlvr.tasks.rubric import criteria, parse_judge_score, rubric_criteria, task_fields

RUBRIC = ["States that water boils at 100 degrees Celsius", "Mentions that this holds at sea level pressure"]
REFERENCE = "At sea level pressure, pure water boils at 100 degrees Celsius."
GOOD = "Pure water boils at 100 degrees Celsius, as long as the pressure is the one at sea level."
HALF = "Water boils at 100 degrees Celsius."
OFF = "Cats are small carnivorous mammals."


def rubric_reward(texts: list, **kwargs: object) -> list:
    n = len(texts)
    return build_reward("rubric", kwargs)(completions=texts, rubric=[RUBRIC] * n, reference_answer=[REFERENCE] * n)


def test_scores_order_good_partial_and_off_topic_answers() -> None:
    good, half, off = rubric_reward([GOOD, HALF, OFF])
    assert good > half > off
    assert good >= 0.9 and off < 0.1
    assert all(0.0 <= s <= 1.0 for s in (good, half, off))


def test_keyword_stuffing_does_not_beat_a_real_answer() -> None:
    stuffed = " ".join(w for c in RUBRIC for w in c.split() for _ in range(30))
    good, half, stuffed_score = rubric_reward([GOOD, HALF, stuffed])
    assert stuffed_score < half < good
    assert rubric_reward([stuffed], max_length_ratio=None)[0] > half  # what the length guard prevents


def test_char3_similarity_and_weights() -> None:
    assert rubric_reward([REFERENCE], similarity="char3", coverage_weight=0.0)[0] == pytest.approx(1.0)
    only_coverage = rubric_reward([HALF], similarity_weight=0.0)[0]
    assert only_coverage == pytest.approx(0.5)  # one of two criteria covered


def test_rubric_given_as_a_bulleted_string() -> None:
    text = "- States that water boils at 100 degrees Celsius\n* Mentions sea level pressure\n3) \n"
    assert criteria(text) == ["States that water boils at 100 degrees Celsius", "Mentions sea level pressure"]
    reward = build_reward("rubric", {"similarity_weight": 0.0})
    assert reward(completions=[GOOD], rubric=[text], reference_answer=[None]) == [1.0]


def test_rows_with_neither_rubric_nor_reference_are_not_applicable() -> None:
    reward = build_reward("rubric")
    assert reward(completions=[GOOD, GOOD], rubric=[None, []], reference_answer=["", None]) == [None, None]
    with pytest.raises(UserError, match="rubric"):
        reward(completions=[GOOD], solution=["x"])


def test_each_completion_is_scored_against_its_own_row() -> None:
    rows = [(["Names Paris as the capital"], "Paris is the capital of France."), (RUBRIC, REFERENCE)]
    texts = ["The capital is Paris.", GOOD, OFF, GOOD, "The capital is Paris.", OFF]
    rubric = [rows[0][0]] * 3 + [rows[1][0]] * 3
    reference = [rows[0][1]] * 3 + [rows[1][1]] * 3
    scores = build_reward("rubric")(completions=texts, rubric=rubric, reference_answer=reference)
    assert scores[0] > scores[1] and scores[0] > scores[2]
    assert scores[3] > scores[4] and scores[3] > scores[5]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Good answer.\nScore: 8", 0.8),
        ("**Score:** 10", 1.0),
        ("Score: 7/10", 0.7),
        ("Score: 0.65", 0.65),
        ("9", 0.9),
        ("a score of three\nScore: 3", 0.3),
        ("Score: 14", None),
        ("I cannot grade this.", None),
        ("", None),
    ],
)
def test_parse_judge_score(reply: str, expected: float | None) -> None:
    got = parse_judge_score(reply)
    assert got == (pytest.approx(expected) if expected is not None else None)


# ---------------------------------------------------------------------------------------------
# The judge path, against an OpenAI-compatible server on 127.0.0.1


class JudgeHandler(BaseHTTPRequestHandler):
    mode = "ok"
    requests: list[dict] = []

    def do_POST(self) -> None:  # http.server's method naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        JudgeHandler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.mode == "slow":
            time.sleep(1.5)
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        if self.mode == "malformed":
            payload = b"this is not json"
        elif self.mode == "no_score":
            payload = json.dumps({"choices": [{"message": {"content": "Looks fine to me."}}]}).encode()
        else:
            response = body["messages"][-1]["content"].split("Response to grade:\n")[-1]
            score = 9 if "boils" in response else 2
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": f"Score: {score}"}}]})
            payload = payload.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def judge_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), JudgeHandler)
    server.daemon_threads = True
    JudgeHandler.mode, JudgeHandler.requests = "ok", []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    yield messages
    logger.remove(sink)


def judged(base_url: str, texts: list, timeout: float = 5.0) -> list:
    judge = {"base_url": base_url, "model": "grader", "api_key_env": "RLVR_TEST_JUDGE_KEY", "timeout": timeout}
    n = len(texts)
    prompts = [[{"role": "user", "content": "At what temperature does water boil?"}]] * n
    reward = build_reward("rubric", {"judge": judge})
    return reward(prompts=prompts, completions=texts, rubric=[RUBRIC] * n, reference_answer=[REFERENCE] * n)


def test_judge_scores_each_completion(judge_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLVR_TEST_JUDGE_KEY", "sk-test")
    assert judged(judge_server, [GOOD, OFF, [{"role": "assistant", "content": HALF}]]) == [0.9, 0.2, 0.9]
    request = JudgeHandler.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "grader"
    prompt = request["body"]["messages"][-1]["content"]
    assert "water boil" in prompt and RUBRIC[0] in prompt and REFERENCE in prompt


@pytest.mark.parametrize("mode", ["slow", "malformed", "no_score", "error"])
def test_judge_failures_score_none_and_warn(judge_server: str, warnings: list[str], mode: str) -> None:
    JudgeHandler.mode = mode
    start = time.perf_counter()
    assert judged(judge_server, [GOOD, OFF], timeout=0.3) == [None, None]
    assert time.perf_counter() - start < 1.4  # the timeout, not the slow server, bounds the wait
    assert any("judge" in m and "2 of 2" in m for m in warnings)


def test_unreachable_judge_scores_none(warnings: list[str]) -> None:
    assert judged("http://127.0.0.1:9", [GOOD], timeout=0.5) == [None]
    assert warnings


def test_judge_without_base_url_uses_the_heuristic() -> None:
    reward = build_reward("rubric", {"judge": {"base_url": None, "model": "x"}})
    assert reward(completions=[GOOD], rubric=[RUBRIC], reference_answer=[REFERENCE])[0] >= 0.9
    with pytest.raises(UserError, match="judge"):
        build_reward("rubric", {"judge": {"base_url": "http://x", "colour": "red"}})
    with pytest.raises(UserError, match="similarity"):
        build_reward("rubric", {"similarity": "bleu"})


def test_rubric_criteria_from_text_strings_and_dicts() -> None:
    assert rubric_criteria(None) == [] and rubric_criteria("  ") == []
    assert rubric_criteria("Mentions light") == ["Mentions light"]
    assert rubric_criteria(["a", "", "b"]) == ["a", "b"]
    items = [{"title": "t", "description": "Mentions light"}, {"criterion": "Names CO2"}, {"weight": 2}]
    assert rubric_criteria(items) == ["Mentions light", "Names CO2", "weight: 2"]


def test_task_fields_default_the_reference_to_the_gold() -> None:
    assert task_fields({"rubric": "Mentions light", "solution": "gold"}, "") == {
        "rubric": ["Mentions light"],
        "reference_answer": "gold",
    }
    assert task_fields({"reference_answer": 42, "solution": "gold"}, "")["reference_answer"] == "42"
