"""Held-out evaluation: greedy generation (``generation.py``), per-task correctness scoring (``scoring.py``) and
the evaluation every rank joins during a training run (``heldout.py``)."""
