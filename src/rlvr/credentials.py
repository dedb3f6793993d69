"""Credentials: read from the environment or a git-ignored ``.env``, never written anywhere.

rlvr uses three kinds of secret: ``HF_TOKEN`` (hub downloads and uploads), ``WANDB_API_KEY`` (online wandb) and a
judge's API key (``rewards.funcs[rubric].kwargs.judge.api_key_env`` names the variable, e.g. ``JUDGE_API_KEY``).
Put them in the environment or in a ``.env`` file (``KEY=value`` lines) in the working directory or the repository
root; :func:`load_dotenv` fills in the variables that are not set already.

A secret may also arrive as a config value: ``training.hub_token=...`` (TRL's ``GRPOConfig.hub_token``). Such keys
(:data:`SECRET_CONFIG_KEYS`) are redacted to :data:`MASK` in everything rlvr or Hydra writes (``.hydra/*.yaml``,
``summary.json``, ``train.log``, the model card, wandb's record of the command line) and the real value reaches only
``GRPOConfig`` as a :class:`Secret`, a ``str`` that pickles (``training_args.bin``) and prints as the mask.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "REDACTED"  # a plain YAML scalar and a valid override value, wherever it replaces a secret
# Environment variables that hold secrets (a judge's variable is added from the config, see ``secret_values``).
SECRET_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "JUDGE_API_KEY", "OPENAI_API_KEY")
# Dotted config keys whose values are secrets.
SECRET_CONFIG_KEYS = ("training.hub_token",)
MIN_SECRET_LEN = 4  # shorter values are not scrubbed from text (they would match everywhere)
ROOT = Path(__file__).resolve().parents[2]
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


class Secret(str):
    """A string that behaves as its value in code but shows and pickles as :data:`MASK`.

    ``repr`` (and so logs of containers holding it) and pickling (``torch.save(args)``: ``training_args.bin``)
    give the mask; ``str(secret)``, formatting and comparisons use the real value, so a client that builds an
    ``Authorization`` header from it works.
    """

    def __repr__(self) -> str:
        return repr(MASK)

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (MASK,))

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __copy__(self) -> Secret:
        return self


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines (optional ``export``, quotes, ``#`` comments) as a mapping."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        out[key] = value
    return out


def load_dotenv(paths: Iterable[str | Path] | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """Set variables from ``.env`` files (default: ``./.env``, then the repository root's) that are not set yet.

    Returns the names that were set (never the values). The environment always wins over a file.
    """
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if paths is None:
        paths = [Path.cwd() / ".env", ROOT / ".env"]
    set_names: list[str] = []
    seen: set[Path] = set()
    for path in paths:
        path = Path(path).resolve()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for key, value in parse_dotenv(path.read_text()).items():
            if key not in environ and value:
                environ[key] = value
                set_names.append(key)
    return set_names


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _judge_env_names(rewards: Any) -> list[str]:
    names = []
    for spec in _field(rewards, "funcs") or []:
        kwargs = _field(spec, "kwargs") or {}
        judge = kwargs.get("judge") if isinstance(kwargs, Mapping) else None
        if isinstance(judge, Mapping) and judge.get("api_key_env"):
            names.append(str(judge["api_key_env"]))
    return names


def _get_dotted(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = _field(obj, part)
    return obj


def secret_values(cfg: Any = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value in play: the secret environment variables (and a judge's) and secret config values."""
    environ = os.environ if environ is None else environ
    names = list(SECRET_ENV_VARS)
    if cfg is not None:
        names += _judge_env_names(_get_dotted(cfg, "rewards"))
    values = [environ.get(name) for name in names]
    if cfg is not None:
        values += [_get_dotted(cfg, key) for key in SECRET_CONFIG_KEYS]
    out = {str(v) for v in values if v and isinstance(v, str) and len(v) >= MIN_SECRET_LEN and v != MASK}
    return sorted(out, key=len, reverse=True)


def is_secret_override(override: str) -> bool:
    key = override.lstrip("+~").partition("=")[0]
    return key in SECRET_CONFIG_KEYS


def redact_overrides(overrides: Iterable[str]) -> list[str]:
    """Command-line overrides with secret values masked: ``training.hub_token=abc`` -> ``training.hub_token=REDACTED``."""
    out = []
    for override in overrides:
        if is_secret_override(override) and "=" in override:
            key = override.partition("=")[0]
            out.append(f"{key}={MASK}")
        else:
            out.append(override)
    return out


def redact_text(text: str, values: Iterable[str]) -> str:
    for value in values:
        if value:
            text = text.replace(str(value), MASK)
    return text


def redact_config(cfg: Any) -> Any:
    """A copy of a ``DictConfig`` with the secret keys masked (``cfg`` itself is left alone)."""
    from omegaconf import OmegaConf, open_dict

    copy = cfg.copy()
    with open_dict(copy):
        for key in SECRET_CONFIG_KEYS:
            if OmegaConf.select(copy, key, default=None) is not None:
                OmegaConf.update(copy, key, MASK, merge=False)
    return copy


def scrub_files(folder: str | Path, values: Iterable[str]) -> list[Path]:
    """Replace every secret value in the text files under ``folder`` (recursively, or ``folder`` itself when it is
    a file); returns the files changed."""
    values = [v for v in values if v]
    changed: list[Path] = []
    if not values:
        return changed
    folder = Path(folder)
    for path in [folder] if folder.is_file() else folder.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        new = redact_text(text, values)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def scrub_hydra_output(hydra_dir: str | Path, cfg: Any = None) -> list[Path]:
    """Mask secrets in the files Hydra wrote before our code ran (``config.yaml``, ``hydra.yaml``,
    ``overrides.yaml``): secret config values and secret environment variables alike."""
    return scrub_files(hydra_dir, secret_values(cfg))


def protect_config_secrets(cfg: Any) -> None:
    """Wrap the secret values of a typed config in :class:`Secret` (in place), so they print and pickle masked."""
    for key in SECRET_CONFIG_KEYS:
        *parents, leaf = key.split(".")
        obj = cfg
        for part in parents:
            obj = getattr(obj, part, None)
        value = getattr(obj, leaf, None) if obj is not None else None
        if isinstance(value, str) and value and not isinstance(value, Secret):
            setattr(obj, leaf, Secret(value))


def redacting_filter(values: list[str]) -> Callable[[dict[str, Any]], bool]:
    """A loguru filter that masks secret values in a record's message (a run's ``train.log``)."""

    def keep(record: dict[str, Any]) -> bool:
        if values:
            record["message"] = redact_text(record["message"], values)
        return True

    return keep
