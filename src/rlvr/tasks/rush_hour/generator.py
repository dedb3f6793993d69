"""Seeded synthetic Rush Hour boards (the ``rush_hour`` generator), solved optimally, and their prompts.

Rows from :func:`generate_rush_hour` have ``problem`` (the prompt text), ``board``,
``solution`` (an optimal move string, e.g. ``B^1,A>2``), ``answer`` (the same string, for the
loader's default ``answer_column``), ``moves`` (the optimal move count), ``size`` and ``task``
(``"rush_hour"``, for reward routing in mixtures).

For ``dataset.generator=rush_hour`` (:func:`generate_rows`) the user turn shows only the board
and the optimal move count: the rules belong in the system prompt (see
``conf/dataset/rush_hour_synth.yaml``), where tag stripping never touches their example answer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rlvr.tasks.rush_hour.board import EMPTY, TARGET, WALL, format_moves, parse_board
from rlvr.tasks.rush_hour.solver import solve

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


def rush_hour_user_text(board: str, moves: int | None) -> str:
    """The user turn of a generated row: the board and, when known, the optimal move count."""
    lines = board.splitlines()
    text = f"Board ({len(lines)}x{len(lines[0])}):\n{board}"
    return text + (f"\nMinimum number of moves: {moves}" if moves is not None else "")


def generate_rows(n_train: int, n_eval: int, kwargs: dict[str, Any], seed: int) -> tuple[list[dict], list[dict]]:
    """The ``rush_hour`` generator (:mod:`rlvr.data.generators`): ``n_train + n_eval`` distinct boards
    from :func:`generate_rush_hour` (``sizes``, ``min_moves``, ``max_moves``, ``wall_prob``,
    ``max_states`` from ``generator_kwargs``), the user turn from :func:`rush_hour_user_text`."""
    kwargs = dict(kwargs)
    if "sizes" in kwargs:
        kwargs["sizes"] = [int(s) for s in kwargs["sizes"]]
    rows = generate_rush_hour(n_train + n_eval, seed=seed, **kwargs)
    for row in rows:
        row["problem"] = rush_hour_user_text(row["board"], row["moves"])
    return rows[n_eval:], rows[:n_eval]  # distinct boards: the splits never share one
