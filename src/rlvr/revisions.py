"""``callbacks.push_revisions``: push every saved checkpoint to the hub as a revision, in the background.

Each checkpoint goes to ``training.hub_model_id`` on the branch ``<exp_name>-step-<N>`` (created from the main
branch if absent) with ``huggingface_hub``'s ``upload_folder``, on one worker thread, so training never waits
for the network. Optimizer and RNG states stay local (they are large and only needed to resume here). A push
that fails is logged as a warning and training goes on; ``summary.json`` lists what was pushed and what failed.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loguru import logger
from transformers import TrainerCallback

# What a checkpoint holds that a hub revision does not need: optimizer, scheduler, scaler and RNG states.
LOCAL_ONLY = ["optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth", "global_step*/**", "*.pkl"]


def revision_name(exp_name: str, step: int) -> str:
    """``<exp_name>-step-<N>``, with characters a git branch name cannot hold replaced by ``-``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", exp_name).strip("-.") or "run"
    return f"{safe}-step-{step}"


def files_to_push(folder: Path) -> list[str]:
    """The files of a checkpoint folder a revision gets (relative paths), i.e. all but ``LOCAL_ONLY``."""
    kept = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if not any(rel.match(pattern) for pattern in LOCAL_ONLY):
            kept.append(rel.as_posix())
    return kept


class RevisionPusher(TrainerCallback):
    """Pushes each checkpoint on save (main process), one at a time on a background thread."""

    def __init__(self, repo_id: str, exp_name: str, run_dir: Path, token: str | None = None) -> None:
        self.repo_id, self.exp_name, self.run_dir, self.token = repo_id, exp_name, run_dir, token
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlvr-push")
        self.futures: dict[str, Future] = {}

    def push(self, folder: Path, revision: str) -> str:
        from huggingface_hub import HfApi

        api = HfApi(token=self.token)
        api.create_repo(self.repo_id, exist_ok=True, private=True)
        api.create_branch(self.repo_id, branch=revision, exist_ok=True)
        api.upload_folder(
            repo_id=self.repo_id,
            folder_path=str(folder),
            revision=revision,
            commit_message=f"{self.exp_name}: {folder.name}",
            ignore_patterns=LOCAL_ONLY,
        )
        return revision

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero:
            return
        folder = self.run_dir / f"checkpoint-{state.global_step}"
        revision = revision_name(self.exp_name, state.global_step)
        logger.info(f"pushing {folder.name} to {self.repo_id}@{revision} in the background")
        self.futures[revision] = self.pool.submit(self.push, folder, revision)

    def finish(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the pushes still running; returns ``{"pushed": [...], "failed": {revision: error}}``."""
        pushed, failed = [], {}
        for revision, future in self.futures.items():
            try:
                future.result(timeout=timeout)
                pushed.append(revision)
            except Exception as err:  # network, auth, quota: a warning, never a failed run
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                failed[revision] = first
                logger.warning(f"push of {revision} to {self.repo_id} failed: {first}")
        self.pool.shutdown(wait=False)
        return {"repo_id": self.repo_id, "pushed": pushed, "failed": failed}
