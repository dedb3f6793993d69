"""Tests of ``rlvr.replay``: keys, selection algorithms, buffer."""
