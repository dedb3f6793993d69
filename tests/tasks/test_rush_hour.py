"""The Rush Hour task: board and move parsing, simulation, BFS optimality, the seeded generator, the
``board``/``moves`` columns of loaded rows, and the ``rush_hour_exact``/``rush_hour_shaped`` rewards
(moves parsed from the answer and played on the row's board)."""

from __future__ import annotations

import time

import pytest

from rlvr.rewards import build_reward
from rlvr.tasks.rush_hour import (
    BoardError,
    Move,
    apply_move,
    format_moves,
    generate_rows,
    generate_rush_hour,
    parse_board,
    parse_moves,
    row_major_to_grid,
    simulate,
    solve,
    task_fields,
)

# Hand-made boards and their optimal move counts (one move = one car slid any distance).
SOLVED = "..AA\n....\n....\n...."
ONE = "....\nAA..\n....\n...."
TWO = "..B.\nAAB.\n....\n...."  # B can only leave A's row downwards: Bv2, A>2
THREE = "...E..\n...E..\nAA.B..\n...B..\n.CCC..\n......"  # E pins B from above: C<1, Bv1, A>4
UNSOLVABLE = "..B.\nAAB.\n..#.\n...."  # the wall stops B from leaving A's row
WALL_IN_LANE = "....\nAA.#\n....\n...."


@pytest.mark.parametrize(("board", "optimal"), [(SOLVED, 0), (ONE, 1), (TWO, 2), (THREE, 3)])
def test_bfs_finds_optimal_solutions(board: str, optimal: int) -> None:
    solution = solve(board)
    assert solution is not None and len(solution) == optimal
    assert simulate(board, solution).solved


def test_bfs_known_solutions() -> None:
    assert format_moves(solve(TWO)) == "Bv2,A>2"
    assert format_moves(solve(THREE)) == "C<1,Bv1,A>4"


@pytest.mark.parametrize("board", [UNSOLVABLE, WALL_IN_LANE, "....\nAAB.\n..B.\n..B."])
def test_unsolvable_boards(board: str) -> None:
    assert solve(board) is None


def _solvable_within(board: str, depth: int) -> bool:
    """Independent check by iterative deepening over single moves, using the simulator's rules."""
    parsed = parse_board(board)
    candidates = [
        Move(car.name, d, k)
        for car in parsed.cars
        for d in (("<", ">") if car.horizontal else ("^", "v"))
        for k in range(1, max(parsed.width, parsed.height))
    ]

    def search(moves: list[Move]) -> bool:
        result = simulate(parsed, moves)
        if not result.all_legal:
            return False
        if result.solved:
            return True
        return len(moves) < depth and any(search([*moves, m]) for m in candidates)

    return search([])


def test_bfs_is_optimal_against_iterative_deepening() -> None:
    rows = generate_rush_hour(12, sizes=[4], seed=3, min_moves=2, max_moves=4, wall_prob=0.1)
    for row in rows:
        assert _solvable_within(row["board"], row["moves"]), row["board"]
        assert not _solvable_within(row["board"], row["moves"] - 1), row["board"]


def test_parse_board_reads_cars_and_walls() -> None:
    board = parse_board("  ..B.  \n\nAAB#\n.CC.\n....\n")
    assert (board.height, board.width) == (4, 4)
    assert [(c.name, c.horizontal, c.length) for c in board.cars] == [("A", True, 2), ("B", False, 2), ("C", True, 2)]
    assert board.walls == frozenset({(1, 3)})
    assert board.render() == "..B.\nAAB#\n.CC.\n...."


@pytest.mark.parametrize(
    "board",
    [
        "",
        None,
        "....\n....",  # no A
        "A...\nA...\n....",  # vertical A
        "AA..\n...",  # ragged rows
        "AAx.\n....",  # unknown character
        "AA.B\n..B.\n....",  # B is not a straight line
        "AA.B\n....",  # one-cell car
        "AAAA\n....",  # four-cell car
        "AA..\n" * 20,  # too many rows
    ],
)
def test_malformed_boards_raise_board_error(board: object) -> None:
    with pytest.raises(BoardError):
        parse_board(board)


def test_parse_moves_accepts_every_notation() -> None:
    expected = [Move("A", ">", 2), Move("B", "^", 1), Move("C", "v", 3), Move("D", "<", 1)]
    for text in ("A>2,B^1,Cv3,D<1", "A R 2, B U 1\nC D 3; D L 1", "AR2 BU1 CD3 DL1", "A>2\nB^1\nCv3\nD<1"):
        assert parse_moves(text) == expected, text
    assert parse_moves("") == [] and parse_moves(None) == []
    assert parse_moves("Move A right: A>2") == [Move("A", ">", 2)]  # prose words are not moves
    assert len(parse_moves("A>1," * 5000, limit=10)) == 11  # capped: callers can tell it was cut


def test_simulate_reports_illegal_moves() -> None:
    assert simulate(TWO, "A>1").error is not None  # B is in the way
    wall = simulate(UNSOLVABLE, "Bv2,A>2")
    assert not wall.solved and wall.n_legal == 0 and "wall" in wall.error
    assert "vertical" in simulate(TWO, "B>1").error  # wrong axis
    assert "horizontal" in simulate(TWO, "A^1").error
    assert "leave the board" in simulate(TWO, "B^1").error
    assert "no car" in simulate(TWO, "Z>1").error
    result = simulate(THREE, "C<1,Bv1,A>2,A>2")
    assert result.solved and result.n_moves == 4 and result.end_potential == 0
    assert result.start_potential == 4 + 1  # four cells to the exit, one car (B) in between


def test_apply_move_leaves_the_state_alone_when_illegal() -> None:
    board = parse_board(TWO)
    state = list(board.start)
    grid = [list(row) for row in TWO.splitlines()]
    assert apply_move(board, state, grid, Move("B", "v", 3)) is not None
    assert state == list(board.start) and "\n".join("".join(r) for r in grid) == TWO


def test_generator_is_deterministic_and_every_solution_is_optimal_length() -> None:
    rows = generate_rush_hour(150, sizes=[4, 5, 6], seed=7, min_moves=2, max_moves=8, wall_prob=0.1)
    assert rows == generate_rush_hour(150, sizes=[4, 5, 6], seed=7, min_moves=2, max_moves=8, wall_prob=0.1)
    assert rows != generate_rush_hour(150, sizes=[4, 5, 6], seed=8, min_moves=2, max_moves=8, wall_prob=0.1)
    assert len({r["board"] for r in rows}) == 150
    assert {r["size"] for r in rows} == {4, 5, 6}
    assert any("#" in r["board"] for r in rows)
    for row in rows:
        result = simulate(row["board"], row["solution"])
        assert result.solved and result.n_moves == row["moves"], row
        assert 2 <= row["moves"] <= 8 and row["answer"] == row["solution"] and row["task"] == "rush_hour"
        assert row["board"] in row["problem"] and "<answer>" in row["problem"]
        assert len(row["board"].splitlines()) == row["size"]


def test_generator_respects_the_move_range_and_is_fast() -> None:
    start = time.perf_counter()
    rows = generate_rush_hour(500, seed=0)
    assert time.perf_counter() - start < 20  # ~0.6 s on one free core
    hard = generate_rush_hour(10, sizes=[6], seed=1, min_moves=5, max_moves=7)
    assert all(5 <= r["moves"] <= 7 for r in hard)
    assert len(rows) == 500


@pytest.mark.parametrize(
    "kwargs",
    [{"sizes": [3]}, {"sizes": []}, {"min_moves": 5, "max_moves": 2}, {"wall_prob": 1.0}],
)
def test_generator_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_rush_hour(1, **kwargs)


def test_generator_gives_up_with_a_clear_error_on_impossible_requests() -> None:
    with pytest.raises(ValueError, match="widen the move range"):
        generate_rush_hour(5, sizes=[4], min_moves=40, max_moves=50)


def test_generate_rows_splits_distinct_boards_and_shows_the_board() -> None:
    train, held = generate_rows(6, 3, {"sizes": ["4"], "max_moves": 4}, seed=2)
    assert (len(train), len(held)) == (6, 3)
    assert not {r["board"] for r in train} & {r["board"] for r in held}
    row = train[0]
    assert row["problem"] == f"Board (4x4):\n{row['board']}\nMinimum number of moves: {row['moves']}"


# ----------------------------------------------------------------------------------------------
# Columns of loaded rows


def test_row_major_boards_become_grids() -> None:
    assert row_major_to_grid("AAoBoooBxooooooo") == "AA.B\n...B\n#...\n...."
    assert row_major_to_grid("AAoBoo") is None  # not square
    assert row_major_to_grid("AAoBoo", 2, 3) == "AA.\nB.."


def test_task_fields_read_the_board_from_the_column_or_the_prompt() -> None:
    grid = "AA.B\n...B\n#...\n...."
    assert task_fields({"board": "AAoBoooBxooooooo", "moves": "2"}, "") == {"board": grid, "moves": 2}
    prompt = "Board size: 4x4\nBoard: AAoBoooBxooooooo\nOptimal length (moves): 2"
    assert task_fields({"moves": None}, prompt) == {"board": grid, "moves": None}
    assert task_fields({"board": grid, "moves": "x"}, "") == {"board": grid, "moves": None}
    assert task_fields({}, "no board here")["board"] is None


# ----------------------------------------------------------------------------------------------
# Rewards


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
    assert exact(["<answer>Bv2,A>2</answer>", "<answer>B^2,A>2</answer>"], [UNSOLVABLE] * 2, [2, 2]) == [0.0, 0.0]
    assert shaped(["<answer>Bv2,A>2</answer>"], [UNSOLVABLE], [2]) == [0.0]


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
    assert exact(["<answer>Bv2,A>2</answer>"], [UNSOLVABLE], [None]) == [None]  # unsolvable: no optimum


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
