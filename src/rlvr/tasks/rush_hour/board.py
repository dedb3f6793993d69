"""Rush Hour boards and moves: the formats, a parser for each, and a simulator.

Board format (the ``board`` column): a grid of characters, one row per line, all rows the same
width (generated boards are square, 4x4 to 6x6)::

    ..B...
    ..B.C.
    AAB.C.
    ...#..
    .DDD..
    ......

- ``.`` is an empty cell and ``#`` a wall (walls never move).
- ``A`` is the target car: horizontal, 2 or 3 cells. The exit is on the right edge of A's row;
  the puzzle is solved when A's rightmost cell reaches the last column.
- ``B``..``Z`` are the other cars, each a straight 1xN piece (N = 2 or 3), horizontal or
  vertical; a car's orientation is read from its cells.
- Surrounding whitespace and blank lines are ignored; anything else (other characters, ragged
  rows, a car that is not a straight 2- or 3-cell line, no horizontal A) is a malformed board:
  :func:`parse_board` raises :class:`BoardError`.

Move format (the ``solution`` column and the answers the rewards read): a car letter, a
direction and a cell count, e.g. ``A>2`` (A two cells right) or ``B^1`` (B one cell up).
Directions are ``>`` / ``<`` / ``^`` / ``v`` or the letters ``R`` / ``L`` / ``U`` / ``D``, with optional
spaces (``A R 2``, ``AR2``, ``B U1``); moves are separated by commas, semicolons, spaces or
newlines. One move slides one car by k >= 1 cells in one direction and counts as one move.
A move is illegal when the car does not exist, the direction is not along the car's axis
(a horizontal car moving up), or the slide passes through a car or wall or off the board.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

EMPTY, WALL, TARGET = ".", "#", "A"
ARROWS = {"R": ">", "L": "<", "U": "^", "D": "v", ">": ">", "<": "<", "^": "^", "v": "v"}
MAX_SIDE = 12
MAX_PARSED_MOVES = 1000

_MOVE = re.compile(r"(?<![A-Za-z0-9])([A-Z])\s*([<>^v]|[RLUD](?![A-Za-z]))\s*(\d+)(?!\d)")


class BoardError(ValueError):
    """A malformed board string."""


class Move(NamedTuple):
    car: str
    direction: str  # one of > < ^ v
    cells: int

    def __str__(self) -> str:
        return f"{self.car}{self.direction}{self.cells}"


@dataclass(frozen=True)
class Car:
    name: str
    horizontal: bool
    line: int  # the row of a horizontal car, the column of a vertical one
    length: int


@dataclass(frozen=True)
class Board:
    height: int
    width: int
    walls: frozenset[tuple[int, int]]
    cars: tuple[Car, ...]  # the target car A first, then the others alphabetically
    start: tuple[int, ...]  # each car's leftmost column (horizontal) or top row (vertical)

    def cells(self, i: int, pos: int) -> list[tuple[int, int]]:
        car = self.cars[i]
        if car.horizontal:
            return [(car.line, pos + k) for k in range(car.length)]
        return [(pos + k, car.line) for k in range(car.length)]

    def axis_len(self, i: int) -> int:
        return self.width if self.cars[i].horizontal else self.height

    def goal(self) -> int:
        """The position of A (its leftmost column) when the puzzle is solved."""
        return self.width - self.cars[0].length

    def render(self, state: Sequence[int] | None = None) -> str:
        grid = [[EMPTY] * self.width for _ in range(self.height)]
        for r, c in self.walls:
            grid[r][c] = WALL
        for i, pos in enumerate(self.start if state is None else state):
            for r, c in self.cells(i, pos):
                grid[r][c] = self.cars[i].name
        return "\n".join("".join(row) for row in grid)


def parse_board(text: object) -> Board:
    """Parse a board string (format in the module docstring); raise :class:`BoardError` if malformed."""
    if not isinstance(text, str):
        raise BoardError(f"a board is a string, got {type(text).__name__}")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not 2 <= len(lines) <= MAX_SIDE:
        raise BoardError(f"a board has 2 to {MAX_SIDE} rows, got {len(lines)}")
    width = len(lines[0])
    if not 2 <= width <= MAX_SIDE or any(len(line) != width for line in lines):
        raise BoardError("board rows must all have the same width (2 to 12 cells)")
    walls, cells = set(), {}
    for r, line in enumerate(lines):
        for c, ch in enumerate(line):
            if ch == WALL:
                walls.add((r, c))
            elif "A" <= ch <= "Z":
                cells.setdefault(ch, []).append((r, c))
            elif ch != EMPTY:
                raise BoardError(f"unexpected character {ch!r} at row {r}, column {c}")
    if TARGET not in cells:
        raise BoardError("the board has no target car A")
    cars, start = [], []
    for name in sorted(cells, key=lambda x: (x != TARGET, x)):
        group = sorted(cells[name])
        rows, cols = {r for r, _ in group}, {c for _, c in group}
        if not 2 <= len(group) <= 3:
            raise BoardError(f"car {name} has {len(group)} cells; cars are 2 or 3 cells long")
        if len(rows) == 1 and max(cols) - min(cols) == len(group) - 1:
            cars.append(Car(name, True, group[0][0], len(group)))
            start.append(min(cols))
        elif len(cols) == 1 and max(rows) - min(rows) == len(group) - 1:
            if name == TARGET:
                raise BoardError("the target car A must be horizontal")
            cars.append(Car(name, False, group[0][1], len(group)))
            start.append(min(rows))
        else:
            raise BoardError(f"car {name} is not a straight line of adjacent cells")
    return Board(len(lines), width, frozenset(walls), tuple(cars), tuple(start))


def parse_moves(text: object, limit: int = MAX_PARSED_MOVES) -> list[Move]:
    """Every move written in ``text`` (format in the module docstring), at most ``limit + 1`` of
    them (so that callers can tell an over-long answer from one of exactly ``limit`` moves)."""
    if isinstance(text, list | tuple):
        return [m if isinstance(m, Move) else Move(*m) for m in text][: limit + 1]
    if not isinstance(text, str):
        return []
    moves = []
    for m in itertools.islice(_MOVE.finditer(text), limit + 1):
        digits = m.group(3)
        moves.append(Move(m.group(1), ARROWS[m.group(2)], int(digits) if len(digits) <= 6 else 10**6))
    return moves


def format_moves(moves: Iterable[Move]) -> str:
    return ",".join(str(m) for m in moves)


@dataclass
class SimResult:
    """What happened when a move list was played on a board."""

    n_moves: int  # moves submitted
    n_legal: int  # length of the legal prefix (moves played before the first illegal one)
    solved: bool  # every move legal and A at the exit afterwards
    error: str | None  # why the first illegal move is illegal
    start_potential: int  # potential (see `potential`) of the starting board
    end_potential: int  # potential after the legal prefix
    final: str  # the board after the legal prefix

    @property
    def all_legal(self) -> bool:
        return self.error is None


def state_grid(board: Board, state: Sequence[int]) -> list[list[str]]:
    """The cells of ``board`` with its cars at ``state`` (walls, car letters, ``.`` for empty)."""
    grid = [[EMPTY] * board.width for _ in range(board.height)]
    for r, c in board.walls:
        grid[r][c] = WALL
    for i, pos in enumerate(state):
        for r, c in board.cells(i, pos):
            grid[r][c] = board.cars[i].name
    return grid


def potential(board: Board, state: Sequence[int]) -> int:
    """Distance from A's front to the exit plus the number of cars and walls in between (0 = solved)."""
    car, pos = board.cars[0], state[0]
    front = pos + car.length - 1
    grid = state_grid(board, state)
    between = {grid[car.line][c] if grid[car.line][c] != WALL else (WALL, c) for c in range(front + 1, board.width)}
    between.discard(EMPTY)
    return (board.width - 1 - front) + len(between)


def apply_move(board: Board, state: list[int], grid: list[list[str]], move: Move) -> str | None:
    """Play ``move`` in place on ``state``/``grid``; return why it is illegal (then nothing changes)."""
    index = next((i for i, car in enumerate(board.cars) if car.name == move.car), None)
    if index is None:
        return f"{move}: there is no car {move.car}"
    car = board.cars[index]
    if move.direction not in (("<", ">") if car.horizontal else ("^", "v")):
        return f"{move}: car {car.name} is {'horizontal' if car.horizontal else 'vertical'}"
    if move.cells < 1:
        return f"{move}: a move slides a car at least one cell"
    step = 1 if move.direction in (">", "v") else -1
    pos = state[index]
    if pos + step * move.cells < 0 or pos + step * move.cells > board.axis_len(index) - car.length:
        return f"{move}: car {car.name} would leave the board"
    lead = pos + car.length - 1 if step > 0 else pos
    for k in range(1, move.cells + 1):
        r, c = (car.line, lead + step * k) if car.horizontal else (lead + step * k, car.line)
        if grid[r][c] != EMPTY:
            what = "a wall" if grid[r][c] == WALL else f"car {grid[r][c]}"
            return f"{move}: car {car.name} is blocked by {what} at row {r}, column {c}"
    for r, c in board.cells(index, pos):
        grid[r][c] = EMPTY
    state[index] = pos + step * move.cells
    for r, c in board.cells(index, state[index]):
        grid[r][c] = car.name
    return None


def simulate(board: Board | str, moves: Sequence[Move] | str) -> SimResult:
    """Play ``moves`` on ``board`` up to the first illegal move (a malformed board raises BoardError)."""
    board = parse_board(board) if isinstance(board, str) else board
    moves = parse_moves(moves) if isinstance(moves, str) else list(moves)
    state, grid = list(board.start), state_grid(board, board.start)
    start = potential(board, state)
    error, n_legal = None, 0
    for move in moves:
        error = apply_move(board, state, grid, move)
        if error is not None:
            break
        n_legal += 1
    solved = error is None and state[0] == board.goal()
    return SimResult(len(moves), n_legal, solved, error, start, potential(board, state), board.render(state))
