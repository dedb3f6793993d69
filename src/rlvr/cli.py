"""What ``exp/grpo_train.py`` does before Hydra composes anything: ``--help`` and override checks.

Light on purpose (no torch, no TRL): a mistyped option or a moved key is answered in about a second.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from rlvr.config.overrides import CONF_DIR, GROUPS, HYDRA_GROUPS, group_options, override_error

__all__ = ["CONF_DIR", "compose_error", "entry_preamble", "help_text", "override_error", "run_dir_error"]


def first_comment(path: Path) -> str:
    """The first comment line of a YAML option (its one-line description), or ''."""
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#") and not text.startswith("# @package"):
            return text.lstrip("# ").strip()
        if text and not text.startswith("#"):
            break
    return ""


def run_dir_error(overrides: list[str]) -> str | None:
    """One line when ``hydra.run.dir=D`` cannot be a run directory: it cannot be created, or it holds another run
    and this one does not resume it. Checked before Hydra writes ``D/.hydra/`` (which would replace that run's
    config); the library checks the same again (``rlvr.checkpoints.check_new_run_dir``) for the API and sweeps."""
    given = [o.partition("=")[2] for o in overrides if o.startswith("hydra.run.dir=")]
    if not given or "${" in given[-1]:
        return None
    value = given[-1]
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"hydra.run.dir={value}: cannot create it ({err.strerror or err}); choose another directory"
    from hydra import compose, initialize_config_dir

    from rlvr.checkpoints import check_new_run_dir
    from rlvr.errors import UserError

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=[o for o in overrides if not o.startswith(("hydra.", "+hydra."))])
        resume = cfg.training.resume_from_checkpoint
    except Exception:  # noqa: BLE001 - a bad override: Hydra reports it in its own words next
        return None
    try:
        check_new_run_dir(path, resume)
    except UserError as err:
        return str(err)
    return None


def help_text(script: str = "exp/grpo_train.py") -> str:
    """``--help``: the selectable options of every group, with a line on each, and how to override."""
    lines = [
        f"usage: uv run python {script} [group=option ...] [key=value ...] [-m for a sweep]",
        "",
        "Config groups (choose one option each; the default is marked *):",
    ]
    defaults = _default_choices()
    for group, what in GROUPS.items():
        lines.append(f"  {group:<11} {what}")
        for option in group_options(group):
            star = "*" if defaults.get(group) == option else " "
            desc = textwrap.shorten(first_comment(CONF_DIR / group / f"{option}.yaml"), 88, placeholder=" ...")
            lines.append(f"    {star} {option:<26} {desc}")
    for group, what in HYDRA_GROUPS.items():
        lines.append(f"  {group:<11} {what}")
    lines += [
        "",
        "Any key can be overridden: training.learning_rate=1e-5 model.generation_kwargs.temperature=0.7 seed=3",
        "Sweeps: -m seed=0,1,2 objective=grpo,maxent   (hydra/launcher=slurm submits them as a job array)",
        "Print the composed config without running: --cfg job   Hydra's own flags: --hydra-help",
        "Reference of every key: docs/configuration.md",
    ]
    return "\n".join(lines)


def _default_choices() -> dict[str, str]:
    choices: dict[str, str] = {}
    for line in (CONF_DIR / "config.yaml").read_text().splitlines():
        text = line.split("#")[0].strip()
        if text.startswith("- ") and ":" in text:
            group, _, option = text[2:].partition(":")
            choices[group.strip()] = option.strip()
    return choices


def compose_error(argv: list[str], config_name: str) -> str | None:
    """One line for a bad override of a secondary entry point (``exp/evaluate.py``, ``generate.py``,
    ``sft_train.py``), found by composing ``conf/<config_name>.yaml`` through :func:`rlvr.config.compose.compose` before Hydra
    would print its multi-line report. Sweeps and Hydra's own flags are left to Hydra."""
    if any(a in ("-m", "--multirun") or a.startswith("--") for a in argv):
        return None
    overrides = [a for a in argv if not a.startswith(("-", "hydra.", "hydra/"))]
    from rlvr.config.compose import compose
    from rlvr.errors import UserError

    try:
        compose(overrides, config_name=config_name)
    except UserError as err:
        return str(err)
    return None


def entry_preamble(doc: str | None, config_name: str) -> None:
    """What a secondary entry point does before Hydra: ``.env``, ``--help`` (its docstring), the override check."""
    import sys

    from loguru import logger

    from rlvr.credentials import load_dotenv

    load_dotenv()
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(doc)
        sys.exit(0)
    if message := compose_error(sys.argv[1:], config_name):
        logger.error(f"error: {message}")
        sys.exit(2)
