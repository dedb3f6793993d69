"""The arithmetic task: level parsing, seeded problems, disjoint splits, the ``arith`` generator entry."""

from __future__ import annotations

import random

import pytest

from rlvr.tasks.arith import ArithLevel, generate_arith, generate_rows, make_problem, parse_levels


def test_parse_levels() -> None:
    assert parse_levels(["2+2", "3*1:0.5", "1-1"]) == [
        ArithLevel("+", 2, 2),
        ArithLevel("*", 3, 1, 0.5),
        ArithLevel("-", 1, 1),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["22"], "no operator"),
        (["a+2"], "must look like"),
        (["7+1"], "1-6 digits"),
        (["2+2:0"], "positive"),
        ([], "at least one level"),
    ],
)
def test_bad_levels_raise_value_error(spec: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_levels(spec)


def test_problems_are_right_and_non_negative() -> None:
    rng = random.Random(0)
    for level in parse_levels(["2+2", "3-3", "2*1"]):
        for _ in range(50):
            problem, value = make_problem(rng, level)
            assert eval(problem) == value >= 0  # noqa: S307 (our own digits and operators)
            left = problem.split(level.op)[0]
            assert len(left) == level.digits_a or level.op == "-"


def test_splits_are_seeded_and_disjoint() -> None:
    train, held = generate_arith(300, 50, ["1+1", "2+2"], seed=3)
    assert (train, held) == generate_arith(300, 50, ["1+1", "2+2"], seed=3)
    assert train != generate_arith(300, 50, ["1+1", "2+2"], seed=4)[0]
    assert len({r["problem"] for r in held}) == 50
    assert not {r["problem"] for r in train} & {r["problem"] for r in held}
    assert {r["level"] for r in train} == {"1+1", "2+2"}
    assert all(r["answer"] == str(eval(r["problem"])) for r in train)  # noqa: S307


def test_impossible_requests_fail_clearly() -> None:
    with pytest.raises(ValueError, match="cannot draw 200 distinct"):
        generate_arith(10, 200, ["1+1"])  # only 100 one-digit sums exist


def test_generate_rows_reads_generator_kwargs() -> None:
    kwargs = {"levels": ["1*1"]}
    train, held = generate_rows(5, 2, kwargs, seed=0)
    assert (len(train), len(held)) == (5, 2) and {r["level"] for r in train} == {"1*1"}
    assert kwargs == {"levels": ["1*1"]}  # not consumed
    assert generate_rows(4, 0, {}, seed=0)[0][0]["level"] == "2+2"
    with pytest.raises(TypeError):
        generate_rows(4, 0, {"digits": 3}, seed=0)
