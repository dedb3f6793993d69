"""rush_hour_exact and rush_hour_shaped: moves parsed from the answer and played on the row's board."""

from __future__ import annotations

import pytest

from rlvr.data.rush_hour import generate_rush_hour
from rlvr.rewards import build_reward

TWO = "..B.\nAAB.\n....\n...."  # optimal: Bv2,A>2
THREE = "...E..\n...E..\nAA.B..\n...B..\n.CCC..\n......"  # optimal: C<1,Bv1,A>4
WALLED = "..B.\nAAB.\n..#.\n...."  # B cannot pass the wall


def exact(texts: list, boards: list, moves: list | None = None) -> list:
    columns = {"board": boards} if moves is None else {"board": boards, "moves": moves}
    return build_reward("rush_hour_exact")(completions=texts, **columns)


def shaped(texts: list, boards: list, moves: list, **kwargs: float) -> list:
    return build_reward("rush_hour_shaped", kwargs)(completions=texts, board=boards, moves=moves)


@pytest.mark.parametrize(
    "text",
    [
        "<answer>C<1,Bv1,A>4</answer>",
        "<think>C must move first</think>\n<answer>\nC L 1\nB D 1\nA R 4\n</answer>",
        "<answer>CL1 BD1 AR4</answer>",
        [{"role": "assistant", "content": "<answer>C<1, Bv1, A>4</answer>"}],
        "C<1, Bv1, A>4",  # no tags: moves are read from the whole text
    ],
)
def test_optimal_solutions_score_one(text: object) -> None:
    assert exact([text], [THREE], [3]) == [1.0]
    assert shaped([text], [THREE], [3]) == [1.0]


@pytest.mark.parametrize(
    "text",
    [
        "<answer>C<1,Bv1,A>2,A>2</answer>",  # solves, but in 4 moves
        "<answer>Bv1,A>4</answer>",  # B is blocked by C
        "<answer>C<1,Bv1</answer>",  # legal but unsolved
        "<answer>A>4</answer>",
        "<answer></answer>",
        "no moves here",
    ],
)
def test_other_answers_score_zero_exact(text: str) -> None:
    assert exact([text], [THREE], [3]) == [0.0]


def test_moves_through_walls_or_off_the_board_are_illegal() -> None:
    assert exact(["<answer>Bv2,A>2</answer>", "<answer>B^2,A>2</answer>"], [WALLED] * 2, [2, 2]) == [0.0, 0.0]
    assert shaped(["<answer>Bv2,A>2</answer>"], [WALLED], [2]) == [0.0]


def test_shaped_reward_orders_partial_progress() -> None:
    texts = [
        "<answer>Bv2,A>2</answer>",  # optimal
        "<answer>Bv1,Bv1,A>2</answer>",  # solved, one move too many
        "<answer>Bv2,A>1</answer>",  # legal, unsolved, A moved closer
        "<answer>Bv2</answer>",  # legal, blocker cleared
        "<answer>Bv1</answer>",  # legal, no progress (B still in the way)
        "<answer>A>2</answer>",  # illegal first move
        "",
    ]
    scores = shaped(texts, [TWO] * len(texts), [2] * len(texts))
    assert scores[0] == 1.0
    assert scores == sorted(scores, reverse=True) and len(set(scores[:5])) == 5
    assert scores[5] == scores[6] == 0.0
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_shaped_weights_are_configurable() -> None:
    only_solved = shaped(
        ["<answer>Bv2</answer>", "<answer>Bv2,A>2</answer>"],
        [TWO] * 2,
        [2, 2],
        legal_weight=0.0,
        potential_weight=0.0,
        solved_weight=1.0,
    )
    assert only_solved == [0.0, 1.0]


def test_stuffed_answers_score_zero() -> None:
    stuffed = "<answer>" + ",".join(["Bv1", "B^1"] * 200) + ",Bv2,A>2</answer>"
    assert exact([stuffed], [TWO], [2]) == [0.0]
    assert shaped([stuffed], [TWO], [2]) == [0.0]


@pytest.mark.parametrize("board", [None, "", "AB\nAB", "....\n....", "AAx.\n....", 42])
def test_malformed_boards_are_not_applicable(board: object) -> None:
    assert exact(["<answer>A>2</answer>"], [board], [1]) == [None]
    assert shaped(["<answer>A>2</answer>"], [board], [1]) == [None]


def test_missing_optimal_count_is_solved_for() -> None:
    assert exact(["<answer>Bv2,A>2</answer>", "<answer>Bv1,Bv1,A>2</answer>"], [TWO, TWO]) == [1.0, 0.0]
    assert exact(["<answer>Bv2,A>2</answer>"], [WALLED], [None]) == [None]  # unsolvable: no optimum


def test_each_completion_is_scored_against_its_own_board() -> None:
    """2 rows x 3 completions, flattened the way TRL passes them."""
    rows = generate_rush_hour(2, sizes=[5], seed=11)
    completions, boards, moves, expected = [], [], [], []
    for i, row in enumerate(rows):
        other = rows[1 - i]["solution"]
        for text, ok in ((row["solution"], 1.0), (other, 0.0), (row["solution"], 1.0)):
            completions.append(f"<answer>{text}</answer>")
            boards.append(row["board"])
            moves.append(row["moves"])
            expected.append(ok)
    assert exact(completions, boards, moves) == expected


def test_generated_gold_solutions_score_one() -> None:
    rows = generate_rush_hour(40, seed=5, min_moves=2, max_moves=8)
    texts = [f"<answer>{r['solution']}</answer>" for r in rows]
    assert exact(texts, [r["board"] for r in rows], [r["moves"] for r in rows]) == [1.0] * len(rows)
