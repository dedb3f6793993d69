"""``exp/evaluate.py`` end to end: a real 2-step run (checkpoints at steps 1 and 2), evaluated from its ``model/``
and with ``checkpoints=all``, plus the one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

from rlvr.cli_runner import ROOT
from tests.helpers.cli import FAST, cli_env, run_cli
from tests.helpers.net import free_port

SCRIPT = "exp/evaluate.py"
SAMPLING = ["eval.n_samples=4", "eval.k_values=[1,4]", "eval.max_samples=8", "model.tiny.warmup_steps=20"]


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A 2-step tiny run with a checkpoint at every step: checkpoint-1, checkpoint-2 and model/. Its held-out split
    (24 rows) and completion length (14 tokens) differ from conf/evaluate.yaml's defaults, so a test can tell
    whether exp/evaluate.py took them from the run."""
    out = tmp_path_factory.mktemp("evalrun") / "run"
    overrides = [o for o in FAST if not o.startswith("training.save_steps=")]
    overrides += ["dataset.eval_size=24", "model.generation_kwargs.max_new_tokens=14"]
    assert_ok(run_cli([*overrides, "training.save_steps=1", "eval.enabled=false", f"hydra.run.dir={out}"], cache_dir))
    assert (out / "checkpoint-1").is_dir() and (out / "checkpoint-2").is_dir() and (out / "model").is_dir()
    return out


def check_metrics(m: dict) -> None:
    for key in ("greedy", "pass@1", "pass@4", "maj@1", "maj@4", "greedy_truncation_rate", "sample_truncation_rate"):
        assert 0.0 <= m[key] <= 1.0, (key, m)
    assert m["pass@4"] >= m["pass@1"]
    assert m["greedy_mean_tokens"] > 0 and m["sample_mean_tokens"] > 0


@pytest.mark.slow
def test_evaluates_a_run_model_dir(run_dir: Path, cache_dir: Path) -> None:
    proc = run_cli([f"model.name_or_path={run_dir / 'model'}", *SAMPLING], cache_dir, script=SCRIPT)
    assert_ok(proc)
    out = run_dir / "eval-model"  # default: next to the evaluated model
    report = json.loads((out / "eval.json").read_text())
    assert report["n_problems"] == 8 and report["n_samples"] == 4 and report["k_values"] == [1, 4]
    (entry,) = report["results"]
    assert entry["label"] == "model" and entry["step"] == 2
    check_metrics(report["metrics"])
    assert entry["per_task"] and entry["per_group"]  # arith rows are task "math"; groups: arith levels
    assert "| model (step 2) |" in (out / "eval.md").read_text()
    assert not (out / "accuracy.png").exists()  # one model: no curve


@pytest.mark.slow
def test_checkpoints_all_writes_one_entry_per_checkpoint_and_a_plot(
    run_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    proc = run_cli([f"run_dir={run_dir}", "checkpoints=all", f"output_dir={out}", *SAMPLING], cache_dir, script=SCRIPT)
    assert_ok(proc)
    report = json.loads((out / "eval.json").read_text())
    assert [(e["label"], e["step"]) for e in report["results"]] == [
        ("checkpoint-1", 1),
        ("checkpoint-2", 2),
        ("model", 2),
    ]
    for entry in report["results"]:
        check_metrics(entry["metrics"])
    png = (out / "accuracy.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000


@pytest.mark.slow
def test_run_dir_evaluates_as_the_run_was_trained(run_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    """``run_dir=`` takes the run's dataset and model groups from its .hydra/config.yaml; a group changed on the
    command line is the user's; ``checkpoints=checkpoint-<N>`` picks one checkpoint."""
    out = tmp_path / "as_trained"
    args = [f"run_dir={run_dir}", "checkpoints=checkpoint-1", "eval.n_samples=0", f"output_dir={out}"]
    proc = run_cli(args, cache_dir, script=SCRIPT)
    assert_ok(proc)
    assert "as the run was trained: model, dataset, rewards" in proc.stdout + proc.stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["n_problems"] == 24 and report["max_new_tokens"] == 14  # conf/evaluate.yaml: 500 rows, 12 tokens
    assert [(e["label"], e["step"]) for e in report["results"]] == [("checkpoint-1", 1)]

    out = tmp_path / "other_split"
    proc = run_cli([*args[:-1], f"output_dir={out}", "dataset.eval_size=6"], cache_dir, script=SCRIPT)
    assert_ok(proc)
    report = json.loads((out / "eval.json").read_text())
    assert report["n_problems"] == 6 and report["max_new_tokens"] == 14  # dataset: the user's; model: the run's

    proc = run_cli([f"run_dir={run_dir}", "checkpoints=checkpoint-7"], cache_dir, script=SCRIPT)
    assert proc.returncode == 2 and "checkpoints=checkpoint-7" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["eval.n_samples=2", "eval.k_values=[1,4]"], "eval.k_values"),
        (["checkpoints=all"], "run_dir"),
        (["checkpoints=some"], "checkpoints"),
        (["eval.nope=1"], "eval.nope"),
        (["eval.backend=vllm"], "eval.backend=vllm"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(overrides: list[str], needle: str, cache_dir: Path) -> None:
    proc = run_cli(overrides, cache_dir, script=SCRIPT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], lines


def test_bad_run_dir_names_the_key(tmp_path: Path, cache_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli([f"run_dir={tmp_path / 'empty'}"], cache_dir, script=SCRIPT)
    assert proc.returncode == 2 and "run_dir:" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow
@pytest.mark.multiproc
def test_accelerate_launch_shards_problems_and_matches_one_process(
    run_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """2 CPU ranks: each generates for its shard, rank 0 writes; greedy results equal the one-process run's."""
    args = [f"model.name_or_path={run_dir / 'model'}", *SAMPLING]
    assert_ok(run_cli([*args, f"output_dir={tmp_path / 'one'}"], cache_dir, script=SCRIPT))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "conf/accelerate/ddp.yaml")]
    cmd += ["--num_processes", "2", "--main_process_port", str(free_port()), str(ROOT / SCRIPT), *args]
    cmd += [f"output_dir={tmp_path / 'two'}"]
    env = cli_env(cache_dir, OMP_NUM_THREADS="1")
    assert_ok(subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600))
    one, two = (json.loads((tmp_path / d / "eval.json").read_text()) for d in ("one", "two"))
    assert one["ranks"] == 1 and two["ranks"] == 2 and two["n_problems"] == one["n_problems"] == 8
    for key in ("greedy", "greedy_mean_tokens", "greedy_truncation_rate"):
        assert two["metrics"][key] == one["metrics"][key], key
    check_metrics(two["metrics"])


@pytest.mark.slow
def test_a_reasoning_vocabulary_model_is_masked_and_read_as_in_training(
    run_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """A model whose reasoning copies outscore their sources (copy rows x1.01, tied): with ``{``/``}`` as the
    thinking tags, greedy decoding writes copies inside ``\\boxed{...}``. The transformers backend must mask them
    outside thinking and read them as their sources, as training's evaluation does: the completions are then the
    plain model's, where a plain ``tokenizer.decode`` would drop every copy (``\\boxed{}``)."""
    from transformers import AutoModelForCausalLM

    from rlvr.config.model import ReasoningVocabConfig
    from rlvr.evaluation.decoding import generate_completions as generate
    from rlvr.evaluation.offline import thinking_generation
    from rlvr.models import load_tokenizer
    from rlvr.tiny_model import format_prompt
    from rlvr.vocab import build_token_map, extend_model

    plain_dir, vocab_dir = run_dir / "model", tmp_path / "vocab_model"
    tok = load_tokenizer(str(plain_dir))
    model = AutoModelForCausalLM.from_pretrained(plain_dir)
    cfg = ReasoningVocabConfig(size=-1, init="all", think_open="{", think_close="}")
    tm = build_token_map(cfg, len(tok), tok)
    extend_model(model, tm)
    with th.no_grad():
        model.get_input_embeddings().weight[tm.base_vocab_size :] *= 1.01
    model.save_pretrained(vocab_dir)
    tok.save_pretrained(vocab_dir)
    tm.save(vocab_dir)

    prompts = [format_prompt(f"{a}+{b}", "") for a, b in ((12, 34), (47, 38), (5, 61), (70, 19), (33, 33), (8, 9))]
    plain = [g[0].text for g in generate(AutoModelForCausalLM.from_pretrained(plain_dir), tok, prompts, 14, 8)]
    processors, decode = thinking_generation(str(vocab_dir), tok)
    assert processors and decode
    masked = [
        g[0].text for g in generate(model.eval(), tok, prompts, 14, 8, logits_processors=processors, decode=decode)
    ]
    raw = [g[0].text for g in generate(model.eval(), tok, prompts, 14, 8, logits_processors=processors)]
    assert raw != plain, "no copy was written: the check below would prove nothing"
    assert sum(m == p for m, p in zip(masked, plain, strict=True)) >= len(prompts) - 1, (masked, plain)

    reports = {}
    for name, path in (("plain", plain_dir), ("vocab", vocab_dir)):
        out = tmp_path / f"eval_{name}"
        proc = run_cli(
            [f"model.name_or_path={path}", "eval.n_samples=0", f"output_dir={out}"], cache_dir, script=SCRIPT
        )
        assert_ok(proc)
        reports[name] = json.loads((out / "eval.json").read_text())["metrics"]
    assert "generating under the thinking mask" in proc.stdout + proc.stderr
    assert abs(reports["vocab"]["greedy"] - reports["plain"]["greedy"]) <= 1 / 8 + 1e-9, reports
    assert abs(reports["vocab"]["greedy_mean_tokens"] - reports["plain"]["greedy_mean_tokens"]) <= 1.0, reports
