"""Every dataset preset loads from a local fixture with that preset's real column names, through the
real Hydra config (compose API + ``dataset.path=<fixture>``), and its rows score 1.0 under the
preset's reward when the completion is the gold answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from rlvr.data.loading import load_datasets
from rlvr.errors import UserError
from rlvr.rewards import build_reward
from tests.helpers.config import typed_cfg

MATH_PROMPT = "Solve the problem step by step. Put the final answer in \\boxed{}."


def load(preset: str, path: Path, *extra: str):
    cfg = typed_cfg([f"dataset={preset}", f"dataset.path={path}", "dataset.eval_size=2", *extra]).dataset
    return load_datasets(cfg, seed=0)


def gold_score(reward: str, rows: Dataset, completion: str = "<answer>{solution}</answer>") -> list:
    """Score each row's own gold answer with ``reward``, called the way TRL calls it."""
    columns = {c: list(rows[c]) for c in rows.column_names if c != "prompt"}
    completions = [[{"role": "assistant", "content": completion.format(solution=s)}] for s in rows["solution"]]
    return build_reward(reward)(completions=completions, prompts=list(rows["prompt"]), **columns)


def write_parquet(rows: list[dict], path: Path) -> Path:
    Dataset.from_list(rows).to_parquet(str(path))
    return path


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_disk(splits: dict[str, list[dict]], path: Path) -> Path:
    DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()}).save_to_disk(str(path))
    return path


def user_turns(row: dict) -> list[str]:
    return [m["content"] for m in row["prompt"] if m["role"] == "user"]


def test_deepscaler_keeps_the_worked_solution_and_uses_answer_as_gold(tmp_path: Path) -> None:
    rows = [
        {"problem": f"What is {i} + {i}?", "answer": str(2 * i), "solution": f"Add: {i}+{i}={2 * i}."}
        for i in range(10)
    ]
    train, held = load("deepscaler", write_parquet(rows, tmp_path / "ds.parquet"))
    assert (len(train), len(held)) == (8, 2)
    row = train[0]
    assert row["prompt"][0] == {"role": "system", "content": MATH_PROMPT}
    assert row["task"] == "math"
    assert row["solution"] == str(2 * int(user_turns(row)[0].split()[2]))
    assert row["reference_solution"].startswith("Add:")
    assert gold_score("accuracy", train, "\\boxed{{{solution}}}") == [1.0] * len(train)


def test_gsm8k_takes_the_number_after_hashes_and_its_test_split(tmp_path: Path) -> None:
    def rows(n: int, offset: int) -> list[dict]:
        return [
            {"question": f"Q{i}: how many?", "answer": f"Work it out.\n#### {1000 + i:,}"}
            for i in range(offset, offset + n)
        ]

    train, held = load("gsm8k", write_disk({"train": rows(6, 0), "test": rows(4, 100)}, tmp_path / "gsm8k"))
    assert len(train) == 6 and len(held) == 2  # eval_split=test, cut to eval_size
    assert sorted(train["solution"]) == [str(1000 + i) for i in range(6)]
    assert all(s.startswith("11") for s in held["solution"])
    assert gold_score("accuracy", train, "\\boxed{{{solution}}}") == [1.0] * 6


def test_math_extracts_the_boxed_answer_from_the_solution_column(tmp_path: Path) -> None:
    """answer_column=solution: the source's own `solution` column is read before it is replaced."""
    row = {"problem": "Half of one?", "solution": "It is $\\boxed{\\frac{1}{2}}$.", "level": "Level 1", "type": "A"}
    data = {"train": [row] * 5 + [{**row, "solution": "no box"}], "test": [row] * 3}
    train, held = load("math", write_disk(data, tmp_path / "math"))
    assert len(train) == 5  # the row without \boxed{} is dropped
    assert set(train["solution"]) == {"\\frac{1}{2}"} and "reference_solution" not in train.column_names
    assert train[0]["level"] == "Level 1"
    assert gold_score("accuracy", train, "\\boxed{{{solution}}}") == [1.0] * 5


def test_answer_column_solution_works_for_any_preset(tmp_path: Path) -> None:
    rows = [{"problem": f"p{i}", "solution": str(i)} for i in range(6)]
    train, held = load("deepscaler", write_jsonl(rows, tmp_path / "d.jsonl"), "dataset.answer_column=solution")
    assert len(train) + len(held) == 6
    assert all(r["solution"] == r["prompt"][-1]["content"][1:] for r in train)


def test_math500(tmp_path: Path) -> None:
    rows = [
        {"problem": f"p{i}", "solution": f"so \\boxed{{{i}}}", "answer": str(i), "subject": "Algebra", "level": 3}
        for i in range(10)
    ]
    train, held = load("math500", write_jsonl(rows, tmp_path / "test.jsonl"))
    assert len(train) + len(held) == 10
    assert all(r["solution"] == r["prompt"][-1]["content"][1:] for r in train)
    assert gold_score("accuracy", held, "\\boxed{{{solution}}}") == [1.0, 1.0]


def test_openr1_math_prompts_from_the_problem_not_the_answered_messages(tmp_path: Path) -> None:
    rows = [
        {
            "problem": f"Compute {i}*3.",
            "solution": "worked",
            "answer": str(3 * i),
            "messages": [{"role": "user", "content": f"Compute {i}*3."}, {"role": "assistant", "content": "x"}],
            "generations": ["<think>..</think> 3"],
            "uuid": f"u{i}",
        }
        for i in range(8)
    ]
    train, _ = load("openr1_math", write_parquet(rows, tmp_path / "o.parquet"))
    assert all(r["prompt"][1]["content"].startswith("Compute") and len(r["prompt"]) == 2 for r in train)
    assert gold_score("accuracy", train, "\\boxed{{{solution}}}") == [1.0] * len(train)


def test_crossword_gets_its_enumeration_from_the_clue(tmp_path: Path) -> None:
    rows = [
        {"problem": "Flower of the river (5)", "answer": "tulip"},
        {"problem": "Sea beast (3,4)", "answer": "sea lion"},
    ]
    train, held = load("crossword", write_jsonl(rows * 3, tmp_path / "cw.jsonl"), "dataset.eval_size=1")
    assert set(train["task"]) == {"crossword"}
    by_answer = {r["solution"]: r["enumeration"] for r in [*train, *held]}
    assert by_answer == {"tulip": "(5)", "sea lion": "(3,4)"}
    assert gold_score("crossword", train) == [1.0] * len(train)


RUSH_SYSTEM = "You are an expert Rush Hour solver. <answer>Bv2,A>1</answer> is the format."


def rush_row(board: str, size: int, moves: int, solution: list[str], with_board: bool = True) -> dict:
    row = {
        "size": size,
        "moves": moves,
        "solution": solution,
        "difficulty": "easy",
        "messages": [
            {"role": "system", "content": RUSH_SYSTEM},
            {"role": "user", "content": f"Board size: {size}x{size}\nBoard: {board}\nOptimal length (moves): {moves}"},
            {"role": "assistant", "content": "<think>\nok\n</think>\n<answer>\n" + ",".join(solution) + "\n</answer>"},
        ],
    }
    return {"board": board, **row} if with_board else row


@pytest.mark.parametrize("with_board", [True, False], ids=["board-column", "board-from-prompt"])
def test_rush_hour_messages_become_prompts_and_boards_become_grids(tmp_path: Path, with_board: bool) -> None:
    # 4x4 row-major board ('o' empty, 'x' wall): the vertical B blocks A and must go down two cells.
    rows = [rush_row("AAoBoooBxooooooo", 4, 2, ["Bv2", "A>2"], with_board)] * 4
    rows += [rush_row("ooAAoooooooooooo", 4, 0, [], with_board)]  # empty solution: dropped
    rows += [rush_row("AAoBoo", 4, 2, ["Bv2", "A>2"], with_board)]  # not a 4x4 board: dropped
    data = {"train": rows, "test": rows[:2]}
    train, held = load("rush_hour", write_disk(data, tmp_path / "rush"))
    assert (len(train), len(held)) == (4, 2)
    row = train[0]
    assert row["board"] == "AA.B\n...B\n#...\n...." and row["solution"] == "Bv2,A>2" and row["moves"] == 2
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]  # assistant turn dropped
    assert row["prompt"][0]["content"] == RUSH_SYSTEM  # the row's own system prompt, nothing injected
    assert "messages" not in train.column_names and row["task"] == "rush_hour"
    assert gold_score("rush_hour_exact", train) == [1.0] * 4
    assert gold_score("rush_hour_shaped", train) == [1.0] * 4


def test_openrubrics_columns_are_settable_from_the_cli(tmp_path: Path) -> None:
    rows = [
        {
            "instruction": f"Explain photosynthesis ({i}).",
            "criteria": [{"title": "light", "description": "Mentions sunlight, water and carbon dioxide"}],
            "response": "Plants use sunlight, water and carbon dioxide to make glucose and oxygen.",
        }
        for i in range(6)
    ]
    path = write_parquet(rows, tmp_path / "rubrics.parquet")
    with pytest.raises(UserError, match=r"dataset\.problem_column: column 'question' not found"):
        load("openrubrics", path)
    overrides = [
        "dataset.problem_column=instruction",
        "dataset.answer_column=response",
        "dataset.columns.rubric=criteria",
    ]
    train, _ = load("openrubrics", path, *overrides)
    row = train[0]
    assert row["task"] == "rubric"
    assert row["rubric"] == ["Mentions sunlight, water and carbon dioxide"]
    assert row["reference_answer"] == rows[0]["response"] == row["solution"]
    scores = gold_score("rubric", train, "{solution}")
    assert all(s is not None and s > 0.9 for s in scores)


def test_rush_hour_synth_rows_are_optimal_and_in_the_preset_format(tmp_path: Path) -> None:
    cfg = typed_cfg(["dataset=rush_hour_synth", "dataset.generator_kwargs.n_train=24", "dataset.eval_size=6"]).dataset
    train, held = load_datasets(cfg, seed=0)
    assert (len(train), len(held)) == (24, 6)
    assert not set(train["board"]) & set(held["board"])
    sizes = {len(b.splitlines()) for b in train["board"]}
    assert sizes <= {4, 5, 6} and len(sizes) > 1
    assert all(2 <= m <= 6 and m == len(s.split(",")) for m, s in zip(train["moves"], train["solution"], strict=True))
    row = train[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert "<answer>B^1,A>2</answer>" in row["prompt"][0]["content"]  # the rules' example survives
    assert row["board"] in row["prompt"][1]["content"] and "\n" in row["board"]
    assert gold_score("rush_hour_exact", train) == [1.0] * 24
    again, _ = load_datasets(cfg, seed=0)
    assert again["board"] == train["board"]  # seeded


def test_arith_rows_are_labelled_math(tmp_path: Path) -> None:
    cfg = typed_cfg(["dataset.generator_kwargs.n_train=20", "dataset.eval_size=5"]).dataset
    train, held = load_datasets(cfg, seed=0)
    assert (len(train), len(held)) == (20, 5) and set(train["task"]) == {"math"}
    assert gold_score("accuracy", train, "\\boxed{{{solution}}}") == [1.0] * 20


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("dataset.answer_column=gold", r"dataset\.answer_column: column 'gold' not found in .*available columns"),
        ("dataset.problem_column=text", r"dataset\.problem_column: column 'text' not found"),
        ("dataset.prompt_column=messages", r"dataset\.prompt_column: column 'messages' not found"),
        ("+dataset.columns.rubric=crit", r"dataset\.columns\.rubric: column 'crit' not found"),
        ("dataset.answer_format=latex", r"dataset\.answer_format: 'latex' is not one of"),
    ],
)
def test_bad_columns_name_the_key_to_fix(tmp_path: Path, override: str, key: str) -> None:
    path = write_jsonl([{"problem": "p", "answer": "1"}] * 4, tmp_path / "d.jsonl")
    with pytest.raises(UserError, match=key) as err:
        load("deepscaler", path, override)
    assert "\n" not in str(err.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"dataset\.path: file .*nope\.parquet does not exist"):
        load("deepscaler", tmp_path / "nope.parquet")


def test_malformed_messages_column_is_a_user_error(tmp_path: Path) -> None:
    path = write_parquet([{"messages": 3, "solution": "A>1"}] * 3, tmp_path / "bad.parquet")
    with pytest.raises(UserError, match=r"dataset\.prompt_column: column 'messages' holds int cells"):
        load("rush_hour", path, "dataset.eval_split=null")
