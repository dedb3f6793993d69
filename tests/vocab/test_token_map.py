"""TokenMap: lookups for lists and tensors, save and load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch as th

from rlvr.errors import UserError
from rlvr.vocab import TOKEN_MAP_FILE, TokenMap
from tests.vocab.builders import char_tokenizer, token_map_for


def _map(tmp_path: Path) -> TokenMap:
    init = tmp_path / "ids.json"
    init.write_text("[10, 11, 10, 42]")
    return token_map_for(char_tokenizer(), 120, size=-1, init=str(init), inside="reasoning_only", marker="~")


def test_lookups(tmp_path: Path) -> None:
    tm = _map(tmp_path)
    assert (tm.base_vocab_size, tm.size, tm.vocab_size) == (120, 4, 124)
    assert tm.reasoning_ids == [120, 121, 122, 123]
    assert tm.multiplicity == [1, 1, 2, 1]
    ids = [5, 120, 121, 122, 123, 124, 119]
    assert tm.to_source(ids) == [5, 10, 11, 10, 42, 124, 119]  # ids >= V+R stay as they are
    assert tm.is_reasoning(ids) == [False, True, True, True, True, False, False]
    t = th.tensor([ids, ids[::-1]])
    assert th.equal(tm.to_source(t), th.tensor([tm.to_source(ids), tm.to_source(ids[::-1])]))
    assert th.equal(tm.is_reasoning(t), th.tensor([tm.is_reasoning(ids), tm.is_reasoning(ids[::-1])]))
    assert tm.to_source(t.int()).dtype == th.int32


def test_save_load(tmp_path: Path) -> None:
    tm = _map(tmp_path)
    tm.to_source(th.tensor([120]))  # builds a cached table: not part of what is saved or compared
    assert TokenMap.load(tmp_path / "out") is None
    path = tm.save(tmp_path / "out")
    assert path.name == TOKEN_MAP_FILE
    back = TokenMap.load(tmp_path / "out")
    assert back == tm and back is not tm
    path.write_text('{"base_vocab_size": 3}')
    with pytest.raises(UserError, match="not a valid reasoning token map"):
        TokenMap.load(tmp_path / "out")
