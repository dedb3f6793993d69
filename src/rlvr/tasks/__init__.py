"""One module per task: what defines the task lives together (its generator or column mapping,
its prompt text, its verifier and its registered rewards).

- :mod:`.arith`: seeded arithmetic problems (the offline default; rows labelled ``math``).
- :mod:`.math`: math answers: ``accuracy`` (``\\boxed{}``) and ``answer_tag`` (``<answer>``).
- :mod:`.math_norm`: math answer canonicalisation and equivalence.
- :mod:`.rush_hour`: the board engine, solver, generator, columns and Rush Hour rewards.
- :mod:`.crossword`: clue enumerations and the letters-only ``crossword`` reward.
- :mod:`.rubric`: rubric / reference-answer columns and the ``rubric`` reward (heuristic or judge).
- :mod:`.answers`: answer extraction shared with data loading (``last_boxed``, ``answer_block``).

Rewards register in :data:`rlvr.rewards.REGISTRY` when their module is imported;
``rlvr.rewards`` imports every task module, so ``import rlvr.rewards`` registers them all. This
package's ``__init__`` imports nothing, so that ``rlvr.tasks.arith`` (used by the tiny model's
warm start) stays free of the reward machinery. Data loading reaches the tasks through
:mod:`rlvr.data.generators` (generators) and :mod:`rlvr.data.sources` (per-task columns).
"""
