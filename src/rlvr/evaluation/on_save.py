"""``callbacks.eval_on_save=slurm``: one ``slurm/evaluate.sbatch`` job per saved checkpoint, and its results gathered
into the run's ``metrics.jsonl`` when they arrive.

The training job's rank 0 submits ``sbatch slurm/evaluate.sbatch <run_dir> checkpoint-<N> [overrides]`` right
after each checkpoint is written and records the job in ``<run_dir>/eval_jobs.jsonl``; no job depends on the
training job, so evaluations run as soon as the cluster has room. Each job runs ``exp/evaluate.py`` on that
checkpoint with the run's own model/dataset/rewards config and writes ``eval.json``/``eval.md`` to
``<run_dir>/eval_on_save/checkpoint-<N>/`` (outside the checkpoint, so checkpoint rotation does not delete it).

:func:`gather` appends every arrived result not yet in ``metrics.jsonl`` as one record at the checkpoint's step
(``eval/*`` keys, ``eval_source: slurm``). Both sides call it: the trainer at every log step and at the end of
training (so results logged during training reach wandb too), and each evaluation job once it has written its
report (so results that arrive after training still reach ``metrics.jsonl``). A lock file makes it safe to run
concurrently; a result is appended exactly once.

    uv run python -m rlvr.evaluation.on_save RUN_DIR      # gather by hand; prints what is still pending
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.jsonl import append_record

JOBS_FILE = "eval_jobs.jsonl"  # one line per submitted evaluation job
RESULTS_DIR = "eval_on_save"  # <run_dir>/eval_on_save/checkpoint-<N>/eval.json
LOCK_FILE = ".eval_on_save.lock"
SOURCE = "slurm"
SCRIPT = Path(__file__).resolve().parents[3] / "slurm" / "evaluate.sbatch"


def result_dir(run_dir: Path, checkpoint: str) -> Path:
    return Path(run_dir) / RESULTS_DIR / checkpoint


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line being written by another process
    return records


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    with (Path(run_dir) / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Set in the training process by SLURM, accelerate/torchrun and our sbatch scripts: none of it may reach the
# evaluation job (sbatch exports the submitting environment), which would otherwise take the training job's GPUs or
# try to join its process group.
LAUNCH_VARS = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "ROLE_NAME",
    "MASTER_ADDR",
    "MASTER_PORT",
    "CUDA_VISIBLE_DEVICES",
    "RLVR_PREEMPT_FILE",
)
KEEP_SBATCH = ("SLURM_CONF", "SBATCH_PARTITION", "SBATCH_ACCOUNT", "SBATCH_QOS")


def job_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The environment ``sbatch`` gets: the training process's, minus its own job's and launcher's variables."""
    env = {
        k: v
        for k, v in environ.items()
        if k in KEEP_SBATCH
        or not (k in LAUNCH_VARS or k.startswith(("SLURM_", "SBATCH_", "SRUN_", "ACCELERATE_", "TORCHELASTIC_")))
    }
    env["RLVR_ROOT"] = str(SCRIPT.parents[1])
    return env


def submit(
    run_dir: Path, checkpoint: str, step: int, sbatch_args: list[str], overrides: list[str], name: str
) -> str | None:
    """Submit the evaluation job of ``run_dir/checkpoint``; returns its job id, or None (with a warning) when
    ``sbatch`` is missing or refuses: training goes on, the checkpoint can be evaluated by hand later."""
    run_dir = Path(run_dir).resolve()
    out = result_dir(run_dir, checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["sbatch", "--parsable", f"--job-name={name}", f"--output={out / 'job-%j.out'}", *sbatch_args]
    cmd += [str(SCRIPT), str(run_dir), checkpoint, *overrides]
    env = job_environment(os.environ)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=SCRIPT.parents[1])
    except (OSError, subprocess.SubprocessError) as err:
        logger.warning(f"callbacks.eval_on_save=slurm: could not submit the evaluation of {checkpoint}: {err}")
        return None
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        logger.warning(
            f"callbacks.eval_on_save=slurm: sbatch refused the evaluation of {checkpoint}: "
            f"{reason[-1] if reason else 'exit ' + str(proc.returncode)}"
        )
        return None
    job = proc.stdout.strip().split(";")[0]
    record = {"step": step, "checkpoint": checkpoint, "job_id": job, "submitted": round(time.time(), 3)}
    with _locked(run_dir), (run_dir / JOBS_FILE).open("a") as f:
        f.write(json.dumps(record) + "\n")
    logger.info(f"callbacks.eval_on_save=slurm: job {job} evaluates {checkpoint} (results: {out})")
    return job


def eval_record(job: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics.jsonl`` record of one evaluation report, at the checkpoint's step."""
    metrics = report.get("metrics", {})
    record: dict[str, Any] = {
        "step": job["step"],
        "checkpoint": job["checkpoint"],
        "eval_source": SOURCE,
        "eval/job_id": job["job_id"],
        "eval/accuracy": metrics.get("greedy"),
        "eval/n": metrics.get("n"),
    }
    for key, value in metrics.items():
        if key != "greedy" and key != "n" and isinstance(value, int | float):
            record[f"eval/{key}"] = value
    for entry in report.get("results", [])[-1:]:
        for task, values in entry.get("per_task", {}).items():
            record[f"eval/accuracy/{task}"] = values.get("greedy")
    return record


def _gathered(run_dir: Path) -> set[tuple[str, str]]:
    """(checkpoint, job id) of the results already in ``metrics.jsonl``."""
    return {
        (r.get("checkpoint"), r.get("eval/job_id"))
        for r in _read_jsonl(run_dir / "metrics.jsonl")
        if r.get("eval_source") == SOURCE
    }


def gather(run_dir: Path) -> list[dict[str, Any]]:
    """Append each arrived, not yet gathered result to ``metrics.jsonl``; returns the records appended."""
    run_dir = Path(run_dir)
    if not (run_dir / JOBS_FILE).exists():
        return []
    added = []
    with _locked(run_dir):
        done = _gathered(run_dir)
        for job in _read_jsonl(run_dir / JOBS_FILE):
            if (job["checkpoint"], job["job_id"]) in done:
                continue
            path = result_dir(run_dir, job["checkpoint"]) / "eval.json"
            try:
                report = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # not arrived (or being written)
            record = eval_record(job, report)
            record["time"] = round(time.time(), 3)
            append_record(run_dir / "metrics.jsonl", record)  # the trainer appends there too: one locked writer
            done.add((job["checkpoint"], job["job_id"]))
            added.append(record)
    return added


def pending(run_dir: Path) -> list[dict[str, Any]]:
    """Submitted jobs whose result has not been gathered."""
    run_dir = Path(run_dir)
    done = _gathered(run_dir)
    return [j for j in _read_jsonl(run_dir / JOBS_FILE) if (j["checkpoint"], j["job_id"]) not in done]


def status(run_dir: Path) -> dict[str, Any]:
    """What ``summary.json`` records: jobs submitted, results gathered, jobs still pending."""
    jobs = _read_jsonl(Path(run_dir) / JOBS_FILE)
    left = pending(run_dir)
    return {"submitted": len(jobs), "gathered": len(jobs) - len(left), "pending": [j["checkpoint"] for j in left]}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m rlvr.evaluation.on_save RUN_DIR", file=sys.stderr)
        return 2
    for record in gather(Path(argv[0])):
        print(f"gathered {record['checkpoint']} (job {record['eval/job_id']}): accuracy {record['eval/accuracy']}")
    left = pending(Path(argv[0]))
    if left:
        print(f"pending: {', '.join(j['checkpoint'] + ' (job ' + j['job_id'] + ')' for j in left)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
