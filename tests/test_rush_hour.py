"""Rush Hour data: board parsing, move parsing, simulation, BFS optimality, the seeded generator."""

from __future__ import annotations

import time

import pytest

from rlvr.data.rush_hour import (
    BoardError,
    Move,
    apply_move,
    format_moves,
    generate_rush_hour,
    parse_board,
    parse_moves,
    simulate,
    solve,
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
