"""Evaluate saved models: `uv run python exp/evaluate.py [overrides]` (config: conf/evaluate.yaml).

    uv run python exp/evaluate.py model.name_or_path=RUN_DIR/model eval.n_samples=8 eval.k_values=[1,8]
    uv run python exp/evaluate.py run_dir=RUN_DIR checkpoints=all        # every complete checkpoint + model/
    uv run python exp/evaluate.py run_dir=RUN_DIR checkpoints=checkpoint-200   # one checkpoint
    uv run python exp/evaluate.py run_dir=RUN_DIR dataset=math500 rewards=math eval.max_samples=100

With `run_dir`, the run's own model (generation settings, tokenizer), dataset and rewards groups and its
`training.chat_template_kwargs` are used (from `<run_dir>/.hydra/config.yaml`) unless the command line chooses or
changes that group.

Greedy pass@1, pass@k (unbiased estimator) and maj@k over `eval.n_samples` samples per held-out problem, per task
and per `dataset.group_column`, mean completion length and truncation rate; `eval.json` + `eval.md` (and
`accuracy.png` for several checkpoints) in `output_dir` (default: next to the model, `<run_dir>/eval/`, or
`outputs/eval/<timestamp>/`). Under `accelerate launch` the problems are sharded over the ranks. Bad input prints
one line naming the key and exits with status 2. Reference: docs/evaluation.md.
"""

from __future__ import annotations

import sys

import hydra
from loguru import logger
from omegaconf import DictConfig, OmegaConf

from rlvr.cli import entry_preamble
from rlvr.config import to_typed
from rlvr.credentials import redact_config
from rlvr.errors import UserError
from rlvr.evaluation.targets import (
    EvaluateConfig,
    adopt_run_config,
    check_backend,
    register_evaluate_config,
    targets,
)

register_evaluate_config()


def fail(message: str) -> None:
    logger.error(f"error: {message}")
    sys.exit(2)


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        taken = adopt_run_config(cfg, list(HydraConfig.get().overrides.task))
        if taken:
            logger.info(f"as the run was trained: {', '.join(taken)} from {cfg.run_dir}/.hydra/config.yaml")
        typed = to_typed(cfg)  # every value checked here, before any heavy import
        if not isinstance(typed, EvaluateConfig):
            raise UserError("conf/evaluate.yaml must use evaluate_schema")
        check_backend(typed)  # backend and paths checked before torch is imported
        targets(typed)
        from rlvr.evaluation.offline import evaluate

        report = evaluate(typed, OmegaConf.to_container(redact_config(cfg), resolve=True))  # type: ignore[arg-type]
    except UserError as err:
        fail(str(err))
    return report["metrics"]["greedy"]


if __name__ == "__main__":
    entry_preamble(__doc__, "evaluate")
    main()
