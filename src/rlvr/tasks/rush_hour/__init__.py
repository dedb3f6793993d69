"""The Rush Hour task: a board engine, an optimal solver, a seeded generator, the columns its rows
carry, and the ``rush_hour_exact`` / ``rush_hour_shaped`` rewards.

- :mod:`.board`: board and move formats, parsing, the simulator.
- :mod:`.solver`: breadth-first search for an optimal move list.
- :mod:`.generator`: seeded solvable boards, their prompt text, the ``rush_hour`` generator.
- :mod:`.columns`: the ``board`` / ``moves`` columns of rows from any source.
- :mod:`.rewards`: the registered rewards.

Importing this package registers the rewards and the task (``TASK``: its generator, columns and answer key).
"""

from rlvr.registry.tasks import Generator, Task, register_task
from rlvr.tasks.answers import answer_block
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
    "TASK",
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
    "rush_hour_answer_key",
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


def rush_hour_answer_key(text: str) -> str | None:
    """The moves of the last ``<answer>`` block (else of the whole text) as the rewards parse them, for the vote."""
    payload = answer_block(text)
    moves = parse_moves(text if payload is None else payload)
    return " ".join(repr(m) for m in moves) or None


TASK = register_task(
    Task(
        "rush_hour",
        correctness=("rush_hour_exact",),
        shaping=("rush_hour_shaped",),
        answer_key=rush_hour_answer_key,
        fields=task_fields,
        required_column=REQUIRED_COLUMN,
        generators={"rush_hour": Generator(generate_rows, n_train=2000)},
    )
)
