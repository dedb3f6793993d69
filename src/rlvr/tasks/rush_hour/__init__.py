"""The Rush Hour task: a board engine, an optimal solver, a seeded generator, the columns its rows
carry, and the ``rush_hour_exact`` / ``rush_hour_shaped`` rewards.

- :mod:`.board`: board and move formats, parsing, the simulator.
- :mod:`.solver`: breadth-first search for an optimal move list.
- :mod:`.generator`: seeded solvable boards, their prompt text, the ``rush_hour`` generator.
- :mod:`.columns`: the ``board`` / ``moves`` columns of rows from any source.
- :mod:`.rewards`: the registered rewards (importing this package registers them).
"""

from rlvr.tasks.rush_hour.board import (
    Board,
    BoardError,
    Car,
    Move,
    SimResult,
    apply_move,
    format_moves,
    parse_board,
    parse_moves,
    potential,
    simulate,
)
from rlvr.tasks.rush_hour.columns import REQUIRED_COLUMN, row_major_to_grid, rush_hour_board, task_fields
from rlvr.tasks.rush_hour.generator import generate_rows, generate_rush_hour, rush_hour_prompt, rush_hour_user_text
from rlvr.tasks.rush_hour.rewards import TASKS, rush_hour_exact, rush_hour_shaped, score_exact, score_shaped
from rlvr.tasks.rush_hour.solver import solve

__all__ = [
    "REQUIRED_COLUMN",
    "TASKS",
    "Board",
    "BoardError",
    "Car",
    "Move",
    "SimResult",
    "apply_move",
    "format_moves",
    "generate_rows",
    "generate_rush_hour",
    "parse_board",
    "parse_moves",
    "potential",
    "row_major_to_grid",
    "rush_hour_board",
    "rush_hour_exact",
    "rush_hour_prompt",
    "rush_hour_shaped",
    "rush_hour_user_text",
    "score_exact",
    "score_shaped",
    "simulate",
    "solve",
    "task_fields",
]
