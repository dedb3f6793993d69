"""Tests of ``rlvr.data``: sources, presets, mixtures, prompt processing, end-to-end CLI runs."""
