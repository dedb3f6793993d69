"""End-to-end runs of the real CLI (`exp/grpo_train.py`) with the tiny offline model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rlvr.tiny_model import TinyModelSpec, build_model, build_tokenizer
from tests.helpers.cli import FAST, ROOT, run_cli


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_ok(proc) -> None:  # noqa: ANN001
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_default_run_writes_a_self_describing_run_dir(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [o for o in FAST if o != "print_config=none"]
    proc = run_cli([*overrides, "exp_name=e2e", "seed=3", "eval.every_steps=2", f"hydra.run.dir={run_dir}"], cache_dir)
    assert_ok(proc)
    console = proc.stdout + proc.stderr
    assert "training.learning_rate: 5e-05" in console  # print_config=diff: what differs from the defaults
    assert "training.num_generations:" not in console  # ... and not the keys left at TRL's defaults
    for key in ("run dir", "model ", "dataset ", "rewards", "overrides", "device", "finished: held-out accuracy"):
        assert key in console, f"{key!r} missing from the console:\n{console}"
    assert "{'loss'" not in console and "'loss'" in (run_dir / "train.log").read_text()  # raw dicts: log file only
    assert "Writing model shards" not in console
    # diff (~25 lines) + banner (8) + data/model/eval lines (~10) + progress (2 steps) + end banner (6)
    assert len(console.splitlines()) < 70, console
    composed = yaml.safe_load((run_dir / ".hydra/config.yaml").read_text())
    assert composed["exp_name"] == "e2e" and composed["seed"] == 3
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    train_rows = [m for m in metrics if "reward" in m]
    assert [m["step"] for m in train_rows] == [1, 2]  # one line per logging step
    assert all(0.0 <= m["reward"] <= 1.0 and m["generated_tokens"] > 0 for m in train_rows)
    for m in train_rows:  # the two kinds of uniform group, apart (rewards=math: correctness is the only reward)
        assert 0.0 <= m["frac_all_correct"] <= 1.0 and 0.0 <= m["frac_all_wrong"] <= 1.0, m
        assert m["frac_all_correct"] + m["frac_all_wrong"] == pytest.approx(m["frac_reward_zero_std"]), m
    periodic = [m for m in metrics if "eval/accuracy" in m]
    assert [(m["step"], m["eval/n"]) for m in periodic] == [(2, 16)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["seed"] == 3
    assert 0.0 <= summary["accuracy_before"] <= 1.0 and 0.0 <= summary["accuracy_after"] <= 1.0
    assert summary["eval_after"]["n"] == 16
    assert summary["generated_tokens"] == train_rows[-1]["generated_tokens"]
    assert summary["wall_seconds"] > 0 and summary["git_commit"]
    assert (run_dir / "model/config.json").exists() and (run_dir / "model/tokenizer.json").exists()
    assert (run_dir / "checkpoint-2/rlvr_state.json").exists()
    log = (run_dir / "train.log").read_text()
    assert "held-out greedy accuracy after" in log
    card = (run_dir / "model/README.md").read_text()
    assert summary["model"] in card and "[None]" not in card and "exp_name=e2e" in card
    env = summary["environment"]
    assert env["uv_lock_sha256"] and env["packages"]["trl"] and env["packages"]["torch"]
    assert env["device"] == "cpu" and env["num_processes"] == 1 and env["git_dirty"] in (True, False)


def test_resume_auto_continues_from_the_last_checkpoint(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    assert_ok(run_cli([*FAST, f"hydra.run.dir={run_dir}", "eval.after=false"], cache_dir))
    first = json.loads((run_dir / "summary.json").read_text())
    proc = run_cli(
        [
            *FAST,
            f"hydra.run.dir={run_dir}",
            "eval.after=false",
            "training.max_steps=4",
            "training.resume_from_checkpoint=auto",
        ],
        cache_dir,
    )
    assert_ok(proc)
    second = json.loads((run_dir / "summary.json").read_text())
    assert second["resumed_from"] == str(run_dir / "checkpoint-2")
    assert second["steps"] == 4
    console = proc.stdout + proc.stderr
    assert f"resumed    from {run_dir / 'checkpoint-2'} (step 2)" in console
    assert "the first run's record" in console  # the "before" evaluation is not repeated ...
    assert second["eval_before"] == first["eval_before"]  # ... its figures carry over
    # the generated-token counter is restored from the checkpoint, not restarted
    assert second["generated_tokens"] > first["generated_tokens"]
    steps = [m["step"] for m in read_jsonl(run_dir / "metrics.jsonl") if "reward" in m]
    assert steps == [1, 2, 3, 4]


def test_same_seed_gives_the_same_run(tmp_path: Path, cache_dir: Path) -> None:
    # The runs end on a token budget (callbacks.max_generated_tokens), not on max_steps: 16 completions of at
    # most 12 tokens per step put 400 tokens at step 3 or later, so the budget, not the step cap, stops them.
    budget = ["training.max_steps=50", "callbacks.max_generated_tokens=400", "training.save_strategy=no"]
    runs = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        assert_ok(run_cli([*FAST, *budget, f"hydra.run.dir={run_dir}"], cache_dir))
        rows = [m for m in read_jsonl(run_dir / "metrics.jsonl") if "reward" in m]
        summary = json.loads((run_dir / "summary.json").read_text())
        tokens = [m["generated_tokens"] for m in rows]
        assert tokens[-1] >= 400 > tokens[-2] and summary["steps"] == len(rows) >= 3  # stopped at the first step over
        runs.append(
            (
                [(m["loss"], m["reward"], m["generated_tokens"]) for m in rows],
                summary["accuracy_before"],
                summary["accuracy_after"],
            )
        )
    assert runs[0] == runs[1]


@pytest.fixture(scope="module")
def local_hub_copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model saved with save_pretrained and a DeepScaleR-shaped parquet file, as if downloaded."""
    root = tmp_path_factory.mktemp("hub")
    tok = build_tokenizer()
    model = build_model(TinyModelSpec(), tok)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    rows = [
        {"problem": f"{a}+{b}", "answer": str(a + b), "solution": f"... so \\boxed{{{a + b}}}"}
        for a in range(10, 40)
        for b in range(10, 12)
    ]
    pd.DataFrame(rows).to_parquet(root / "deepscaler.parquet")
    return root / "model", root / "deepscaler.parquet"


def test_hub_model_and_dataset_presets_load_local_copies(
    tmp_path: Path, cache_dir: Path, local_hub_copies: tuple[Path, Path]
) -> None:
    model_dir, data = local_hub_copies
    run_dir = tmp_path / "run"
    proc = run_cli(
        [
            *FAST,
            "model=qwen3_0.6b",
            f"model.name_or_path={model_dir}",
            "model.model_kwargs.dtype=float32",
            "model.generation_kwargs.max_new_tokens=6",
            "dataset=deepscaler",
            f"dataset.path={data}",
            "training.max_steps=1",
            f"hydra.run.dir={run_dir}",
        ],
        cache_dir,
    )
    assert_ok(proc)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == str(model_dir) and summary["steps"] == 1
    assert summary["eval_after"]["n"] == 12  # eval carved out of the train split: 60 rows // 5


def one_error(proc, message: str) -> None:  # noqa: ANN001
    """Exit 2 with exactly one error line, holding ``message``, and no traceback."""
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if "| ERROR" in line]
    assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], output[-3000:]
    assert "Traceback" not in output


def test_a_run_directory_holds_one_run(tmp_path: Path, cache_dir: Path) -> None:
    """A second run into a finished run's directory is refused before Hydra rewrites ``.hydra/``; resuming a
    finished run does nothing; a run stopped after its last checkpoint (before its summary) finishes without
    training a step more; directories that cannot hold a run and resume paths that are not checkpoints are one
    line each, before anything heavy."""
    run_dir = tmp_path / "run"
    first = [*FAST, f"hydra.run.dir={run_dir}", "eval.before=false"]
    assert_ok(run_cli(first, cache_dir))
    kept = {p: p.read_bytes() for p in [run_dir / ".hydra" / "config.yaml", run_dir / "summary.json"]}
    kept[run_dir / "metrics.jsonl"] = (run_dir / "metrics.jsonl").read_bytes()

    one_error(run_cli([*first, "seed=1"], cache_dir), f"{run_dir} holds another run (summary.json, metrics.jsonl")
    assert all(p.read_bytes() == data for p, data in kept.items()), "the first run's files changed"

    again = run_cli([*first, "training.resume_from_checkpoint=auto"], cache_dir)  # a requeued job that had ended
    assert_ok(again)
    assert "the run finished at step 2 (summary.json, model/): nothing to do" in again.stdout + again.stderr
    assert all(p.read_bytes() == data for p, data in kept.items() if p.suffix != ".yaml")  # Hydra notes the resume
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2"]

    (run_dir / "summary.json").unlink()  # stopped after checkpoint-2, before the summary (a time limit in eval)
    shutil.rmtree(run_dir / "model")
    finish = run_cli([*first, "training.resume_from_checkpoint=auto"], cache_dir)
    assert_ok(finish)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["resumed_from"] == str(run_dir / "checkpoint-2")
    assert summary["eval_after"]["n"] == 16 and (run_dir / "model" / "config.json").exists()
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2"]  # no step 3
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "loss" in r] == [1, 2]
    assert summary["generated_tokens"] == json.loads(kept[run_dir / "summary.json"])["generated_tokens"]

    afile = tmp_path / "a_file"
    afile.write_text("")
    one_error(run_cli([*FAST, f"hydra.run.dir={afile}"], cache_dir), f"hydra.run.dir={afile}: cannot create it")
    one_error(run_cli([*FAST, f"hydra.run.dir={afile}/run"], cache_dir), f"hydra.run.dir={afile}/run: cannot create")
    not_checkpoint = [*FAST, f"hydra.run.dir={tmp_path / 'other'}", f"training.resume_from_checkpoint={run_dir}"]
    one_error(run_cli(not_checkpoint, cache_dir), f"training.resume_from_checkpoint: {run_dir} is not a checkpoint")


# Unknown rewards, missing local paths and uncovered tasks: test_reward_and_path_errors_are_reported_before_torch_...
BAD_INPUTS = [
    (["dataset=deepscaler", "dataset.path={data}", "dataset.answer_column=final"], "dataset.answer_column"),
    (["replay=ucb", "replay.ratio=2.0"], "replay.ratio"),
    (["training.maxent_tau=0.5"], "training.maxent_tau was moved: use objective.tau"),
    (["training.kl_target=0.05"], "training.kl_target was moved: use objective.kl_ctl.target"),
    (["training=maxent"], "training=maxent was replaced: use objective=maxent"),
    (["model=schema"], "model=schema: not an option of model; choose one of: qwen2.5_1.5b_instruct, qwen3_0.6b, tiny"),
    (["dataset=nope"], "dataset=nope: not an option of dataset"),
    (["training.learning_rate=-1"], "training.learning_rate must be >= 0"),
    (["model.generation_kwargs.temperature=0"], "model.generation_kwargs.temperature must be > 0"),
    (["model.generation_kwargs.max_new_tokens=0"], "model.generation_kwargs.max_new_tokens must be >= 1"),
    (["replay=ucb", "replay.ratio_schedule=linear", "replay.ratio_start=2"], "replay.ratio_start must be in [0, 1]"),
    (["dataset.generator=null", "dataset.path={empty}"], "is empty"),
    (["dataset.generator=null", "dataset.path={broken}"], "broken.jsonl line 2 is not valid JSON"),
    (["dataset.path={data}"], "and dataset.generator=arith exclude each other"),
    (
        ["dataset.generator=null", "dataset.path={one_row}", "dataset.eval_size=0"],
        "1 training rows, but one generation batch takes 2 prompts",
    ),
    (["plugins=[{empty_dir}/my_plugin.py]"], "my_plugin.py: no such file"),
]


def bad_files(root: Path) -> dict[str, Path]:
    """An empty .jsonl, a .jsonl whose second line is cut off, an empty directory posing as a model, a 1-row file."""
    (root / "empty.jsonl").write_text("")
    (root / "broken.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": \n')
    (root / "empty_model").mkdir()
    (root / "one_row.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n')
    return {
        "empty": root / "empty.jsonl",
        "broken": root / "broken.jsonl",
        "empty_dir": root / "empty_model",
        "one_row": root / "one_row.jsonl",
    }


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_gives_one_clear_line_and_nonzero_exit(
    overrides: list[str], message: str, tmp_path: Path, cache_dir: Path, local_hub_copies: tuple[Path, Path]
) -> None:
    files = bad_files(tmp_path)
    files["data"] = local_hub_copies[1]
    run_dir = tmp_path / "run"
    proc = run_cli([*FAST, *[o.format(**files) for o in overrides], f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 2
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and message in errors[0], output[-2000:]
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.learning_rate=-1"], "training.learning_rate must be >= 0"),
        (["replay=ucb", "replay.ratio=2"], "replay.ratio"),
        (["training.maxent_tau=1"], "use objective.tau"),
    ],
)
def test_config_errors_are_reported_before_torch_or_trl_is_imported(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    """Ordering, not timing: with -X importtime Python lists every module it imported before exiting."""
    imported, error = imports_before_the_error(overrides, tmp_path)
    assert message in error
    assert imported and not imported & {"torch", "trl", "transformers", "datasets"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["rewards.funcs.0.name=no_such_reward"], "rewards.funcs: unknown reward 'no_such_reward'"),
        (["rewards=rush_hour"], "rewards.funcs: no reward scores the task(s) math of dataset arith"),
        (["dataset=deepscaler", "dataset.path=/nonexistent/data.parquet"], "dataset.path: file /nonexistent/data"),
        (
            ["dataset=mixture_arith_rush", "rewards=mixture", "dataset.sources.1.source=./nonexistent"],
            "dataset.sources[1].source: ./nonexistent does not exist",
        ),
        (["model.name_or_path=/nonexistent/model"], "model.name_or_path: directory /nonexistent/model does not exist"),
        (["model.name_or_path={tmp}"], "has no config.json"),
    ],
)
def test_reward_and_path_errors_are_reported_before_torch_or_trl_is_imported(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    """rlvr.preflight: what needs no data rows and no model is checked before the heavy imports."""
    imported, error = imports_before_the_error([o.format(tmp=tmp_path) for o in overrides], tmp_path / "run")
    assert message in error
    # trl itself is a lazy package (0.2 s); the format rewards use its pure-Python trl.rewards, not its trainers
    assert imported and not imported & {"torch", "transformers", "trl.trainer"}


def imports_before_the_error(overrides: list[str], run_dir: Path) -> tuple[set[str], str]:
    """The modules ``exp/grpo_train.py`` imported before it exited with status 2, and its one error line."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "exp/grpo_train.py"), *overrides, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return imported, errors[0]


def test_help_lists_only_selectable_options() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "exp/grpo_train.py"), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "schema" not in proc.stdout and "accelerate" not in proc.stdout.split("Any key")[0]
    for option in ("tiny", "cpu_tiny", "maxent", "ucb", "wandb", "arith_mix", "hydra/launcher"):
        assert option in proc.stdout


def test_unknown_key_fails_before_anything_runs(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_cli(["training.learning_rte=1e-4", f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode != 0
    assert "learning_rte" in proc.stderr and "Traceback" not in proc.stderr
    assert not (run_dir / "summary.json").exists()
