"""exp/sft_train.py: the score filter and bad input. The whole pipeline end to end (samples from the tiny model served
by ``transformers serve`` -> filtered by reward -> SFT for a few steps -> a 2-step GRPO run from its model/) is in
tests/test_generate.py, which starts that server once for all its tests."""

from __future__ import annotations

import json
from pathlib import Path

from rlvr.cli_runner import run_script
from rlvr.sft import SFTSettings, sft_examples

PROMPT = [{"role": "user", "content": "1+2"}]


def row(completions: list[str], correctness: list[float | None] | None, accuracy: list[float] | None = None) -> dict:
    out = {"id": "train-0-x", "prompt": PROMPT, "completions": completions, "correctness": correctness}
    if accuracy is not None:
        out["scores"] = {"accuracy": accuracy}
    return out


def test_sft_examples_filter_by_score() -> None:
    rows = [row(["\\boxed{3}", "\\boxed{4}", "\\boxed{3}", "x"], [1.0, 0.0, 1.0, None]), row(["a"], None)]
    examples, counts = sft_examples(rows, SFTSettings())
    assert [e["completion"][0]["content"] for e in examples] == ["\\boxed{3}"]  # deduped
    assert examples[0]["prompt"] == PROMPT and examples[0]["completion"][0]["role"] == "assistant"
    assert counts == {"completions": 5, "kept": 1, "unscored": 1, "prompts": 2}
    assert len(sft_examples(rows, SFTSettings(dedupe=False))[0]) == 2
    assert len(sft_examples(rows, SFTSettings(min_score=0.0, dedupe=False))[0]) == 3
    assert len(sft_examples(rows, SFTSettings(min_score=None))[0]) == 4  # every completion, scores or not
    by_reward = sft_examples([row(["p", "q"], None, accuracy=[0.2, 0.9])], SFTSettings(score="accuracy", min_score=0.5))
    assert [e["completion"][0]["content"] for e in by_reward[0]] == ["q"]
    assert len(sft_examples(rows, SFTSettings(min_score=0.0, max_per_prompt=1))[0]) == 1


def test_sft_bad_input_is_one_line(tmp_path: Path) -> None:
    proc = run_script([], script="exp/sft_train.py", timeout=120)
    assert proc.returncode == 2 and "sft.data" in proc.stdout + proc.stderr
    data = tmp_path / "unscored.jsonl"
    data.write_text(json.dumps(row(["a"], None)) + "\n")
    proc = run_script([f"sft.data={data}", f"paths.output_root={tmp_path}"], script="exp/sft_train.py", timeout=300)
    assert proc.returncode == 2 and "generate.score=true" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
