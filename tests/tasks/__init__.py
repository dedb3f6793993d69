"""Tests of ``rlvr.tasks``: one module per task, plus the shared answer extraction."""
