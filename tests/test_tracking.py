"""rlvr.tracking: how a sweep job is named in wandb (``sweep_run``), from hydra configs built here; the end-to-end
check on a real Hydra sweep's files and wandb's own offline records is in tests/test_grpo_train.py."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rlvr.credentials import MASK
from rlvr.reporting import end_banner
from rlvr.tracking import SweepRun, sweep_run, swept_keys


def job_hydra(
    task: list[str], mode: str = "MULTIRUN", sweep_dir: str = "multirun/grpo/2026-01-02_03-04-05"
) -> DictConfig:
    """The ``hydra`` node of a job as ``.hydra/hydra.yaml`` records it (the keys ``sweep_run`` reads)."""
    return OmegaConf.create({"mode": mode, "sweep": {"dir": sweep_dir, "subdir": "0"}, "overrides": {"task": task}})


def multirun(task: list[str], params: dict[str, str] | None = None) -> DictConfig:
    """A sweep's ``multirun.yaml`` (its command-line overrides; a sweeper's ``params`` if given)."""
    return OmegaConf.create({"hydra": {"overrides": {"task": task}, "sweeper": {"params": params}}})


SWEEP = ["training.max_steps=2", "replay=none,skip", "seed=0,1,2", "training.learning_rate=1e-5,5e-5"]
JOB = ["training.max_steps=2", "replay=skip", "seed=1", "training.learning_rate=1e-05"]


def test_the_job_type_is_what_the_sweep_varies_but_the_seed() -> None:
    got = sweep_run(job_hydra(JOB), multirun(SWEEP), seed=1)
    assert got == SweepRun(
        group="grpo/2026-01-02_03-04-05",
        job_type="replay=skip,training.learning_rate=1e-05",
        name="replay=skip,training.learning_rate=1e-05 seed=1",
    )


def test_a_seed_only_sweep_has_no_job_type_and_logging_group_wins() -> None:
    got = sweep_run(job_hydra(["seed=2"]), multirun(["seed=range(3)"]), seed=2, group="my-study")
    assert got == SweepRun(group="my-study", job_type=None, name="seed=2")


def test_a_plain_run_is_not_named() -> None:
    assert sweep_run(job_hydra(JOB, mode="RUN"), multirun(SWEEP), seed=1) is None


def test_sweeps_of_every_kind_count_and_fixed_overrides_do_not() -> None:
    task = ["a=1", "b=1,2", "c=range(2)", "+d@pkg=x,y", "experiment=glob(*)", "e=choice(1,2)"]
    assert swept_keys(multirun(task, params={"f": "3,4", "g": "5"})) == ["b", "c", "+d@pkg", "experiment", "e", "f"]
    job = ["a=1", "b=2", "c=0", "+d@pkg=y", "experiment=lab", "e=1", "f=4", "g=5"]
    got = sweep_run(job_hydra(job), multirun(task, params={"f": "3,4", "g": "5"}), seed=0)
    assert got is not None and got.job_type == "b=2,c=0,d@pkg=y,experiment=lab,e=1,f=4"


def test_without_multirun_yaml_only_the_seed_names_the_job_and_a_swept_secret_is_masked() -> None:
    assert sweep_run(job_hydra(JOB), None, seed=1) == SweepRun("grpo/2026-01-02_03-04-05", None, "seed=1")
    got = sweep_run(job_hydra(["training.hub_token=abc"]), multirun(["training.hub_token=abc,def"]), seed=0)
    assert got is not None and got.job_type == f"training.hub_token={MASK}"


def test_the_end_banner_says_how_to_sync() -> None:
    summary = {"exp_name": "e", "steps": 2, "generated_tokens": 10, "wall_seconds": 1.0}
    lines = [("wandb", "/r/wandb/offline-run-x (offline)"), ("sync", "wandb sync /r/wandb/offline-run-x")]
    text = end_banner(summary, Path("/r"), None, lines)
    assert "\n  sync       wandb sync /r/wandb/offline-run-x" in text
    assert "wandb" not in end_banner(summary, Path("/r"), None, [])
