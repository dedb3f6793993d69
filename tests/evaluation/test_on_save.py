"""``rlvr.evaluation.on_save``: how results of the per-checkpoint SLURM evaluation jobs reach ``metrics.jsonl``
(exactly once, whoever gathers first) and what the submitted job inherits. The jobs themselves run on a real local
SLURM in tests/test_slurm.py."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from rlvr.evaluation.on_save import JOBS_FILE, gather, job_environment, pending, result_dir, status


def write_job(run_dir: Path, step: int, job: str) -> None:
    with (run_dir / JOBS_FILE).open("a") as f:
        f.write(json.dumps({"step": step, "checkpoint": f"checkpoint-{step}", "job_id": job, "submitted": 0}) + "\n")


def write_result(run_dir: Path, step: int, greedy: float) -> None:
    out = result_dir(run_dir, f"checkpoint-{step}")
    out.mkdir(parents=True)
    metrics = {"n": 8, "greedy": greedy, "pass@2": 0.75, "maj@2": 0.5}
    report = {"metrics": metrics, "results": [{"metrics": metrics, "per_task": {"math": {"greedy": greedy}}}]}
    (out / "eval.json").write_text(json.dumps(report))


def eval_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("eval_source") == "slurm"]


def test_results_are_gathered_once_as_they_arrive(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 0.1}) + "\n")
    write_job(tmp_path, 2, "11")
    write_job(tmp_path, 4, "12")
    assert gather(tmp_path) == [] and len(pending(tmp_path)) == 2  # nothing arrived yet

    write_result(tmp_path, 4, 0.5)  # the later checkpoint's job finished first
    (added,) = gather(tmp_path)
    assert added["step"] == 4 and added["eval/accuracy"] == 0.5 and added["eval/pass@2"] == 0.75
    assert added["eval/accuracy/math"] == 0.5 and added["eval/job_id"] == "12"
    assert gather(tmp_path) == []  # not twice
    assert status(tmp_path) == {"submitted": 2, "gathered": 1, "pending": ["checkpoint-2"]}

    write_result(tmp_path, 2, 0.25)
    assert [r["step"] for r in gather(tmp_path)] == [2]
    assert sorted(r["step"] for r in eval_records(tmp_path)) == [2, 4]
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["loss"] == 0.1  # kept


def _gather_in_process(run_dir: str) -> None:
    gather(Path(run_dir))


def test_concurrent_gatherers_append_each_result_once(tmp_path: Path) -> None:
    """The trainer and the evaluation jobs gather at the same time: the lock keeps one record per result."""
    for step in range(1, 9):
        write_job(tmp_path, step, str(100 + step))
        write_result(tmp_path, step, step / 10)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_gather_in_process, args=(str(tmp_path),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(r["step"] for r in eval_records(tmp_path)) == list(range(1, 9))


def test_the_job_does_not_inherit_the_training_launch() -> None:
    """sbatch exports the submitting environment: the training ranks' variables must not reach the job (it would
    try to join the training's process group, or take its GPUs)."""
    env = job_environment(
        {
            "PATH": "/bin",
            "RLVR_CACHE_DIR": "/c",
            "RANK": "0",
            "WORLD_SIZE": "8",
            "MASTER_PORT": "29500",
            "LOCAL_RANK": "0",
            "CUDA_VISIBLE_DEVICES": "0,1",
            "SLURM_JOB_ID": "5",
            "SLURM_CONF": "/etc/slurm.conf",
            "SBATCH_PARTITION": "gpu",
            "ACCELERATE_MIXED_PRECISION": "bf16",
            "RLVR_PREEMPT_FILE": "/run/.preempt_requested",
        }
    )
    assert env["PATH"] == "/bin" and env["RLVR_CACHE_DIR"] == "/c"
    assert env["SLURM_CONF"] == "/etc/slurm.conf" and env["SBATCH_PARTITION"] == "gpu"
    for gone in ("RANK", "WORLD_SIZE", "MASTER_PORT", "LOCAL_RANK", "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID"):
        assert gone not in env
    assert "ACCELERATE_MIXED_PRECISION" not in env and "RLVR_PREEMPT_FILE" not in env
    assert Path(env["RLVR_ROOT"], "slurm", "evaluate.sbatch").is_file()
