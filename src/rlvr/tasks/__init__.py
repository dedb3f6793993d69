"""One module per task: what defines the task lives together (its generator or column mapping, its prompt text,
its verifier, its registered rewards) and is declared once, with ``register_task(Task(...))``
(:mod:`rlvr.registry.tasks`), where the module is defined.

- :mod:`.math`: math answers: ``accuracy`` (``\\boxed{}``) and ``answer_tag`` (``<answer>``); the ``arith``
  generator (:mod:`.arith`: seeded arithmetic problems, the offline default; rows labelled ``math``).
- :mod:`.math_norm`: math answer canonicalisation and equivalence.
- :mod:`.rush_hour`: the board engine, solver, generator, columns and Rush Hour rewards.
- :mod:`.crossword`: clue enumerations and the letters-only ``crossword`` reward.
- :mod:`.rubric`: rubric / reference-answer columns and the ``rubric`` reward (heuristic or judge).
- :mod:`.answers`: answer extraction shared by the tasks (``last_boxed``, ``answer_block``).

Importing this package registers every built-in task and its rewards, so code that reads the registries (data
loading, scoring, pass@k) imports what it needs from here. A task of your own is a module that does the same
registration, named in ``plugins`` (docs/configuration.md, "Your own code and presets").
"""

from rlvr.registry.tasks import (
    DEFAULT_TASK,
    TASKS,
    Generator,
    Task,
    answer_key,
    find_task,
    generator,
    is_generator,
    register_task,
    task_fields,
)
from rlvr.tasks import crossword as _crossword  # noqa: F401  (each task module registers its task and rewards)
from rlvr.tasks import math as _math  # noqa: F401
from rlvr.tasks import rubric as _rubric  # noqa: F401
from rlvr.tasks import rush_hour as _rush_hour  # noqa: F401

__all__ = [
    "DEFAULT_TASK",
    "TASKS",
    "Generator",
    "Task",
    "answer_key",
    "find_task",
    "generator",
    "is_generator",
    "register_task",
    "task_fields",
]
