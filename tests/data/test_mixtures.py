"""Dataset mixtures: sources concatenated and shuffled with the seed, proportions as weighted
(fractions and counts), task labels kept for reward routing, a held-out split from every source."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from rlvr.config import RewardSpec
from rlvr.data.loading import load_datasets
from rlvr.data.mixtures import rows_for_weight
from rlvr.errors import UserError
from rlvr.rewards import build_rewards
from tests.helpers.config import typed_cfg


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_offline_mixture_counts_tasks_and_held_out() -> None:
    cfg = typed_cfg(
        [
            "dataset=mixture_arith_rush",
            "dataset.sources.0.weight=90",
            "dataset.sources.1.weight=30",
            "dataset.eval_size=6",
        ]
    ).dataset
    train, held = load_datasets(cfg, seed=0)
    assert Counter(train["task"]) == {"math": 90, "rush_hour": 30}  # counts: exact
    assert Counter(held["task"]) == {"math": 6, "rush_hour": 6}  # one carve-out per source
    # shuffled together: every quarter of the train split holds both tasks near the 25% rush share
    for start in range(0, 120, 30):
        share = Counter(train[start : start + 30]["task"])["rush_hour"] / 30
        assert 0.05 <= share <= 0.5, (start, share)
    rush = train.filter(lambda r: r["task"] == "rush_hour")
    assert all(r["board"] and r["moves"] >= 2 for r in rush)
    assert all(r["prompt"][0]["role"] == "system" for r in rush)  # the rush source's system prompt
    arith = train.filter(lambda r: r["task"] == "math")
    assert all(len(r["prompt"]) == 1 and r["board"] is None for r in arith)  # arith: no system prompt
    # routed rewards: each reward scores exactly the rows of its task
    funcs, _ = build_rewards([RewardSpec(name="accuracy"), RewardSpec(name="rush_hour_exact")])
    columns = {c: list(train[c]) for c in train.column_names if c != "prompt"}
    gold = [
        f"\\boxed{{{s}}}" if t == "math" else f"<answer>{s}</answer>"
        for s, t in zip(train["solution"], train["task"], strict=True)
    ]
    acc, rush_exact = (f(completions=gold, **columns) for f in funcs)
    assert [a is not None for a in acc] == [t == "math" for t in train["task"]]
    assert [r is not None for r in rush_exact] == [t == "rush_hour" for t in train["task"]]
    assert all(s == 1.0 for s in [*acc, *rush_exact] if s is not None)


def test_mixture_is_seeded() -> None:
    overrides = ["dataset=mixture_arith_rush", "dataset.sources.0.weight=40", "dataset.sources.1.weight=10"]
    cfg = typed_cfg([*overrides, "dataset.eval_size=2"]).dataset
    first, _ = load_datasets(cfg, seed=0)
    again, _ = load_datasets(cfg, seed=0)
    other, _ = load_datasets(cfg, seed=1)
    assert first["solution"] == again["solution"]
    assert first["task"] != other["task"] or first["solution"] != other["solution"]


def test_fraction_weights_and_hub_preset_columns_from_local_fixtures(tmp_path: Path) -> None:
    """mixture_math_rush with its sources pointed at local copies: fractions of each source's rows."""
    math_rows = [{"problem": f"{i}+{i}?", "answer": str(2 * i), "solution": "worked"} for i in range(200)]
    math_path = tmp_path / "deepscaler.parquet"
    Dataset.from_list(math_rows).to_parquet(str(math_path))
    board, sol = "AAoBoooBxooooooo", ["Bv2", "A>2"]
    rush = {
        "board": board,
        "size": 4,
        "moves": 2,
        "solution": sol,
        "messages": [
            {"role": "system", "content": "Rush Hour rules."},
            {"role": "user", "content": f"Board size: 4x4\nBoard: {board}"},
            {"role": "assistant", "content": "<answer>Bv2,A>2</answer>"},
        ],
    }
    rush_path = tmp_path / "rush"
    DatasetDict({"train": Dataset.from_list([rush] * 100), "test": Dataset.from_list([rush] * 10)}).save_to_disk(
        str(rush_path)
    )
    cfg = typed_cfg(
        [
            "dataset=mixture_math_rush",
            f"dataset.sources.0.source={math_path}",
            f"dataset.sources.1.source={rush_path}",
            "dataset.sources.0.weight=0.5",
            "dataset.sources.1.weight=0.2",
            "dataset.eval_size=10",
        ]
    ).dataset
    train, held = load_datasets(cfg, seed=0)
    assert Counter(train["task"]) == {"math": round(0.5 * 190), "rush_hour": round(0.2 * 100)}
    assert Counter(held["task"]) == {"math": 10, "rush_hour": 10}  # carve-out vs the test split
    row = next(r for r in train if r["task"] == "rush_hour")
    assert row["board"] == "AA.B\n...B\n#...\n...." and row["solution"] == "Bv2,A>2"
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    row = next(r for r in train if r["task"] == "math")
    assert row["prompt"][0]["content"].startswith("Solve the problem") and row["reference_solution"] == "worked"


def test_sources_can_be_given_on_the_command_line(tmp_path: Path) -> None:
    a = write_jsonl([{"question": f"q{i}", "gold": str(i)} for i in range(50)], tmp_path / "a.jsonl")
    b = write_jsonl([{"problem": f"Clue {i} (5)", "answer": "apple"} for i in range(50)], tmp_path / "b.jsonl")
    sources = (
        f"[{{source:{a},weight:20,task:math,problem_column:question,answer_column:gold}},"
        f"{{source:{b},weight:0.5,task:crossword,eval_size:4}}]"
    )
    cfg = typed_cfg(["dataset=mixture_arith_rush", f"dataset.sources={sources}", "dataset.eval_size=5"]).dataset
    train, held = load_datasets(cfg, seed=0)
    assert Counter(train["task"]) == {"math": 20, "crossword": round(0.5 * 46)}
    assert Counter(held["task"]) == {"math": 5, "crossword": 4}
    assert set(train.filter(lambda r: r["task"] == "crossword")["enumeration"]) == {"(5)"}


def test_columns_with_different_types_are_unified(tmp_path: Path) -> None:
    a = write_jsonl([{"problem": f"a{i}", "answer": "1", "size": i} for i in range(10)], tmp_path / "a.jsonl")
    b = write_jsonl([{"problem": f"b{i}", "answer": "2", "size": f"s{i}"} for i in range(10)], tmp_path / "b.jsonl")
    c = write_jsonl([{"problem": f"c{i}", "answer": "3", "size": [i]} for i in range(10)], tmp_path / "c.jsonl")
    two = f"[{{source:{a},weight:5}},{{source:{b},weight:5}}]"
    train, _ = load_datasets(typed_cfg(["dataset=mixture_arith_rush", f"dataset.sources={two}"]).dataset, seed=0)
    assert sorted(set(map(type, train["size"])), key=str) == [str]
    three = f"[{{source:{a},weight:5}},{{source:{c},weight:5}}]"
    with pytest.raises(UserError, match=r"column 'size' has different types"):
        load_datasets(typed_cfg(["dataset=mixture_arith_rush", f"dataset.sources={three}"]).dataset, seed=0)


@pytest.mark.parametrize(
    ("weight", "available", "rows"), [(0.5, 10, 5), (1.0, 7, 7), (0.01, 10, 1), (25, 10, 25), (3.0, 0, 3)]
)
def test_rows_for_weight(weight: float, available: int, rows: int) -> None:
    assert rows_for_weight(weight, available, "k") == rows


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset.sources.0.weight=0"], r"dataset\.sources\[0\]\.weight: 0\.0 must be > 0"),
        (["dataset.sources.1.weight=2.5"], r"dataset\.sources\[1\]\.weight: 2\.5 is neither"),
        (["dataset.generator=arith"], r"set either dataset\.sources .* or dataset\.generator/dataset\.path"),
        (["dataset.sources.0.answer_column=gold"], r"dataset\.sources\[0\]\.answer_column: column 'gold' not found"),
        (["dataset.sources.1.source=/nope/rush.parquet"], r"dataset\.sources\[1\]\.source: file /nope/rush\.parquet"),
        (["+dataset.sources.0.generator_kwargs.digits=3"], r"dataset\.sources\[0\]\.generator_kwargs: .*digits"),
    ],
)
def test_mixture_errors_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):  # from the typed config or from the loader
        load_datasets(
            typed_cfg(["dataset=mixture_arith_rush", "dataset.sources.0.weight=10", *overrides]).dataset, seed=0
        )
