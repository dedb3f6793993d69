"""Where generation is inside the thinking block, and the logits processor that enforces the reasoning vocabulary.

The tags (``<think>``, ``</think>``) may span several tokens (the tiny model's character tokenizer writes
``<think>`` with seven tokens; Qwen3 has one special token for it). :class:`ThinkingTracker` therefore runs a
character-level automaton for both tags over each token's text, taken from a table of every id's decoded string
built once per tokenizer (a reasoning id reads as its source token). Each new token costs O(1) (one cached
transition per (state, token)); the sequence is never decoded.

State of one sequence: an ``int`` packing (inside, partial match of the open tag, partial match of the close tag).
"Inside" follows :func:`inside_thinking_reference`: inside iff the last complete open tag ends after the last
complete close tag in the text so far (the prompt included).

Limitation: the tracker reads the concatenation of the tokens' individual strings. That equals the decoded text for
character-level, byte-level BPE (Qwen, Llama 3) and added-token tokenizers as long as the tags are whole characters
in each token (ASCII tags always are); a tokenizer whose single-token decode drops a leading space (SentencePiece)
is exact only for tags without spaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch as th
from loguru import logger
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from rlvr.vocab.token_map import TokenMap


def inside_thinking_reference(text: str, think_open: str = "<think>", think_close: str = "</think>") -> bool:
    """Whether ``text`` ends inside a thinking block: its last ``think_open`` ends after its last ``think_close``.

    The decode-the-prefix reference the tracker must agree with (tests compare them at every position).
    """
    o = text.rfind(think_open)
    if o < 0:
        return False
    c = text.rfind(think_close)
    return c < 0 or o + len(think_open) > c + len(think_close)


def token_strings(tokenizer: PreTrainedTokenizerBase, n_ids: int, token_map: TokenMap | None = None) -> list[str]:
    """The text of each id in ``[0, n_ids)`` decoded alone (special tokens kept): the tracker's input.

    Ids the tokenizer has no token for (padded embedding rows) read as ``""``; reasoning ids read as their source.
    """
    n_tok = min(len(tokenizer), n_ids)
    texts = tokenizer.batch_decode(
        [[i] for i in range(n_tok)], skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    texts += [""] * (n_ids - n_tok)
    if token_map is not None:
        for i, src in enumerate(token_map.source_ids):
            j = token_map.base_vocab_size + i
            if j < n_ids:
                texts[j] = texts[src] if src < len(texts) else ""
    return texts


def _tag_transitions(tag: str) -> tuple[list[dict[str, int]], int]:
    """Per state j (j chars of ``tag`` matched), the next state for each character of ``tag``; any other
    character leads to 0. Reaching ``len(tag)`` is a match; the state then falls back to the tag's longest proper
    border (so overlapping occurrences are seen). Returns (transitions, border)."""
    m = len(tag)
    alphabet = set(tag)

    def longest(text: str) -> int:
        for k in range(min(m, len(text)), -1, -1):
            if text.endswith(tag[:k]):
                return k
        return 0

    table = [{ch: longest(tag[:j] + ch) for ch in alphabet} for j in range(m)]
    border = longest(tag[1:]) if m > 1 else 0
    return table, border


class ThinkingTracker:
    """The thinking state machine for one tokenizer and pair of tags (one implementation for sampling and metrics).

    States are ints; :attr:`initial` is "outside, nothing matched". ``step(state, token_id)`` is O(1) amortised
    (transitions are cached per (state, token)); ``run(state, ids)`` folds a sequence.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        think_open: str = "<think>",
        think_close: str = "</think>",
        token_map: TokenMap | None = None,
        n_ids: int | None = None,
    ) -> None:
        if not think_open or not think_close or think_open in think_close or think_close in think_open:
            raise ValueError("ThinkingTracker: the tags must be non-empty and neither may contain the other")
        self.think_open, self.think_close = think_open, think_close
        if n_ids is None:
            n_ids = token_map.vocab_size if token_map is not None else len(tokenizer)
        self.n_ids = n_ids
        self.strings = token_strings(tokenizer, n_ids, token_map)
        self._open, self._open_border = _tag_transitions(think_open)
        self._close, self._close_border = _tag_transitions(think_close)
        self._n_open, self._n_close = len(think_open), len(think_close)
        self._cache: dict[int, int] = {}
        self.initial = 0

    @classmethod
    def from_token_map(cls, token_map: TokenMap, tokenizer: PreTrainedTokenizerBase) -> ThinkingTracker:
        return cls(tokenizer, token_map.think_open, token_map.think_close, token_map=token_map)

    # state packing: ((inside * n_open) + open_progress) * n_close + close_progress
    def _pack(self, inside: bool, o: int, c: int) -> int:
        return (int(inside) * self._n_open + o) * self._n_close + c

    def _unpack(self, state: int) -> tuple[bool, int, int]:
        rest, c = divmod(state, self._n_close)
        inside, o = divmod(rest, self._n_open)
        return bool(inside), o, c

    def is_inside(self, state: int) -> bool:
        return state >= self._n_open * self._n_close

    def close_progress(self, state: int) -> int:
        """How many characters of the closing tag are matched at the end of the text so far."""
        return state % self._n_close

    def step_text(self, state: int, text: str) -> int:
        """The state after reading ``text`` (character by character)."""
        inside, o, c = self._unpack(state)
        for ch in text:
            o = self._open[o].get(ch, 0)
            if o == self._n_open:
                inside, o = True, self._open_border
            c = self._close[c].get(ch, 0)
            if c == self._n_close:
                inside, c = False, self._close_border
        return self._pack(inside, o, c)

    def step(self, state: int, token_id: int) -> int:
        """The state after token ``token_id`` (ids outside the table read as empty text)."""
        if not 0 <= token_id < self.n_ids:
            return state
        key = state * self.n_ids + token_id
        nxt = self._cache.get(key)
        if nxt is None:
            nxt = self._cache[key] = self.step_text(state, self.strings[token_id])
        return nxt

    def run(self, ids: Iterable[int], state: int | None = None) -> int:
        """The state after reading ``ids`` from ``state`` (default: the initial state)."""
        s = self.initial if state is None else state
        for i in ids:
            s = self.step(s, i)
        return s

    def completion_states(
        self, prompt: Iterable[int], completion: Sequence[int], keep: Sequence[bool] | None = None
    ) -> list[int]:
        """The state before each token of ``completion``, starting after ``prompt``; tokens whose ``keep`` is False
        (padding) are not read. One replay for the usage metrics and the loss's mask."""
        s = self.run(prompt)
        states = []
        for i, t in enumerate(completion):
            states.append(s)
            if keep is None or keep[i]:
                s = self.step(s, t)
        return states

    def inside_before(self, ids: Sequence[int], state: int | None = None) -> tuple[list[bool], int]:
        """For each token of ``ids``: was generation inside thinking when it was sampled? Also the final state."""
        s = self.initial if state is None else state
        flags = []
        for i in ids:
            flags.append(self.is_inside(s))
            s = self.step(s, i)
        return flags, s

    def closing_ids(self, progress: int, n_standard: int) -> list[int]:
        """Standard ids (< ``n_standard``) that continue or (re)start the closing tag when ``progress`` characters
        of it are matched: their text is a prefix of the rest of the tag or of the whole tag, or begins with it."""
        tag, rest = self.think_close, self.think_close[progress:]
        firsts = {rest[0], tag[0]}  # every such text starts with one of these
        found = []
        for i, s in enumerate(self.strings[:n_standard]):
            if (
                s
                and s[0] in firsts
                and (rest.startswith(s) or s.startswith(rest) or tag.startswith(s) or s.startswith(tag))
            ):
                found.append(i)
        return found


class ThinkingLogitsProcessor(LogitsProcessor):
    """Masks the reasoning vocabulary during ``model.generate``: reasoning ids only inside thinking.

    - Outside thinking: the scores of reasoning ids (columns V..V+R-1) become -inf.
    - Inside thinking, ``inside=both``: nothing is masked.
    - Inside thinking, ``inside=reasoning_only``: every standard id is -inf except those that write the closing tag
      from the current partial match (:meth:`ThinkingTracker.closing_ids`). EOS is masked there too: a completion
      must close its thinking block before it can end.
    - Should a row be left with no finite score (an earlier processor masked the rest), its closing-tag ids
      (inside, reasoning_only) or EOS (outside) get score 0, so sampling never sees an all -inf row.
    - Columns >= V+R (a vocabulary padded beyond the extended model's ids) are left as they are.

    State is kept per batch row. The first call of a ``generate`` reads the whole prompt once (a prompt may open, or
    open and close, a thinking block); each later call reads only the newest token. A new ``generate`` is detected
    when the batch size changes, the length is not one more than last time, or the previous last token differs;
    call :meth:`reset` to be explicit. Prompt padding is read as its token's text (harmless for usual pad tokens).
    """

    def __init__(
        self, token_map: TokenMap, tokenizer: PreTrainedTokenizerBase, tracker: ThinkingTracker | None = None
    ) -> None:
        self.token_map = token_map
        self.tracker = tracker or ThinkingTracker.from_token_map(token_map, tokenizer)
        self.eos_token_id = tokenizer.eos_token_id
        self.closing: list[list[int]] = []
        if token_map.inside == "reasoning_only":
            n_std = min(token_map.base_vocab_size, len(tokenizer))
            self.closing = [self.tracker.closing_ids(c, n_std) for c in range(len(token_map.think_close))]
            if not any(self.closing):
                logger.warning("reasoning vocab: no standard token writes the closing tag")
        self._allowed: dict[str, th.Tensor] = {}
        self.reset()

    def reset(self) -> None:
        """Forget all rows: the next call reads its input ids from the start."""
        self.states: list[int] = []
        self._length = 0
        self._last: list[int] = []

    def _allowed_table(self, device: th.device) -> th.Tensor:
        """(len(close tag), V) bool: which standard ids stay allowed inside thinking, per close-tag progress."""
        key = str(device)
        if key not in self._allowed:
            v = self.token_map.base_vocab_size
            table = th.zeros(len(self.closing), v, dtype=th.bool)
            for c, ids in enumerate(self.closing):
                table[c, ids] = True
            self._allowed[key] = table.to(device)
        return self._allowed[key]

    def update(self, input_ids: th.Tensor) -> list[int]:
        """Bring the per-row states up to date with ``input_ids`` (B, L); returns them."""
        b, length = input_ids.shape
        tail = input_ids[:, -2:].tolist() if length >= 2 else input_ids.tolist()
        fresh = (
            b != len(self.states)
            or length != self._length + 1
            or length < 2
            or any(row[0] != last for row, last in zip(tail, self._last, strict=True))
        )
        if fresh:
            self.states = [self.tracker.run(row) for row in input_ids.tolist()]
        else:
            self.states = [self.tracker.step(s, row[-1]) for s, row in zip(self.states, tail, strict=True)]
        self._length = length
        self._last = [row[-1] for row in tail]
        return self.states

    def __call__(self, input_ids: th.LongTensor, scores: th.FloatTensor) -> th.FloatTensor:
        return self.mask_scores(self.update(input_ids), scores)

    def mask_scores(self, states: Sequence[int], scores: th.Tensor) -> th.Tensor:
        """``scores`` (B, n) with the ids each row may not sample (given its tracker state) set to -inf."""
        tm, tracker = self.token_map, self.tracker
        v, n = tm.base_vocab_size, min(tm.vocab_size, scores.shape[1])
        inside = [tracker.is_inside(s) for s in states]
        mask = th.zeros(scores.shape, dtype=th.bool, device=scores.device)
        inside_t = th.tensor(inside, dtype=th.bool, device=scores.device)
        if n > v:
            mask[:, v:n] = ~inside_t[:, None]
        only = tm.inside == "reasoning_only"
        if only and any(inside):
            rows = [i for i, flag in enumerate(inside) if flag]
            progress = th.tensor([tracker.close_progress(states[i]) for i in rows], device=scores.device)
            allowed = self._allowed_table(scores.device)[progress]
            w = min(v, scores.shape[1])
            mask[rows, :w] = ~allowed[:, :w]
        out = scores.masked_fill(mask, float("-inf"))
        dead = th.isneginf(out).all(dim=-1)
        if dead.any():
            for i in dead.nonzero().flatten().tolist():
                ids = self.closing[tracker.close_progress(states[i])] if only and inside[i] else []
                if not inside[i] and self.eos_token_id is not None:
                    ids = [self.eos_token_id]
                if ids:
                    out[i, ids] = 0.0
        return out
