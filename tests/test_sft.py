"""exp/sft_train.py: the score filter, bad input, and the whole pipeline end to end: samples from the tiny model
served by ``transformers serve`` -> filtered by reward -> SFT for a few steps -> a 2-step GRPO run from its model/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.cli_runner import run_script
from rlvr.sft import SFTSettings, sft_examples
from tests.helpers.cli import FAST, cli_env, run_cli
from tests.helpers.serve import served_tiny_model

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


@pytest.mark.slow
def test_generate_filter_sft_then_grpo(cache_dir: Path, tmp_path: Path) -> None:
    env = cli_env(cache_dir, OMP_NUM_THREADS="1")
    samples = tmp_path / "samples.jsonl"
    with served_tiny_model(cache_dir, tmp_path) as server:
        gen = run_script(
            [
                f"generate.base_url={server.base_url}",
                f"generate.model={server.model}",
                f"generate.output={samples}",
                "generate.num_samples=2",
                "generate.max_prompts=16",
                "generate.max_tokens=16",
                "generate.score=true",
                "generate.progress=false",
            ],
            script="exp/generate.py",
            env=env,
            timeout=300,
        )
    assert gen.returncode == 0, gen.stdout[-3000:] + gen.stderr[-3000:]
    # The FAST tiny model (20 warm-up steps) rarely solves a problem: keep every scored completion (min_score=0);
    # test_sft_examples_filter_by_score covers the filter itself.
    sft_root = tmp_path / "outputs"
    sft = run_script(
        [
            f"sft.data={samples}",
            "sft.min_score=0.0",
            "sft.max_steps=3",
            "sft.per_device_train_batch_size=8",
            f"paths.output_root={sft_root}",
            *[o for o in FAST if o.startswith("model.")],
        ],
        script="exp/sft_train.py",
        env=env,
        timeout=300,
    )
    assert sft.returncode == 0, sft.stdout[-3000:] + sft.stderr[-3000:]
    (run_dir,) = (sft_root / "sft").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["examples"] > 0 and summary["completions_in_data"] == 32
    assert (run_dir / "train.log").stat().st_size > 0 and (run_dir / ".hydra" / "config.yaml").exists()
    model = run_dir / "model"
    assert (model / "config.json").exists() and (model / "model.safetensors").exists()
    assert (model / "tokenizer.json").exists() and (model / "chat_template.jinja").exists()
    grpo = run_cli([*FAST, f"model.name_or_path={model}", f"paths.output_root={tmp_path / 'grpo'}"], cache_dir)
    assert grpo.returncode == 0, grpo.stdout[-3000:] + grpo.stderr[-3000:]
    (grpo_dir,) = (tmp_path / "grpo" / "default").iterdir()
    grpo_summary = json.loads((grpo_dir / "summary.json").read_text())
    assert grpo_summary["steps"] == 2 and grpo_summary["model"] == str(model)
