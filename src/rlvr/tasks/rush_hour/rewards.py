"""Rush Hour rewards (task ``rush_hour``): moves from the last ``<answer>`` block (else the whole
completion) are played on the row's ``board`` with :func:`rlvr.tasks.rush_hour.board.simulate`.

- ``rush_hour_exact``: 1.0 when every move is legal and the board ends solved in at most the
  optimal number of moves (column ``moves``), else 0.0.
- ``rush_hour_shaped``: partial credit in [0, 1]:
  ``legal_weight * legal_fraction + solved_weight * solved + potential_weight * progress
  - excess_weight * excess``, clipped, where ``legal_fraction`` is the legal prefix over the
  moves submitted, ``progress`` is the relative drop of the potential (distance from A to the
  exit plus the cars and walls in between) after the legal prefix, and ``excess`` is
  ``(moves submitted - optimal) / optimal`` clipped to [0, 1]. With the default weights an
  optimal solution scores 1.0 and a solution twice the optimal length 0.8.

A malformed board (or one the solver cannot solve when ``moves`` is missing) scores None.
Answers with more than ``max_answer_moves`` moves score 0.0 without being played.
"""

from __future__ import annotations

import functools
from typing import Any

from rlvr.registry.reward_helpers import as_int, column, score_each
from rlvr.registry.rewards import completion_text, register
from rlvr.tasks.answers import answer_block
from rlvr.tasks.rush_hour.board import BoardError, parse_board, parse_moves, simulate
from rlvr.tasks.rush_hour.solver import solve

TASKS = ("rush_hour",)


@functools.lru_cache(maxsize=4096)
def _optimal_from_solver(board: str) -> int | None:
    solution = solve(board, max_states=200_000)
    return None if solution is None else len(solution)


def _setup(text: str, board: Any, optimal: Any, max_answer_moves: int):
    """``(parsed board, moves, optimal count)``, or None when the row cannot be scored."""
    if not isinstance(board, str):
        return None
    try:
        parsed = parse_board(board)
    except BoardError:
        return None
    best = as_int(optimal)
    if best is None or best < 0:
        best = _optimal_from_solver(board)
        if best is None:
            return None
    payload = answer_block(text)
    moves = parse_moves(text if payload is None else payload, limit=max_answer_moves)
    return parsed, moves, best


def score_exact(text: str, board: Any, optimal: Any, max_answer_moves: int = 100) -> float | None:
    setup = _setup(text, board, optimal, max_answer_moves)
    if setup is None:
        return None
    parsed, moves, best = setup
    if len(moves) > max_answer_moves:
        return 0.0
    result = simulate(parsed, moves)
    return 1.0 if result.solved and result.n_moves <= best else 0.0


def score_shaped(
    text: str,
    board: Any,
    optimal: Any,
    legal_weight: float = 0.1,
    solved_weight: float = 0.6,
    potential_weight: float = 0.3,
    excess_weight: float = 0.2,
    max_answer_moves: int = 100,
) -> float | None:
    setup = _setup(text, board, optimal, max_answer_moves)
    if setup is None:
        return None
    parsed, moves, best = setup
    if len(moves) > max_answer_moves or not moves:
        return 0.0
    result = simulate(parsed, moves)
    legal = result.n_legal / result.n_moves
    progress = 1.0 if result.start_potential == 0 else (result.start_potential - result.end_potential)
    progress = max(0.0, min(1.0, progress / max(1, result.start_potential)))
    excess = min(1.0, max(0, result.n_moves - best) / max(1, best))
    score = legal_weight * legal + solved_weight * result.solved + potential_weight * progress - excess_weight * excess
    return max(0.0, min(1.0, score))


@register("rush_hour_exact", tasks=TASKS)
def rush_hour_exact(max_answer_moves: int = 100):
    """1.0 for a legal, solving, optimal-length move list, else 0.0."""

    def one(completion: Any, board: Any, optimal: Any) -> float | None:
        return score_exact(completion_text(completion), board, optimal, max_answer_moves)

    def reward(completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        boards = column(kwargs, "board", n, "rush_hour_exact")
        optimal = column(kwargs, "moves", n, "rush_hour_exact", required=False)
        return score_each("rush_hour_exact", one, completions, boards, optimal)

    return reward


@register("rush_hour_shaped", tasks=TASKS)
def rush_hour_shaped(
    legal_weight: float = 0.1,
    solved_weight: float = 0.6,
    potential_weight: float = 0.3,
    excess_weight: float = 0.2,
    max_answer_moves: int = 100,
):
    """Partial credit for legal moves, progress towards the exit and solving; see the module docstring."""
    weights = (legal_weight, solved_weight, potential_weight, excess_weight)

    def one(completion: Any, board: Any, optimal: Any) -> float | None:
        return score_shaped(completion_text(completion), board, optimal, *weights, max_answer_moves)

    def reward(completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        boards = column(kwargs, "board", n, "rush_hour_shaped")
        optimal = column(kwargs, "moves", n, "rush_hour_shaped", required=False)
        return score_each("rush_hour_shaped", one, completions, boards, optimal)

    return reward
