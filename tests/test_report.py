"""``exp/report.py`` on real runs: a 2x2 local Hydra multirun (the sweep itself is checked here too, and how its
runs are grouped in wandb), a run that was preempted, resumed, killed after its last step and resumed again (steps
logged twice), and a run still training while it is reported on."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pytest
import yaml
from omegaconf import OmegaConf

from rlvr import preemption
from rlvr.cli_runner import ROOT, TRAIN_SCRIPT, run_script
from rlvr.sweeps.runs import find_runs, fold_resumes
from rlvr.tracking import SweepRun, sweep_run
from tests.helpers.cli import FAST, cli_env, run_cli
from tests.helpers.wandb_offline import run_record

pytestmark = pytest.mark.slow


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "exp/report.py"), *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """``-m seed=0,1 replay=none,ucb logging=wandb``: four jobs in one process, 2 steps each, held-out accuracy
    after every step, wandb offline."""
    folder = tmp_path_factory.mktemp("sweep") / "multirun"
    overrides = ["-m", *FAST, "eval.every_steps=1", "seed=0,1", "replay=none,ucb", "logging=wandb"]
    proc = run_cli([*overrides, f"hydra.sweep.dir={folder}"], cache_dir)
    assert_ok(proc)
    (folder / "launcher_stderr.txt").write_text(proc.stderr)
    return folder


def test_the_sweep_ran_every_combination(sweep: Path) -> None:
    combos = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        assert json.loads((job / "summary.json").read_text())["steps"] == 2
        cfg = yaml.safe_load((job / ".hydra/config.yaml").read_text())
        combos.append((cfg["replay"]["name"], cfg["seed"]))
    assert sorted(combos) == [("none", 0), ("none", 1), ("ucb", 0), ("ucb", 1)]


def test_sweep_runs_are_grouped_in_wandb_as_the_report_groups_them(sweep: Path) -> None:
    """Each job's wandb run lands in its own directory, grouped by the sweep, its job type the swept override but
    the seed, named with it and the seed (read back from wandb's own offline records); the end banner's sweep
    command finds every run."""
    multirun = OmegaConf.load(sweep / "multirun.yaml")  # the sweep's record, as Hydra wrote it
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        cfg = yaml.safe_load((job / ".hydra/config.yaml").read_text())
        (run,) = (job / "wandb").glob("offline-run-*")  # one run per job, in the job's own directory
        record = run_record(run)
        job_type = f"replay={cfg['replay']['name']}"
        assert (record.run_group, record.job_type, record.display_name) == (
            f"{sweep.parent.name}/{sweep.name}",
            job_type,
            f"{job_type} seed={cfg['seed']}",
        )
        hydra_cfg = OmegaConf.load(job / ".hydra/hydra.yaml").hydra
        assert sweep_run(hydra_cfg, multirun, seed=cfg["seed"]) == SweepRun(
            record.run_group, job_type, record.display_name
        )
        assert f"wandb sync {run}" in (job / "train.log").read_text()
    stderr = (sweep / "launcher_stderr.txt").read_text()
    sync = next(line for line in stderr.splitlines() if "sync sweep" in line).split("sync sweep", 1)[1]
    assert sync.strip() == f"wandb sync {sweep}/*/wandb/offline-run-*"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    dry = subprocess.run(f"{sync} --dry-run", shell=True, env=env, capture_output=True, text=True, timeout=120)
    assert "Would sync 4 run(s)" in dry.stdout + dry.stderr, dry.stdout + dry.stderr


def test_report_of_a_2x2_multirun(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    metrics = ["frac_reward_zero_std", "frac_reward_zero_std@mean"]
    proc = report(str(sweep), "--baseline", "replay=none", "--metric", *metrics, "--out", str(out))
    assert_ok(proc)
    # the table printed: one row per replay setting, both seeds, nothing left out
    assert "4 runs in 2 groups (4 complete)" in proc.stdout
    rows: dict[str, str] = {}
    for line in proc.stdout.split("## Against")[0].splitlines():
        if line.startswith("| replay="):
            rows[line.split("|")[1].strip()] = line
    assert set(rows) == {"replay=none", "replay=ucb"}
    for row in rows.values():
        assert row.split("|")[2].strip() == "2" and row.split("|")[3].strip() == "0, 1"
    # the group's final accuracy is the mean of its runs' summaries
    summaries = {}
    for job in sweep.iterdir():
        if job.is_dir():
            s = json.loads((job / "summary.json").read_text())
            summaries[(yaml.safe_load((job / ".hydra/config.yaml").read_text())["replay"]["name"], s["seed"])] = s
    mean_none = (summaries[("none", 0)]["accuracy_after"] + summaries[("none", 1)]["accuracy_after"]) / 2
    assert rows["replay=none"].split("|")[4].strip().startswith(f"{mean_none:.3f}")
    # seeds paired against the baseline
    delta = next(line for line in proc.stdout.splitlines() if line.startswith("| replay=ucb | 0, 1 |"))
    d0 = 100 * (summaries[("ucb", 0)]["accuracy_after"] - summaries[("none", 0)]["accuracy_after"])
    assert f"{d0:+.1f}" in delta
    # one CSV row per run, with the config keys that differ and the numbers of its summary
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    for row in table:
        s = summaries[(row["replay.name"], int(row["seed"]))]
        assert row["status"] == "complete" and row["group"] == f"replay={row['replay.name']}"
        assert float(row["accuracy_after"]) == pytest.approx(s["accuracy_after"])
        assert int(row["generated_tokens"]) == s["generated_tokens"]
        logged = [json.loads(x) for x in (Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
        zero_std = [r["frac_reward_zero_std"] for r in logged if "frac_reward_zero_std" in r]
        assert float(row["frac_reward_zero_std"]) == pytest.approx(zero_std[-1])
        assert float(row["frac_reward_zero_std@mean"]) == pytest.approx(sum(zero_std) / len(zero_std))
    assert "tokens to 90% of the baseline's gain" in proc.stdout
    # curves as images, linked from report.md
    text = (out / "report.md").read_text()
    for name in ("curve_eval_accuracy_tokens.png", "curve_reward_tokens.png"):
        assert f"]({name})" in text
        assert matplotlib.image.imread(out / name).shape[2] in (3, 4)
    # --by a config key groups the same way; a baseline that is no group is one line naming the groups
    by = report(str(sweep), "--by", "replay.name", "--out", str(tmp_path / "by"), "--curve", "reward")
    assert_ok(by)
    assert "| replay.name=none | 2 | 0, 1 |" in by.stdout
    bad = report(str(sweep), "--baseline", "replay=skip", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2
    assert "--baseline 'replay=skip': no such group (groups: 'replay=none', 'replay=ucb')" in bad.stderr


def test_preempted_resumed_and_killed_runs(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "run"
    flag = tmp_path / "stop-now"
    flag.touch()  # the run is asked to stop at its first step end, as a SLURM preemption would
    base = [*FAST, "training.max_steps=3", "training.save_steps=1", f"hydra.run.dir={run_dir}"]
    env = cli_env(cache_dir, **{preemption.PREEMPT_FILE_ENV: str(flag)})
    proc = run_script(base, script=TRAIN_SCRIPT, env=env)
    assert proc.returncode != 0 and (run_dir / "preempted.json").exists()
    (run,) = find_runs([str(run_dir)])
    assert run.status == "preempted" and run.final()["steps"] == 1
    out = report(str(run_dir))
    assert_ok(out)
    assert "1 run in 1 group (1 preempted)" in out.stdout
    assert f"| {run_dir} | preempted | 1 |" in out.stdout

    flag.unlink()
    assert_ok(run_cli([*base, "training.resume_from_checkpoint=auto"], cache_dir))
    # killed after step 3 was logged but before its checkpoint and summary: the resume trains step 3 again
    for name in ("checkpoint-3", "model", "summary.json"):
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert_ok(run_cli([*base, "training.resume_from_checkpoint=auto"], cache_dir))
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [1, 2, 3, 3]
    (run,) = find_runs([str(run_dir)])
    assert run.status == "complete"
    assert [r["step"] for r in run.train_records] == [1, 2, 3]
    assert run.train_records[-1] == [r for r in logged if "loss" in r][-1]  # the attempt the run continued


def test_a_run_still_training_is_marked_running_then_stopped(tmp_path: Path, cache_dir: Path) -> None:
    run_dir = tmp_path / "live"
    cmd = [sys.executable, str(ROOT / TRAIN_SCRIPT), *FAST, "training.max_steps=500", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=cli_env(cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        metrics = run_dir / "metrics.jsonl"
        while not (metrics.exists() and '"loss"' in metrics.read_text()):
            assert proc.poll() is None and time.time() < deadline, "the run ended or took too long to log a step"
            time.sleep(0.5)
        out = report(str(run_dir))
        assert_ok(out)
        assert "(1 running)" in out.stdout and f"| {run_dir} | running |" in out.stdout
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (run,) = find_runs([str(run_dir)], stale_minutes=0)
    assert run.status == "stopped" and run.summary is None and run.final()["steps"] >= 1


def test_fold_resumes_keeps_the_attempt_that_continued() -> None:
    first = [{"step": s, "loss": 1.0, "try": 1} for s in (1, 2, 3, 4)]
    evals = [{"step": 2, "eval/accuracy": 0.5}]
    second = [{"step": s, "loss": 2.0, "try": 2} for s in (3, 4, 5)]
    gathered_late = [{"step": 2, "eval_on_save/accuracy": 0.4}]  # a SLURM eval job's result, appended later
    folded = fold_resumes(first[:2] + evals + first[2:] + second + gathered_late)
    assert [(r["step"], r.get("try")) for r in folded] == [(1, 1), (2, 1), (2, None), (3, 2), (4, 2), (5, 2), (2, None)]
