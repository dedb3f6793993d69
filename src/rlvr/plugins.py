"""User code without editing ``src/``: modules or ``.py`` files a run imports at start, and functions named by
reference (``my_pkg.rewards:score`` or ``/path/to/rewards.py:score``).

A plugin is code the run executes, with the run's permissions, in every process that composes the config (each
rank, each SLURM job, ``exp/evaluate.py``, ``exp/generate.py``): use only code you would run yourself. A plugin
module typically registers rewards (``@rlvr.rewards.register("name")``), which ``rewards.funcs`` then names like
any built-in reward. Errors are one line naming the config key.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from rlvr.errors import UserError


def is_reference(name: str) -> bool:
    """Whether a reward name is a ``module:function`` / ``file.py:function`` reference rather than a registered
    name (registered names never hold a colon)."""
    return ":" in name


def _file_module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"rlvr_plugin_{path.stem}_{digest}"


def load_module(spec: str, key: str) -> ModuleType:
    """Import ``spec``: a ``.py`` file (absolute, or relative to the working directory) or a dotted module name
    importable from the environment. A file is imported once per process under a name derived from its path."""
    if spec.endswith(".py") or "/" in spec:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"{key}={spec}: no such file")
        name = _file_module_name(path)
        if name in sys.modules:
            return sys.modules[name]
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise UserError(f"{key}={spec}: not a Python file that can be imported")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as err:
            del sys.modules[name]
            raise UserError(f"{key}={spec}: importing it failed: {type(err).__name__}: {err}") from err
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as err:
        raise UserError(f"{key}={spec}: no module named {err.name!r} in this environment") from None
    except Exception as err:
        raise UserError(f"{key}={spec}: importing it failed: {type(err).__name__}: {err}") from err


def load_plugins(specs: list[str], key: str = "plugins") -> list[ModuleType]:
    """Import every plugin in order (``plugins[i]`` names the one that failed)."""
    return [load_module(spec, f"{key}[{i}]") for i, spec in enumerate(specs)]


def resolve_callable(reference: str, key: str) -> Callable[..., Any]:
    """The function ``module:function`` or ``file.py:function`` names."""
    where, _, attr = reference.rpartition(":")
    if not where or not attr:
        raise UserError(f"{key}={reference}: give module:function or path/to/file.py:function")
    module = load_module(where, key)
    func = getattr(module, attr, None)
    if func is None:
        raise UserError(f"{key}={reference}: {where} has no {attr!r}")
    if not callable(func):
        raise UserError(f"{key}={reference}: {attr!r} in {where} is not callable")
    return func
