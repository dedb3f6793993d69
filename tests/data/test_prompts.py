"""Prompt processing: system prompt only when absent, <think>/<answer> stripping in user turns,
assistant turns dropped, empty rows dropped, long prompts filtered with a real tokenizer; each
filter logs what it removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset
from loguru import logger

from rlvr.data.loading import load_datasets
from rlvr.data.prompts import (
    clean_messages,
    filter_long_prompts,
    filter_prompts_by_length,
    prompt_lengths,
    strip_reasoning_tags,
)
from rlvr.errors import UserError
from rlvr.tiny_model import build_tokenizer
from tests.helpers.config import typed_cfg

SYSTEM = "Be brief."


@pytest.fixture
def logs() -> list[str]:
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="INFO")
    yield messages
    logger.remove(sink)


def load_rows(tmp_path: Path, rows: list[dict], *overrides: str):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = typed_cfg(
        [
            "dataset=deepscaler",
            f"dataset.path={path}",
            f"dataset.system_prompt='{SYSTEM}'",
            "dataset.eval_size=0",
            *overrides,
        ]
    ).dataset
    return load_datasets(cfg, seed=0)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is 2+2?", "What is 2+2?"),
        ("What is 2+2?\n<think>it is 4</think>", "What is 2+2?"),
        ("<answer>4</answer>What is 2+2?", "What is 2+2?"),
        ("Q <THINK>\nmulti\nline\n</THINK> and <answer>x</answer> end", "Q  and  end"),
        ("dangling </think> tag <answer>", "dangling  tag"),
        ("a <think>one</think> b <think>two</think> c", "a  b  c"),
    ],
)
def test_strip_reasoning_tags(text: str, expected: str) -> None:
    assert strip_reasoning_tags(text) == expected


def test_clean_messages_rules() -> None:
    msgs = [
        {"role": "system", "content": "Own rules: <answer>A>1</answer>"},
        {"role": "user", "content": "Board <think>leak</think>"},
        {"role": "assistant", "content": "<answer>A>1</answer>"},
    ]
    out, flags = clean_messages(msgs, SYSTEM)
    assert out == [msgs[0], {"role": "user", "content": "Board"}]  # system kept verbatim, no injection
    assert flags == {"dropped_assistant": True, "stripped": True, "injected": False}
    out, flags = clean_messages([{"role": "user", "content": "hi"}], SYSTEM)
    assert out[0] == {"role": "system", "content": SYSTEM} and flags["injected"]
    out, flags = clean_messages([{"role": "user", "content": "hi"}], None)
    assert out == [{"role": "user", "content": "hi"}] and not any(flags.values())


def test_messages_column_is_cleaned_and_every_change_logged(tmp_path: Path, logs: list[str]) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "Add 1 and 2."}], "answer": "3"},
        {
            "messages": [{"role": "system", "content": "Mine."}, {"role": "user", "content": "Add 2 and 2."}],
            "answer": "4",
        },
        {
            "messages": [
                {"role": "user", "content": "Add 3 and 3. <think>hmm</think>"},
                {"role": "assistant", "content": "<answer>6</answer>"},
            ],
            "answer": "6",
        },
        {"messages": [{"role": "user", "content": "Add 5 and 5."}], "answer": ""},  # empty answer
        {"messages": [{"role": "user", "content": "<think>only</think>"}], "answer": "1"},  # nothing left to ask
        {"messages": [{"role": "assistant", "content": "no user"}], "answer": "1"},
    ]
    data = load_rows(tmp_path, rows, "dataset.prompt_column=messages")
    by_answer = {r["solution"]: r["prompt"] for r in data}
    assert sorted(by_answer) == ["3", "4", "6"]
    assert by_answer["3"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Add 1 and 2."}]
    assert by_answer["4"][0] == {"role": "system", "content": "Mine."}  # not replaced
    assert by_answer["6"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Add 3 and 3."}]
    text = "\n".join(logs)
    assert "dropped assistant turns from the prompts of 2 of 6 rows" in text
    assert "stripped <think>/<answer> blocks from the user turns of 2 of 6 rows" in text
    assert "injected the system prompt into 5 of 6 rows" in text
    assert "dropped 2 of 6 rows with an empty prompt (no user turn)" in text
    assert "dropped 1 of 4 rows with an empty answer" in text


def test_json_text_messages_are_read(tmp_path: Path) -> None:
    rows = [{"messages": json.dumps([{"role": "user", "content": f"Q{i}"}]), "answer": str(i)} for i in range(3)]
    data = load_rows(tmp_path, rows, "dataset.prompt_column=messages")
    assert [r["prompt"][-1]["content"] for r in data] == [f"Q{r['solution']}" for r in data]


def test_problem_text_is_stripped_too(tmp_path: Path) -> None:
    rows = [{"problem": "Add 1 and 2.<answer>3</answer>", "answer": "3"}]
    data = load_rows(tmp_path, rows)
    assert data[0]["prompt"][-1]["content"] == "Add 1 and 2."


def rows_of_lengths(lengths: list[int]) -> Dataset:
    return Dataset.from_list(
        [{"prompt": [{"role": "user", "content": "x" * n}], "solution": "1", "task": "math"} for n in lengths]
    )


def test_long_prompts_are_filtered_after_the_chat_template(logs: list[str]) -> None:
    tokenizer = build_tokenizer()  # character-level: one token per character, plus the template's
    data = rows_of_lengths([5, 50, 100, 500])
    lengths = prompt_lengths(data, tokenizer)
    overhead = lengths[0] - 5
    assert overhead > 0 and lengths == [n + overhead for n in (5, 50, 100, 500)]
    kept = filter_long_prompts(data, tokenizer, 100 + overhead)
    assert [len(r["prompt"][0]["content"]) for r in kept] == [5, 50, 100]
    assert any("dropped 1 of 4 rows with prompts longer than dataset.max_prompt_length" in m for m in logs)
    assert filter_long_prompts(data, tokenizer, None) is data


def test_length_filter_applies_to_both_splits_and_refuses_an_empty_train_split() -> None:
    tokenizer = build_tokenizer()
    train, held = filter_prompts_by_length(rows_of_lengths([5, 500]), rows_of_lengths([5, 5, 500]), tokenizer, 100)
    assert (len(train), len(held)) == (1, 2)
    with pytest.raises(UserError, match=r"dataset\.max_prompt_length: every one of 2 training prompts"):
        filter_prompts_by_length(rows_of_lengths([300, 500]), rows_of_lengths([5]), tokenizer, 100)
    with pytest.raises(UserError, match=r"dataset\.max_prompt_length"):
        filter_prompts_by_length(rows_of_lengths([5]), rows_of_lengths([5]), tokenizer, 0)
