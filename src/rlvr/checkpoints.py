"""Checkpoints of a run directory: which are complete, which is newest, what ``resume_from_checkpoint`` means,
and which old ones may be pruned.

A checkpoint folder counts as **complete** only when it holds :data:`COMPLETE_FILE` (``rlvr_complete.json``):
``rlvr.trainers.base.RLVRTrainer`` writes it LAST, atomically, after transformers' files (model, optimizer,
scheduler, RNG, ``trainer_state.json``), after every extension's ``save_extra`` (``rlvr_state.json``,
``replay_buffer.pkl``, ...) and after every rank has finished writing. It records the step and the files the
folder held, and :func:`is_complete` checks they are all still there. A process killed while a checkpoint is
being written therefore leaves a folder without the marker, which ``resume_from_checkpoint=auto`` ignores.

Pruning (``training.save_total_limit``) is done here too (:func:`rotate_checkpoints`), after the marker is
written, and counts only complete checkpoints: the checkpoint just written is never deleted, so there is
always a complete checkpoint to resume from. transformers' own rotation is switched off for rlvr's trainers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.errors import UserError

OFF = (None, "", False, "false", "False", "none", "None")
COMPLETE_FILE = "rlvr_complete.json"
PREFIX = "checkpoint"


def checkpoint_step(path: Path) -> int | None:
    """The step of a ``checkpoint-<step>`` folder name, or None for any other name."""
    head, _, step = path.name.rpartition("-")
    return int(step) if head == PREFIX and step.isdigit() else None


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Every ``checkpoint-<step>`` folder of ``run_dir`` (complete or not), by step, oldest first."""
    found = [p for p in Path(run_dir).glob(f"{PREFIX}-*") if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda p: checkpoint_step(p))  # type: ignore[arg-type, return-value]


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The completion record of ``folder`` (None when absent or unreadable)."""
    try:
        marker = json.loads((Path(folder) / COMPLETE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a checkpoint that finished writing: its marker names its step and every file it
    lists is present, at the size it had when the marker was written (a truncated or replaced file fails)."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None or marker.get("step") != checkpoint_step(folder):
        return False
    return damage(folder, marker) is None


def damage(folder: Path, marker: dict[str, Any] | None = None) -> str | None:
    """What is wrong with a marked checkpoint's files (a missing file, or one whose size is not the recorded one:
    a copy cut short, a disk that filled up), or None. Markers written before sizes were recorded check presence."""
    folder = Path(folder)
    marker = marker if marker is not None else read_marker(folder)
    if marker is None:
        return f"no {COMPLETE_FILE}"
    sizes = marker.get("sizes") or {}
    for name in marker.get("files", []):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if name in sizes and path.stat().st_size != sizes[name]:
            return f"{name} has {path.stat().st_size} bytes, {sizes[name]} when the checkpoint was written"
    return None


def mark_complete(folder: Path, step: int) -> Path:
    """Write ``folder``'s completion marker atomically (temp file, fsync, ``os.replace``); call it LAST."""
    folder = Path(folder)
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != COMPLETE_FILE and not p.name.endswith(".tmp")
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{COMPLETE_FILE}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            sizes = {name: (folder / name).stat().st_size for name in files}
            json.dump({"step": int(step), "files": files, "sizes": sizes}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / COMPLETE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return folder / COMPLETE_FILE


def clear_complete(folder: Path) -> None:
    """Remove ``folder``'s marker before its files are (re)written: a checkpoint saved again at the same step is
    not complete until its new marker is written."""
    (Path(folder) / COMPLETE_FILE).unlink(missing_ok=True)


def find_last_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step in ``run_dir``, or None. Incomplete folders are skipped
    with a warning (a process stopped while writing them); ``checkpoint-0`` (a model as initialised, never a
    training checkpoint) is skipped silently."""
    folders = checkpoint_folders(run_dir)
    complete = [p for p in folders if is_complete(p)]
    last = complete[-1] if complete else None
    skipped = [p for p in folders if p not in complete and checkpoint_step(p) != 0]
    unmarked = [p.name for p in skipped if read_marker(p) is None]
    if unmarked:
        logger.warning(f"ignoring incomplete checkpoints (no {COMPLETE_FILE}) in {run_dir}: {', '.join(unmarked)}")
    for p in skipped:
        if read_marker(p) is not None and (step := checkpoint_step(p)) is not None and (not last or step > _step(last)):
            logger.warning(f"ignoring damaged checkpoint {p}: {damage(p)}")
    return last


def _step(folder: Path) -> int:
    return checkpoint_step(folder) or 0


def damaged_checkpoints(run_dir: Path) -> list[tuple[Path, str]]:
    """Checkpoints that were marked complete but whose files no longer match the marker, with what is wrong."""
    out = []
    for p in checkpoint_folders(run_dir):
        if read_marker(p) is not None and (problem := damage(p)) is not None:
            out.append((p, problem))
    return out


def rotate_checkpoints(
    run_dir: Path, save_total_limit: int | None, current: Path, protect: Iterable[str | Path | None] = ()
) -> list[Path]:
    """Prune ``run_dir`` to ``save_total_limit`` complete checkpoints; returns the deleted folders.

    Call after ``current``'s marker is written. Kept: ``current`` (the newest complete checkpoint, never
    deleted), ``protect`` (e.g. the best model checkpoint) and the newest other complete checkpoints up to the
    limit. Deleted: older complete checkpoints beyond the limit, and incomplete folders with a lower step than
    ``current`` (leftovers of a process stopped mid-save, never resumable). Incomplete folders with a higher
    step are left alone. ``checkpoint-0`` (the initial model, ``rlvr.vocab.setup``) is never deleted. Nothing is
    deleted when the limit is None or <= 0.
    """
    if save_total_limit is None or save_total_limit <= 0:
        return []
    current = Path(current)
    cur_step = checkpoint_step(current)
    keep = {current.resolve()} | {Path(p).resolve() for p in protect if p}
    # checkpoint-0 is never pruned: the model as initialised (a reasoning-vocabulary run's reference for drift)
    folders = [p for p in checkpoint_folders(run_dir) if checkpoint_step(p) != 0]
    complete = [p for p in folders if is_complete(p)]
    room = save_total_limit - sum(1 for p in complete if p.resolve() in keep)
    for p in reversed(complete):  # newest first
        if p.resolve() not in keep and room > 0:
            keep.add(p.resolve())
            room -= 1
    doomed = [p for p in complete if p.resolve() not in keep]
    doomed += [
        p
        for p in folders
        if p not in complete and cur_step is not None and checkpoint_step(p) < cur_step and p.resolve() not in keep
    ]
    for p in sorted(doomed, key=lambda p: checkpoint_step(p)):  # type: ignore[arg-type, return-value]
        logger.info(f"deleting checkpoint {p} (training.save_total_limit={save_total_limit})")
        shutil.rmtree(p, ignore_errors=True)
    return doomed


def resolve_resume(value: object, run_dir: Path) -> str | None:
    """``training.resume_from_checkpoint``: off, ``auto``/``true`` (newest complete checkpoint in the run
    directory, or a fresh start when there is none) or a checkpoint directory."""
    if value in OFF:
        return None
    if resume_auto(value):
        last = find_last_checkpoint(run_dir)
        if last is None:
            if damaged := damaged_checkpoints(run_dir):
                where, problem = damaged[-1]
                raise UserError(
                    f"training.resume_from_checkpoint=auto: no complete checkpoint is left in {run_dir}, the newest "
                    f"is damaged ({where.name}: {problem}); restore it, or start a new run directory"
                )
            logger.info(f"resume_from_checkpoint=auto: no complete checkpoint in {run_dir}, starting fresh")
            return None
        logger.info(f"resume_from_checkpoint=auto: resuming from {last}")
        return str(last)
    check_checkpoint_dir(value)
    if read_marker(Path(str(value))) is not None and (problem := damage(Path(str(value)))) is not None:
        raise UserError(f"training.resume_from_checkpoint: {value} is damaged ({problem})")
    if not is_complete(Path(str(value))):
        logger.warning(
            f"training.resume_from_checkpoint: {value} has no {COMPLETE_FILE}: it may be incomplete "
            "(a process stopped while writing it, or written before rlvr marked complete checkpoints)"
        )
    return str(value)


def resume_requested(value: object) -> bool:
    """Whether ``training.resume_from_checkpoint`` asks to continue a run (``auto``, ``true`` or a path)."""
    return value not in OFF


def resume_auto(value: object) -> bool:
    """Whether ``training.resume_from_checkpoint`` asks for the run directory's newest complete checkpoint."""
    return value is True or str(value).lower() in ("auto", "true")


def check_checkpoint_dir(value: object) -> Path:
    """``training.resume_from_checkpoint=<path>`` must name a checkpoint folder (one with ``trainer_state.json``):
    one line naming the key otherwise, before the model loads."""
    path = Path(str(value)).expanduser()
    if not path.is_dir():
        raise UserError(f"training.resume_from_checkpoint: {value} is not a checkpoint directory")
    if not (path / "trainer_state.json").is_file():
        raise UserError(
            f"training.resume_from_checkpoint: {value} is not a checkpoint (no trainer_state.json): name a "
            "checkpoint-<step> folder of a run, or use auto with that run's directory"
        )
    return path


def earlier_run(run_dir: Path) -> list[str]:
    """What an earlier run left in ``run_dir`` that a new run would overwrite or mix with: its summary, metrics,
    training checkpoints and final model (``.hydra/`` and ``train.log`` are not counted)."""
    run_dir = Path(run_dir)
    names = [n for n in ("summary.json", "metrics.jsonl", "model") if (run_dir / n).exists()]
    names += [p.name for p in checkpoint_folders(run_dir) if checkpoint_step(p) != 0]
    return names


def check_new_run_dir(run_dir: Path, resume: object) -> None:
    """A run that does not resume must not write into another run's directory: its summary would be replaced,
    its metrics.jsonl would get a second run's lines and its model would be overwritten."""
    if resume_requested(resume):
        return
    found = earlier_run(run_dir)
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise UserError(
            f"{run_dir} holds another run ({shown}): continue it with training.resume_from_checkpoint=auto, or "
            "choose another directory (hydra.run.dir=...)"
        )


def trained_steps(checkpoint: str | Path) -> int | None:
    """The optimizer steps a checkpoint holds (``trainer_state.json``'s ``global_step``), None if unreadable."""
    try:
        return int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finished_summary(run_dir: Path, checkpoint: str | Path | None, max_steps: int) -> dict[str, Any] | None:
    """The run's ``summary.json`` when ``checkpoint`` (the one a resume would start from) is the end of a finished
    run: trained to ``max_steps`` and summarised at that step. None when there is something left to do."""
    if checkpoint is None or max_steps <= 0:
        return None
    steps = trained_steps(checkpoint)
    path = Path(run_dir) / "summary.json"
    if steps is None or steps < max_steps or not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        return None
    return summary if summary.get("steps") == steps and (Path(run_dir) / "model").is_dir() else None
