"""Drive :class:`rlvr.vocab.vllm_mask.ThinkingMaskVLLM` through vLLM 0.30's persistent-batch call sequence, in the
two orders its model runner uses, and compare every step's mask with the one the trainer builds from the real ids.

Run by ``tests/vllm/test_mask_order.py`` with the vLLM env's python (``python -m tests.vllm.mask_call_orders DIR``):
it needs vLLM's ``BatchUpdate`` and ``MoveDirectionality``, and prints one ``RESULT=`` JSON line.

Per step, as ``GPUModelRunner`` does it:
- ``sync`` (vLLM's CPU build, and CUDA with async scheduling off): the sampled token is appended to the request's
  output list in ``_bookkeeping_sync``; the next step's ``update_state`` then ``apply`` see it.
- ``async`` (CUDA's default): ``_bookkeeping_sync`` appends a ``-1`` placeholder; the next step's ``update_state``
  runs with it still there; ``_sample`` replaces it with the real id (``update_async_output_token_ids``) just
  before the logits processors' ``apply``.
Requests join at different steps, one finishes and is removed, the batch is condensed (a one-way move) and two rows
are swapped, as vLLM's ``InputBatch`` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch as th
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

from rlvr.vocab.thinking import ThinkingLogitsProcessor
from rlvr.vocab.vllm_mask import ThinkingMaskVLLM
from tests.vocab.builders import char_tokenizer, token_map_for

# (prompt, completion): ends outside, leaves thinking, never enters it
REQUESTS = [
    ("7+8=", "<think>7+8=15</think>\\boxed{15}"),
    ("<think>1", "+1=2</think>2"),
    ("3+4=", "\\boxed{7}"),
]
JOIN = {0: [(0, 0), (1, 1)], 3: [(2, 2)]}  # step -> [(request, row)]


def drive(model_dir: Path, order: str) -> dict:
    tok = char_tokenizer()
    tm = token_map_for(tok, size=-1, init="all")
    config = SimpleNamespace(
        model_config=SimpleNamespace(model=str(model_dir), tokenizer=str(model_dir), trust_remote_code=False)
    )
    proc = ThinkingMaskVLLM(config, th.device("cpu"), False)
    reference = ThinkingLogitsProcessor(tm, tok)
    prompts = [tok.encode(p, add_special_tokens=False) for p, _ in REQUESTS]
    completions = [tok.encode(c, add_special_tokens=False) for _, c in REQUESTS]
    outputs: list[list[int]] = [[] for _ in REQUESTS]  # each request's live output list (vLLM's CachedRequestState)
    produced = [0] * len(REQUESTS)
    rows: dict[int, int] = {}  # row -> request
    steps = mismatches = inside_steps = outside_steps = 0
    swapped = condensed = False
    for step in range(40):
        removed, added, moved = [], [], []
        for row, req in list(rows.items()):
            if produced[req] == len(completions[req]):  # finished: removed from the batch
                removed.append(row)
                del rows[row]
        for req, row in JOIN.get(step, []):
            rows[row] = req
            added.append((row, None, prompts[req], outputs[req]))
        if removed and max(rows, default=-1) > min(removed):  # condense: the last row fills the hole
            hole, last = min(removed), max(rows)
            rows[hole] = rows.pop(last)
            moved.append((last, hole, MoveDirectionality.UNIDIRECTIONAL))
            condensed = True
        elif len(rows) >= 2 and not swapped and step >= 5:  # a swap, as vLLM's reordering does
            rows[0], rows[1] = rows[1], rows[0]
            moved.append((0, 1, MoveDirectionality.SWAP))
            swapped = True
        if not rows:
            if step > max(JOIN):
                break
            continue
        batch = BatchUpdate(len(rows), removed, added, moved) if removed or added or moved else None
        proc.update_state(batch)
        if order == "async":  # _sample: update_async_output_token_ids replaces the placeholders with the real ids
            for req in rows.values():
                if outputs[req] and outputs[req][-1] == -1:
                    outputs[req][-1] = completions[req][produced[req] - 1]
        n = max(rows) + 1
        masked = proc.apply(th.zeros(n, tm.vocab_size))
        for row, req in rows.items():
            state = reference.tracker.run(prompts[req] + completions[req][: produced[req]])
            expected = reference.mask_scores([state], th.zeros(1, tm.vocab_size))[0]
            mismatches += int(not th.equal(th.isfinite(masked[row]), th.isfinite(expected)))
            inside = reference.tracker.is_inside(state)
            inside_steps += int(inside)
            outside_steps += int(not inside)
            steps += 1
        for req in rows.values():  # sample, then _bookkeeping_sync
            token = completions[req][produced[req]]
            produced[req] += 1
            outputs[req].append(token if order == "sync" else -1)
    return {
        "steps": steps,
        "mismatches": mismatches,
        "inside": inside_steps,
        "outside": outside_steps,
        "finished": produced == [len(c) for c in completions],
        "condensed": condensed,
        "swapped": swapped,
    }


def main(model_dir: Path) -> None:
    tok = char_tokenizer()
    model_dir.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(model_dir)
    token_map_for(tok, size=-1, init="all").save(model_dir)
    print("RESULT=" + json.dumps({order: drive(model_dir, order) for order in ("sync", "async")}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
