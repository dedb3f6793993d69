"""The vLLM thinking mask sees every generated token in both of vLLM's call orders (``tests/vllm/mask_call_orders.py``
says how each is replayed). vLLM's CPU build runs only the synchronous order, so the colocate run cannot show the
asynchronous one, which is CUDA's default: this replay is what guards GPU runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.vllm_env import env_result

pytestmark = [pytest.mark.vllm]


def test_thinking_mask_matches_the_trainer_in_sync_and_async_call_orders(
    vllm_env: Path, cache_dir: Path, tmp_path: Path
) -> None:
    result = env_result(["-m", "tests.vllm.mask_call_orders", str(tmp_path / "model")], cache_dir)
    for order in ("sync", "async"):
        r = result[order]
        assert r["finished"] and r["condensed"] and r["swapped"], r  # the whole schedule ran
        assert r["inside"] > 5 and r["outside"] > 5, r  # both masks had to be right
        assert r["mismatches"] == 0, (order, r)
