"""The token map of a reasoning vocabulary: which standard token each reasoning token copies.

With V the model's input-embedding row count (``model.get_input_embeddings().weight.shape[0]``, which may exceed
``len(tokenizer)``), reasoning token ``V + i`` is the ``multiplicity[i]``-th copy of standard token
``source_ids[i]``. The map travels with every saved model as ``reasoning_token_map.json``, so a checkpoint that
already holds the extended model is recognised and loaded as is.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

import torch as th
from loguru import logger
from transformers import PreTrainedTokenizerBase

from rlvr.config.model import REASONING_INSIDE_MODES, ReasoningVocabConfig
from rlvr.errors import UserError

TOKEN_MAP_FILE = "reasoning_token_map.json"
TOKEN_MAP_VERSION = 1
KEY = "model.reasoning_vocab"


@dataclass
class TokenMap:
    """Reasoning id ``base_vocab_size + i`` copies standard id ``source_ids[i]`` (its ``multiplicity[i]``-th copy)."""

    base_vocab_size: int
    source_ids: list[int]
    multiplicity: list[int]
    think_open: str = "<think>"
    think_close: str = "</think>"
    inside: str = "both"
    marker: str = "⟨{}⟩"

    def __post_init__(self) -> None:
        self._tables: dict[str, th.Tensor] = {}  # lookup tables by device (not a field: not saved, not compared)
        if len(self.source_ids) != len(self.multiplicity):
            raise ValueError("TokenMap: source_ids and multiplicity differ in length")
        if self.inside not in REASONING_INSIDE_MODES:
            raise ValueError(f"TokenMap: inside={self.inside!r} is not one of {REASONING_INSIDE_MODES}")

    @property
    def size(self) -> int:
        """R, the number of reasoning tokens."""
        return len(self.source_ids)

    @property
    def vocab_size(self) -> int:
        """V + R, the extended model's row count."""
        return self.base_vocab_size + self.size

    @property
    def reasoning_ids(self) -> list[int]:
        return list(range(self.base_vocab_size, self.vocab_size))

    def lookup_table(self, device: th.device | str = "cpu") -> th.Tensor:
        """A ``long`` tensor of V+R entries: standard ids map to themselves, reasoning ids to their source."""
        key = str(device)
        if key not in self._tables:
            table = th.arange(self.vocab_size, dtype=th.long)
            table[self.base_vocab_size :] = th.tensor(self.source_ids, dtype=th.long)
            self._tables[key] = table.to(device)
        return self._tables[key]

    @overload
    def to_source(self, ids: th.Tensor) -> th.Tensor: ...
    @overload
    def to_source(self, ids: list[int]) -> list[int]: ...
    def to_source(self, ids: th.Tensor | list[int]) -> th.Tensor | list[int]:
        """Each reasoning id replaced by its standard source id; other ids (standard, or >= V+R) unchanged."""
        if isinstance(ids, th.Tensor):
            table = self.lookup_table(ids.device)
            inside = self.is_reasoning(ids)
            safe = th.where(inside, ids, th.zeros_like(ids)).long()
            return th.where(inside, table[safe].to(ids.dtype), ids)
        v, n = self.base_vocab_size, self.vocab_size
        return [self.source_ids[i - v] if v <= i < n else i for i in ids]

    @overload
    def is_reasoning(self, ids: th.Tensor) -> th.Tensor: ...
    @overload
    def is_reasoning(self, ids: list[int]) -> list[bool]: ...
    def is_reasoning(self, ids: th.Tensor | list[int]) -> th.Tensor | list[bool]:
        """Whether each id is a reasoning token (``V <= id < V+R``): a bool tensor, or a list of bools."""
        if isinstance(ids, th.Tensor):
            return (ids >= self.base_vocab_size) & (ids < self.vocab_size)
        return [self.base_vocab_size <= i < self.vocab_size for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"version": TOKEN_MAP_VERSION, **asdict(self)}

    def save(self, directory: str | Path) -> Path:
        """Write ``reasoning_token_map.json`` into ``directory`` (created if needed); returns the file's path."""
        path = Path(directory) / TOKEN_MAP_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TokenMap | None:
        """The map saved in ``directory``, or None when it holds no ``reasoning_token_map.json``."""
        path = Path(directory) / TOKEN_MAP_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            data.pop("version", None)
            return cls(**data)
        except (json.JSONDecodeError, TypeError, ValueError) as err:
            raise UserError(f"{path}: not a valid reasoning token map ({err})") from None


def read_init_ids(path: str | Path) -> list[int]:
    """The standard ids listed in a ``model.reasoning_vocab.init`` JSON file (a list of ints, repeats allowed)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"{KEY}.init: {str(path)!r} is neither first_n, all, nor an existing JSON file of token ids")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{KEY}.init: {str(file)!r} is not valid JSON ({err})") from None
    if not isinstance(data, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in data):
        raise UserError(f"{KEY}.init: {str(file)!r} must hold a JSON list of integer token ids")
    if not data:
        raise UserError(f"{KEY}.init: {str(file)!r} holds an empty list")
    return data


def init_source_ids(cfg: ReasoningVocabConfig, base_vocab_size: int) -> list[int]:
    """The standard id each reasoning token copies, from ``cfg.size`` and ``cfg.init`` (see ReasoningVocabConfig)."""
    v = base_vocab_size
    if cfg.init == "first_n":
        if not 1 <= cfg.size <= v:
            raise UserError(f"{KEY}.size={cfg.size} with init=first_n must be between 1 and V={v}")
        return list(range(cfg.size))
    if cfg.init == "all":
        if cfg.size not in (-1, v):
            raise UserError(f"{KEY}.size={cfg.size} with init=all must be -1 or V={v} (one copy of every id)")
        return list(range(v))
    ids = read_init_ids(cfg.init)
    bad = [i for i in ids if not 0 <= i < v]
    if bad:
        raise UserError(
            f"{KEY}.init: {cfg.init!r} lists ids outside the standard vocabulary [0, {v}): {bad[:5]}"
            + (" ..." if len(bad) > 5 else "")
        )
    if cfg.size not in (-1, len(ids)):
        raise UserError(f"{KEY}.size={cfg.size} must be -1 or the length of {cfg.init!r} ({len(ids)})")
    return ids


def check_tags(cfg: ReasoningVocabConfig, tokenizer: PreTrainedTokenizerBase) -> None:
    """The tokenizer must write each tag: no unknown ids, and decoding gives the tag back."""
    for name in ("think_open", "think_close"):
        tag = getattr(cfg, name)
        ids = tokenizer.encode(tag, add_special_tokens=False)
        unk = tokenizer.unk_token_id
        if not ids or (unk is not None and unk in ids):
            raise UserError(f"{KEY}.{name}: the tokenizer cannot encode {tag!r} (it gives unknown tokens)")
        back = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if back != tag:
            raise UserError(f"{KEY}.{name}: the tokenizer encodes {tag!r} to ids that decode to {back!r}")


def build_token_map(
    cfg: ReasoningVocabConfig, base_vocab_size: int, tokenizer: PreTrainedTokenizerBase
) -> TokenMap | None:
    """The token map of ``cfg`` for a model with ``base_vocab_size`` (V) input-embedding rows; None when off.

    Checks what needs the tokenizer: V covers every tokenizer id, the init ids lie in [0, V), and the tokenizer
    can write both tags. Raises UserError naming the ``model.reasoning_vocab`` key to fix.
    """
    if not cfg.enabled:
        return None
    if base_vocab_size < len(tokenizer):
        raise UserError(
            f"{KEY}: the model's input embedding has {base_vocab_size} rows but the tokenizer {len(tokenizer)} ids; "
            "reasoning ids would collide with tokenizer ids (load the matching tokenizer, or resize first)"
        )
    check_tags(cfg, tokenizer)
    source_ids = init_source_ids(cfg, base_vocab_size)
    seen: Counter[int] = Counter()
    multiplicity = []
    for i in source_ids:
        seen[i] += 1
        multiplicity.append(seen[i])
    special = sorted(set(source_ids) & set(tokenizer.all_special_ids))
    if special:
        logger.warning(f"reasoning vocab: copies of special tokens {special[:8]} (they decode as those tokens)")
    beyond = sum(i >= len(tokenizer) for i in source_ids)
    if beyond:
        logger.warning(f"reasoning vocab: {beyond} copies of embedding rows the tokenizer has no token for")
    logger.info(f"reasoning vocab: {len(source_ids)} reasoning tokens (ids {base_vocab_size}..), init={cfg.init}")
    return TokenMap(
        base_vocab_size=base_vocab_size,
        source_ids=source_ids,
        multiplicity=multiplicity,
        think_open=cfg.think_open,
        think_close=cfg.think_close,
        inside=cfg.inside,
        marker=cfg.marker,
    )
