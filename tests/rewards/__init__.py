"""Tests of ``rlvr.rewards``: the registry (task routing), presets, generic shaping rewards, robustness."""
