"""``model.reasoning_vocab``: validation in the config, and the checks that need the tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import normalizers

from rlvr.config.model import ReasoningVocabConfig
from rlvr.errors import UserError
from rlvr.vocab import build_token_map
from tests.helpers.config import typed_cfg
from tests.vocab.builders import char_tokenizer

KEY = "model.reasoning_vocab"


def test_default_is_off_and_composes() -> None:
    cfg = typed_cfg([])
    assert cfg.model.reasoning_vocab == ReasoningVocabConfig()
    assert not cfg.model.reasoning_vocab.enabled
    assert build_token_map(cfg.model.reasoning_vocab, 200, char_tokenizer()) is None
    on = typed_cfg([f"{KEY}.size=8", f"{KEY}.inside=reasoning_only"]).model.reasoning_vocab
    assert on.enabled and on.size == 8 and on.inside == "reasoning_only"


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"size": -2}, f"{KEY}.size"),
        ({"size": -1}, f"{KEY}.size"),  # -1 needs init=all or a file
        ({"inside": "sometimes"}, f"{KEY}.inside"),
        ({"think_open": ""}, f"{KEY}.think_open"),
        ({"think_close": ""}, f"{KEY}.think_close"),
        ({"think_open": "<t>", "think_close": "<t>"}, f"{KEY}.think_open"),
        ({"think_open": "<think>", "think_close": "<think>!"}, f"{KEY}.think_close"),
        ({"marker": ""}, f"{KEY}.marker"),
        ({"init": " "}, f"{KEY}.init"),
    ],
)
def test_config_errors_name_the_key(overrides: dict, names: str) -> None:
    with pytest.raises(UserError, match=names.replace(".", r"\.")):
        ReasoningVocabConfig(**overrides)


def test_compose_error_names_the_key() -> None:
    with pytest.raises(UserError, match=rf"{KEY}\.size must be >= 0"):
        typed_cfg([f"{KEY}.size=-3"])


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ids.json"
    path.write_text(text)
    return str(path)


def test_init_file_errors(tmp_path: Path) -> None:
    tok = char_tokenizer()
    v = len(tok)
    cases = {
        _write(tmp_path, json.dumps([1, 2, v])): "outside the standard vocabulary",
    }
    for init, message in cases.items():
        with pytest.raises(UserError, match=rf"{KEY}\.init: .*{message}"):
            build_token_map(ReasoningVocabConfig(size=-1, init=init), v, tok)
    for text in ('{"ids": [1, 2]}', "[1, 2.5]", "[true, 3]", "[1, 2", "[]"):
        with pytest.raises(UserError, match=rf"{KEY}\.init: "):
            build_token_map(ReasoningVocabConfig(size=-1, init=_write(tmp_path, text)), v, tok)
    with pytest.raises(UserError, match=rf"{KEY}\.init: .*missing\.json"):
        build_token_map(ReasoningVocabConfig(size=3, init=str(tmp_path / "missing.json")), v, tok)
    with pytest.raises(UserError, match=rf"{KEY}\.init: .*-4"):
        build_token_map(ReasoningVocabConfig(size=-1, init=_write(tmp_path, "[-4]")), v, tok)
    with pytest.raises(UserError, match=rf"{KEY}\.size=5 must be -1 or the length"):
        build_token_map(ReasoningVocabConfig(size=5, init=_write(tmp_path, "[7, 7, 9]")), v, tok)


def test_init_modes(tmp_path: Path) -> None:
    tok = char_tokenizer()
    v = len(tok) + 3  # an embedding padded beyond the tokenizer
    tm = build_token_map(ReasoningVocabConfig(size=-1, init=_write(tmp_path, "[7, 9, 7, 7]")), v, tok)
    assert tm is not None and tm.base_vocab_size == v and tm.vocab_size == v + 4
    assert tm.source_ids == [7, 9, 7, 7] and tm.multiplicity == [1, 1, 2, 3]
    first = build_token_map(ReasoningVocabConfig(size=5), v, tok)
    assert first is not None and first.source_ids == [0, 1, 2, 3, 4]
    every = build_token_map(ReasoningVocabConfig(size=-1, init="all"), v, tok)
    assert every is not None and every.source_ids == list(range(v))
    assert build_token_map(ReasoningVocabConfig(size=v, init="all"), v, tok) is not None
    with pytest.raises(UserError, match=rf"{KEY}\.size=4 with init=all"):
        build_token_map(ReasoningVocabConfig(size=4, init="all"), v, tok)
    with pytest.raises(UserError, match=rf"{KEY}\.size={v + 1} with init=first_n"):
        build_token_map(ReasoningVocabConfig(size=v + 1), v, tok)
    with pytest.raises(UserError, match=rf"{KEY}: the model's input embedding has"):
        build_token_map(ReasoningVocabConfig(size=2), len(tok) - 1, tok)


def test_tags_the_tokenizer_cannot_write() -> None:
    tok = char_tokenizer()  # printable ASCII only: other characters are unknown
    with pytest.raises(UserError, match=rf"{KEY}\.think_open: the tokenizer cannot encode"):
        build_token_map(ReasoningVocabConfig(size=4, think_open="<думать>"), len(tok), tok)
    with pytest.raises(UserError, match=rf"{KEY}\.think_close: the tokenizer cannot encode"):
        build_token_map(ReasoningVocabConfig(size=4, think_close="</think>\t"), len(tok), tok)


def test_tag_that_decodes_to_something_else() -> None:
    tok = char_tokenizer()
    tok.backend_tokenizer.normalizer = normalizers.Lowercase()  # "<THINK>" encodes as "<think>"
    with pytest.raises(UserError, match=rf"{KEY}\.think_open: the tokenizer encodes '<THINK>' to ids that decode"):
        build_token_map(ReasoningVocabConfig(size=4, think_open="<THINK>"), len(tok), tok)
