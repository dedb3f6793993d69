"""SLURM, sweeps, multi-process and preemption, against a real local SLURM.

A session fixture starts a one-node SLURM (``tests/slurm_cluster.py``: munged, slurmctld and
slurmd from Debian's slurm-wlm/munge, config in a temp dir, loopback, CPU only). The tests
submit the real ``slurm/train.sbatch`` (accelerate on CPU, one process), preempt a running job
with ``scancel --signal=USR1 --batch`` and check it resumes with the exact step count, run a
Hydra multirun through ``hydra/launcher=slurm_local`` (submitit), and run a 2-process gloo
``accelerate launch`` without SLURM. Trainings are a few steps of the tiny model.

Select with ``-m slurm`` / ``-m multiproc``; CI (``.ci/run``) installs SLURM and runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rlvr.sweeps.groups import group_runs
from rlvr.sweeps.runs import find_runs
from rlvr.tracking import SweepRun, sweep_run
from tests.helpers.net import free_port
from tests.helpers.slurm_cluster import LocalSlurm, missing_binaries

ROOT = Path(__file__).resolve().parents[1]
SBATCH_SCRIPTS = sorted((ROOT / "slurm").glob("*.sbatch"))
DONE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE")
# The tiny model with 20 warm-start steps, 16 completions per step, a handful of steps.
TINY = [
    "model.tiny.warmup_steps=20",
    "training.per_device_train_batch_size=16",
    "eval.max_samples=16",
    "print_config=none",
]


def job_env(cache_dir: Path) -> dict[str, str]:
    return {"RLVR_CACHE_DIR": str(cache_dir), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"


def loss_steps(run_dir: Path) -> list[int]:
    """Steps of the per-step training log records in metrics.jsonl, in file order."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["step"] for r in records if "loss" in r]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"SLURM is not installed ({', '.join(missing)} not found): "
            "apt-get install slurm-wlm munge (.ci/run does this)"
        )
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def submit_train(
    slurm: LocalSlurm, run_dir: Path, log: Path, cache_dir: Path, overrides: list[str], name: str = "rlvr-test"
) -> str:
    """``sbatch slurm/train.sbatch <overrides>`` as a user would, sized for the CPU test node."""
    return slurm.sbatch(
        f"--job-name={name}",
        "--gpus-per-node=0",
        "--cpus-per-task=1",
        f"--output={log}",
        str(ROOT / "slurm" / "train.sbatch"),
        *overrides,
        cwd=ROOT,
        env={**job_env(cache_dir), "RLVR_RUN_DIR": str(run_dir)},
    )


def release_requeued(slurm: LocalSlurm, job: str, log: Callable[[], str], timeout: float = 300) -> None:
    """Wait until ``job`` has been requeued (it then waits out SLURM's own hold: the test cluster's
    credential lifetime, ``CRED_EXPIRE`` seconds, instead of the default two minutes). Forcing
    ``StartTime=now`` is not safe: slurmd refuses to relaunch a job it killed moments ago ("Job N
    already killed, do not launch batch job") and the job ends FAILED."""
    deadline = time.time() + timeout
    settled = ("PENDING", "RUNNING", *DONE)
    while (info := slurm.job(job)).get("Restarts", "0") == "0" or info.get("JobState") not in settled:
        assert time.time() < deadline, f"job {job} not requeued: {info}\n{log()}"
        assert info.get("JobState") not in DONE, f"job {job} ended instead of requeueing: {info}\n{log()}"
        time.sleep(0.5)


def check_replay_state_restored(run_dir: Path, checkpoint: Path) -> None:
    """The replay buffer travelled with the preemption checkpoint and was restored on resume:
    the buffer file is there, its digest is the one ``rlvr_state.json`` recorded, and the resumed
    run logged loading exactly that buffer (the trainer also checks the digest on load)."""
    from rlvr.replay.buffer import ReplayBuffer
    from rlvr.replay.mixin import BUFFER_FILE

    path = checkpoint / BUFFER_FILE
    assert path.exists(), sorted(p.name for p in checkpoint.iterdir())
    saved = ReplayBuffer.load(path)
    assert len(saved) > 0
    digest = saved.digest()
    assert json.loads((checkpoint / "rlvr_state.json").read_text())["replay"]["digest"] == digest
    restored = f"restored replay buffer ({len(saved)} prompts, digest {digest}) from {path}"
    assert restored in (run_dir / "train.log").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["replay"]["ranks_agree"] == 1


@pytest.mark.slurm
@pytest.mark.slow
def test_preempted_job_requeues_and_resumes_exactly(
    slurm: LocalSlurm, cache_dir: Path, tmp_path: Path, plain_job: tuple[str, Path, Path]
) -> None:
    """USR1 to the batch shell -> checkpoint after the current step -> requeue -> resume: exact
    step count, extension state (rlvr_state.json) and the replay buffer restored."""
    run_dir, log = tmp_path / "run", tmp_path / "job.out"
    max_steps = 6
    # save_steps larger than max_steps: any checkpoint before the end comes from the preemption.
    overrides = [*TINY, f"training.max_steps={max_steps}", "training.save_steps=100"]
    # Replay on, with length-shaped rewards so that groups of the barely trained model still have
    # reward variance: the buffer fills from step 1 and replays from step 2.
    overrides += ["replay=ucb", "replay.min_size=2", "rewards=math_length"]
    job = submit_train(slurm, run_dir, log, cache_dir, overrides, name="rlvr-preempt")

    deadline = time.time() + 400
    while not loss_steps(run_dir):
        assert time.time() < deadline, f"no training step logged in time\n{read_log(log)}"
        assert slurm.job(job).get("JobState") not in DONE, read_log(log)
        time.sleep(0.2)
    slurm.run("scancel", "--signal=USR1", "--batch", job)

    release_requeued(slurm, job, lambda: read_log(log))
    info = slurm.wait_job(job, DONE, timeout=400)
    text = read_log(log)
    assert info["JobState"] == "COMPLETED", f"{info}\n{text}"
    assert int(info["Restarts"]) == 1, text
    assert "got SIGUSR1" in text and "requeueing job" in text, text

    # The checkpoint written at preemption, and the resume from it.
    history = [json.loads(line) for line in (run_dir / "preemptions.jsonl").read_text().splitlines()]
    assert len(history) == 1, history
    stopped = history[0]["step"]
    assert 1 <= stopped < max_steps
    checkpoint = run_dir / f"checkpoint-{stopped}"
    assert (checkpoint / "trainer_state.json").exists() and (checkpoint / "optimizer.pt").exists()
    assert (checkpoint / "rlvr_state.json").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == str(checkpoint)
    # Exact total: every step logged once, none lost, none repeated.
    assert summary["steps"] == max_steps
    assert loss_steps(run_dir) == list(range(1, max_steps + 1))
    # Extension state (rlvr_state.json) restored: the token count continues across the resume.
    assert "restored rlvr state from" in (run_dir / "train.log").read_text()
    saved = json.loads((checkpoint / "rlvr_state.json").read_text())["generated_tokens"]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    tokens = {r["step"]: r["generated_tokens"] for r in records if "generated_tokens" in r}
    assert tokens[stopped] == saved
    assert tokens[stopped + 1] > saved
    assert summary["generated_tokens"] == tokens[max_steps]
    assert not (run_dir / "preempted.json").exists()  # the resumed run cleared the marker
    check_replay_state_restored(run_dir, checkpoint)


@pytest.fixture(scope="module")
def plain_job(slurm: LocalSlurm, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """A 4-step ``slurm/train.sbatch`` job, submitted as soon as a test asks for it (the
    preemption test does, so the two jobs share the node's CPUs instead of running in turn)."""
    where = tmp_path_factory.mktemp("plain")
    run_dir, log = where / "run", where / "job.out"
    job = submit_train(slurm, run_dir, log, cache_dir, [*TINY, "training.max_steps=4", "training.save_steps=2"])
    return job, run_dir, log


@pytest.mark.slurm
@pytest.mark.slow
def test_train_sbatch_completes(slurm: LocalSlurm, plain_job: tuple[str, Path, Path]) -> None:
    job, run_dir, log = plain_job
    info = slurm.wait_job(job, DONE, timeout=400)
    assert info["JobState"] == "COMPLETED", read_log(log)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4
    assert summary["run_dir"] == str(run_dir)
    assert summary["resumed_from"] is None
    for step in (2, 4):
        checkpoint = run_dir / f"checkpoint-{step}"
        assert (checkpoint / "trainer_state.json").exists(), sorted(p.name for p in run_dir.iterdir())
        assert (checkpoint / "rlvr_state.json").exists()
    assert (run_dir / "model" / "config.json").exists()
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert loss_steps(run_dir) == [1, 2, 3, 4]
    assert not (run_dir / "preempted.json").exists()
    text = read_log(log)
    assert "0 GPU(s)/node" in text and "training exited with status 0" in text


@pytest.mark.slurm
@pytest.mark.slow
def test_hydra_multirun_through_submitit(slurm: LocalSlurm, cache_dir: Path, tmp_path: Path) -> None:
    """``-m hydra/launcher=slurm_local seed=0,1``: a job array of two tasks, both results
    collected. Task 0 gets submitit's preemption signal (USR2) mid-run: the trainer checkpoints,
    hands the signal on to submitit, which requeues the task; it resumes in the same subdir."""
    sweep_dir = tmp_path / "sweep"
    max_steps = 6
    cmd = [
        sys.executable,
        str(ROOT / "exp" / "grpo_train.py"),
        "-m",
        "hydra/launcher=slurm_local",
        f"hydra.sweep.dir={sweep_dir}",
        "seed=0,1",
        *TINY,
        f"training.max_steps={max_steps}",
        "training.save_steps=100",
        "eval.before=false",
        "training.resume_from_checkpoint=auto",
    ]
    env = {**slurm.env, **job_env(cache_dir)}
    sweep = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 400
        while not loss_steps(sweep_dir / "0"):
            assert time.time() < deadline, "sweep job 0 logged no training step in time"
            assert sweep.poll() is None, sweep.communicate()[0][-5000:]
            time.sleep(0.2)
        # one job array: .submitit/<array id>_<task> (plus <array id>/ with the sbatch script)
        task0 = next(p.name for p in (sweep_dir / ".submitit").iterdir() if re.fullmatch(r"\d+_0", p.name))
        slurm.run("scancel", "--signal=USR2", task0)  # what submitit's --signal=USR2@<s> does
        release_requeued(slurm, task0, lambda: "")
        output, _ = sweep.communicate(timeout=400)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    logs = "\n".join(read_log(p) for p in sorted(sweep_dir.glob(".submitit/*/*.out")))
    assert sweep.returncode == 0, f"{output[-3000:]}\n{logs[-5000:]}"

    job_dirs = sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name))
    assert [d.split("_")[1] for d in job_dirs] == ["0", "1"], job_dirs
    multirun = OmegaConf.load(sweep_dir / "multirun.yaml")
    for num, seed in ((0, 0), (1, 1)):
        run_dir = sweep_dir / str(num)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["seed"] == seed and summary["steps"] == max_steps
        assert summary["run_dir"] == str(run_dir)
        assert loss_steps(run_dir) == list(range(1, max_steps + 1))
        # slurm_logs: a relative link to the job's own folder of .submitit/, which holds its log
        link = run_dir / "slurm_logs"
        assert os.readlink(link) == f"../.submitit/{job_dirs[num]}", os.readlink(link)
        assert summary["slurm_logs"] == str(sweep_dir / ".submitit" / job_dirs[num])
        log = read_log(link / f"{job_dirs[num]}_0_log.out")
        assert f"run dir    {run_dir}" in log and "finished: held-out accuracy" in log, log[-3000:]
        # what the job's wandb run would be named, from the config the SLURM job itself saw (seed-only sweep)
        hydra_cfg = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra
        assert sweep_run(hydra_cfg, multirun, seed) == SweepRun(f"{tmp_path.name}/sweep", None, f"seed={seed}")
    # exp/report.py reads the SLURM layout: both runs, complete, one group (only the seed varies); .submitit skipped
    runs = find_runs([str(sweep_dir)])
    assert [(r.path.name, r.status, r.seed) for r in runs] == [("0", "complete", 0), ("1", "complete", 1)]
    assert [g.label for g in group_runs(runs)] == ["all"]
    for job in job_dirs:  # submitit returns once results are written; the job itself may still be ending
        info = slurm.wait_job(job, DONE, timeout=120)
        assert info.get("JobState") == "COMPLETED", info
    # task 0: preempted once by USR2, requeued by submitit, resumed from its checkpoint
    history = [json.loads(line) for line in (sweep_dir / "0" / "preemptions.jsonl").read_text().splitlines()]
    assert [h["reason"] for h in history] == ["SIGUSR2"], history
    resumed = json.loads((sweep_dir / "0" / "summary.json").read_text())["resumed_from"]
    assert resumed == str(sweep_dir / "0" / f"checkpoint-{history[0]['step']}")
    assert int(slurm.job(task0)["Restarts"]) == 1
    assert "Requeued job" in logs
    assert json.loads((sweep_dir / "1" / "summary.json").read_text())["resumed_from"] is None


@pytest.mark.slurm
@pytest.mark.slow
def test_eval_on_save_submits_one_job_per_checkpoint(slurm: LocalSlurm, cache_dir: Path, tmp_path: Path) -> None:
    """``callbacks.eval_on_save=slurm``: every saved checkpoint becomes a ``slurm/evaluate.sbatch`` job (no
    dependency on training), each job evaluates its checkpoint as the run was trained, and every result reaches
    the run's metrics.jsonl exactly once at its checkpoint's step."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "exp" / "grpo_train.py"), *TINY, f"hydra.run.dir={run_dir}"]
    cmd += ["training.max_steps=4", "training.save_steps=2", "eval.before=false", "dataset.eval_size=12"]
    cmd += ["callbacks.eval_on_save=slurm", "callbacks.eval_sbatch_args=['--gpus-per-node=0','--cpus-per-task=1']"]
    cmd += ["callbacks.eval_overrides=['eval.n_samples=2']"]
    proc = subprocess.run(
        cmd, cwd=ROOT, env={**slurm.env, **job_env(cache_dir)}, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = [json.loads(line) for line in (run_dir / "eval_jobs.jsonl").read_text().splitlines()]
    assert [(j["step"], j["checkpoint"]) for j in jobs] == [(2, "checkpoint-2"), (4, "checkpoint-4")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["eval_on_save"]["submitted"] == 2
    for job in jobs:
        info = slurm.wait_job(job["job_id"], DONE, timeout=400)
        log = read_log(run_dir / "eval_on_save" / job["checkpoint"] / f"job-{job['job_id']}.out")
        assert info["JobState"] == "COMPLETED", f"{info}\n{log}"
        assert "as the run was trained: model, dataset, rewards" in log, log
        report = json.loads((run_dir / "eval_on_save" / job["checkpoint"] / "eval.json").read_text())
        assert report["n_problems"] == 12 and report["n_samples"] == 2  # the run's split, the override's samples
        assert [e["label"] for e in report["results"]] == [job["checkpoint"]]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("eval_source") == "slurm"]
    assert sorted(r["step"] for r in evals) == [2, 4], evals  # once each, whoever gathered them
    for r in evals:
        assert 0.0 <= r["eval/accuracy"] <= 1.0 and r["eval/n"] == 12 and "eval/pass@2" in r


@pytest.mark.multiproc
@pytest.mark.slow
def test_two_process_accelerate_cpu_gloo(cache_dir: Path, tmp_path: Path) -> None:
    """2 CPU processes (gloo) through accelerate launch: one run dir, one summary, from rank 0.
    The first launch is preempted (flag file) after step 1: both ranks stop after the same step
    and write one checkpoint together; the second launch resumes it to the exact step count."""
    run_dir, flag = tmp_path / "runs" / "run", tmp_path / "stop"

    def launch(**extra_env: str) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(ROOT / "conf" / "accelerate" / "ddp.yaml"),
            "--num_processes",
            "2",
            "--main_process_port",
            str(free_port()),
            str(ROOT / "exp" / "grpo_train.py"),
            f"hydra.run.dir={run_dir}",
            *TINY,
            "training.per_device_train_batch_size=8",  # 2 x 8 = 16 completions = 2 groups of 8
            "training.max_steps=2",
            "training.save_steps=100",
            "training.resume_from_checkpoint=auto",
            "eval.before=false",
        ]
        env = {**os.environ, **job_env(cache_dir), "OMP_NUM_THREADS": "1", **extra_env}
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)

    flag.touch()  # as the sbatch trap would: a stop request before/while training runs
    out = launch(RLVR_PREEMPT_FILE=str(flag))
    assert out.returncode != 0, out.stdout[-3000:]  # ranks exit 75; torchrun reports the failure
    marker = json.loads((run_dir / "preempted.json").read_text())
    assert marker["step"] == 1, marker
    checkpoint = run_dir / "checkpoint-1"
    # both ranks saved into the one checkpoint: one RNG state file per process
    assert sorted(p.name for p in checkpoint.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    assert (checkpoint / "rlvr_state.json").exists() and not (run_dir / "summary.json").exists()

    out = launch()
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["resumed_from"] == str(checkpoint)
    assert summary["run_dir"] == str(run_dir)
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["run"]  # every rank used the same dir
    assert loss_steps(run_dir) == [1, 2]  # rank 0 alone writes metrics; no step lost or repeated
    assert not (run_dir / "preempted.json").exists()


@pytest.mark.parametrize("script", SBATCH_SCRIPTS + [ROOT / "slurm" / "lib.sh"], ids=lambda p: p.name)
def test_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck; .ci/run does this)")
    out = subprocess.run(["shellcheck", "-x", str(script.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
