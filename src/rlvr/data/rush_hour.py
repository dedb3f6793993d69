"""Rush Hour puzzles: the board and move formats, a simulator, a BFS solver and a seeded generator.

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

Rows from :func:`generate_rush_hour` have ``problem`` (the prompt text), ``board``,
``solution`` (an optimal move string, e.g. ``B^1,A>2``), ``answer`` (the same string, for the
loader's default ``answer_column``), ``moves`` (the optimal move count), ``size`` and ``task``
(``"rush_hour"``, for reward routing in mixtures).
"""

from __future__ import annotations

import itertools
import random
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


def _grid(board: Board, state: Sequence[int]) -> list[list[str]]:
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
    grid = _grid(board, state)
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
    state, grid = list(board.start), _grid(board, board.start)
    start = potential(board, state)
    error, n_legal = None, 0
    for move in moves:
        error = apply_move(board, state, grid, move)
        if error is not None:
            break
        n_legal += 1
    solved = error is None and state[0] == board.goal()
    return SimResult(len(moves), n_legal, solved, error, start, potential(board, state), board.render(state))


def lane_can_clear(board: Board) -> bool:
    """A quick necessary condition for solvability: every cell between A and the exit is empty
    or holds a vertical car that walls and the board edges let slide out of A's row."""
    row, front = board.cars[0].line, board.start[0] + board.cars[0].length - 1
    grid = _grid(board, board.start)
    index = {car.name: i for i, car in enumerate(board.cars)}
    for c in range(front + 1, board.width):
        name = grid[row][c]
        if name == EMPTY:
            continue
        if name == WALL or board.cars[index[name]].horizontal:
            return False
        car, top = board.cars[index[name]], board.start[index[name]]
        up = top
        while up > 0 and (up - 1, c) not in board.walls:
            up -= 1
        down = top + car.length - 1
        while down < board.height - 1 and (down + 1, c) not in board.walls:
            down += 1
        if not (row - up >= car.length or down - row >= car.length):
            return False
    return True


def _slides(mask: list[int], others: int, pos: int) -> list[int]:
    """Positions a car with per-position cell masks ``mask`` can slide to from ``pos``."""
    out = []
    q = pos - 1
    while q >= 0 and not mask[q] & others:
        out.append(q)
        q -= 1
    q = pos + 1
    while q < len(mask) and not mask[q] & others:
        out.append(q)
        q += 1
    return out


def solve(board: Board | str, max_states: int = 200_000, max_depth: int | None = None) -> list[Move] | None:
    """An optimal move list by breadth-first search (one move = one car slid k >= 1 cells), or
    None when the board is unsolvable, needs more than ``max_depth`` moves, or the search visits
    more than ``max_states`` states."""
    board = parse_board(board) if isinstance(board, str) else board
    cars, width = board.cars, board.width
    if board.start[0] == board.goal():
        return []
    if not lane_can_clear(board):
        return None
    walls = 0
    for r, c in board.walls:
        walls |= 1 << (r * width + c)
    masks = []
    for i in range(len(cars)):
        per_pos = []
        for pos in range(board.axis_len(i) - cars[i].length + 1):
            m = 0
            for r, c in board.cells(i, pos):
                m |= 1 << (r * width + c)
            per_pos.append(m)
        masks.append(per_pos)
    goal, start = board.goal(), board.start
    parent: dict[tuple[int, ...], tuple[tuple[int, ...], int, int] | None] = {start: None}

    def path(state: tuple[int, ...]) -> list[Move]:
        out = []
        while (link := parent[state]) is not None:
            prev, i, pos = link
            delta = pos - prev[i]
            arrow = (">" if delta > 0 else "<") if cars[i].horizontal else ("v" if delta > 0 else "^")
            out.append(Move(cars[i].name, arrow, abs(delta)))
            state = prev
        return out[::-1]

    frontier, depth = [start], 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        following = []
        for state in frontier:
            occupied = walls
            for i, pos in enumerate(state):
                occupied |= masks[i][pos]
            for i, pos in enumerate(state):
                mask = masks[i]
                others = occupied & ~mask[pos]
                for q in _slides(mask, others, pos):
                    new = (*state[:i], q, *state[i + 1 :])
                    if new in parent:
                        continue
                    parent[new] = (state, i, q)
                    if i == 0 and q == goal:
                        return path(new)
                    following.append(new)
            if len(parent) > max_states:
                return None
        frontier = following
    return None


PROMPT = """Solve this Rush Hour puzzle on a {height}x{width} grid, shown one row per line. \
`.` is an empty cell, `#` is a wall, and each letter is a car 2 or 3 cells long. Cars slide only \
along their length (horizontal cars left or right, vertical cars up or down) and never through \
other cars or walls. Move car A to the exit on the right edge of its row: the puzzle is solved \
when A reaches the right edge.

{board}

Write a move as the car letter, a direction (> right, < left, ^ up, v down) and a number of cells: \
B^1 moves car B up one cell. Use as few moves as possible and give them comma-separated inside \
<answer></answer>, for example <answer>B^1,A>2</answer>."""


def rush_hour_prompt(board: str) -> str:
    parsed = parse_board(board)
    return PROMPT.format(height=parsed.height, width=parsed.width, board=board)


def random_board(rng: random.Random, size: int, wall_prob: float) -> str:
    """A random board: A (length 2) somewhere left of the exit, one vertical car across A's
    path, random walls and cars. Nothing horizontal and no wall is placed in A's path (those
    would make the board unsolvable)."""
    grid = [[EMPTY] * size for _ in range(size)]
    row, col = rng.randrange(size), rng.randrange(size - 2)
    grid[row][col] = grid[row][col + 1] = TARGET
    lane = {(row, c) for c in range(col + 2, size)}
    names = iter("BCDEFGHIJKLMNOPQRSTUVWXYZ")

    def place(name: str, horizontal: bool, length: int, r: int, c: int) -> bool:
        cells = [(r, c + k) if horizontal else (r + k, c) for k in range(length)]
        if any(not (0 <= y < size and 0 <= x < size) or grid[y][x] != EMPTY for y, x in cells):
            return False
        if horizontal and any(cell in lane for cell in cells):
            return False
        for y, x in cells:
            grid[y][x] = name
        return True

    length = 3 if size > 4 and rng.random() < 0.3 else 2
    blocker_col = rng.randrange(col + 2, size)
    top = rng.randrange(max(0, row - length + 1), min(row, size - length) + 1)
    place(next(names), False, length, top, blocker_col)
    for r in range(size):
        for c in range(size):
            if grid[r][c] == EMPTY and (r, c) not in lane and rng.random() < wall_prob:
                grid[r][c] = WALL
    for _ in range(rng.randint(1, size * size // 4)):
        name = next(names)
        for _attempt in range(20):
            horizontal = rng.random() < 0.5
            length = 3 if size > 4 and rng.random() < 0.3 else 2
            if place(name, horizontal, length, rng.randrange(size), rng.randrange(size)):
                break
    return "\n".join("".join(r) for r in grid)


def generate_rush_hour(
    n: int,
    sizes: Sequence[int] = (4, 5, 6),
    seed: int = 0,
    min_moves: int = 2,
    max_moves: int = 10,
    wall_prob: float = 0.05,
    max_states: int = 20_000,
) -> list[dict]:
    """``n`` distinct solvable boards whose optimal solution takes ``min_moves``..``max_moves``
    moves (rows described in the module docstring). The same arguments give the same rows.
    Boards that are unsolvable, too easy, too hard, or need more than ``max_states`` search
    states are drawn again."""
    sizes = list(sizes)
    if not sizes or any(not 4 <= int(s) <= 8 for s in sizes):
        raise ValueError(f"rush hour sizes must be between 4 and 8, got {sizes}")
    if not 1 <= min_moves <= max_moves:
        raise ValueError(f"rush hour needs 1 <= min_moves <= max_moves, got {min_moves}, {max_moves}")
    if not 0.0 <= wall_prob < 1.0:
        raise ValueError(f"rush hour wall_prob must be in [0, 1), got {wall_prob}")
    rng = random.Random(seed)
    rows: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 200 * n + 2000:
            raise ValueError(
                f"rush hour: only {len(rows)} of {n} boards with {min_moves}-{max_moves} optimal moves after "
                f"{attempts - 1} draws; widen the move range, use larger sizes or raise max_states"
            )
        text = random_board(rng, int(rng.choice(sizes)), wall_prob)
        if text in seen:
            continue
        seen.add(text)
        solution = solve(text, max_states=max_states, max_depth=max_moves)
        if solution is None or not min_moves <= len(solution) <= max_moves:
            continue
        moves = format_moves(solution)
        size = len(text.splitlines())
        rows.append(
            {
                "problem": rush_hour_prompt(text),
                "board": text,
                "solution": moves,
                "answer": moves,
                "moves": len(solution),
                "size": size,
                "task": "rush_hour",
            }
        )
    return rows
