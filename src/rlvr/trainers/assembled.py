"""The trainer class a run gets: :class:`RLVRTrainer` with the mixins of the extensions its config enables, composed
in one valid order, and ``trainer_class(cfg)``, the one place that decides which extensions a run's trainer has.

The extensions (:class:`rlvr.trainers.extensions.Extension` records, each defined next to its mixin), in MRO order:

* ``reasoning_vocab``: ``ReasoningVocabMixin`` (``rlvr.vocab.mixin``) when ``model.reasoning_vocab.size != 0``;
* ``replay``: ``ReplayMixin`` (``rlvr.replay.mixin``) when ``replay.enabled``;
* ``objectives``: ``ObjectivesMixin`` (``rlvr.objectives.mixin``) always, last (next to the base): the objective
  (``objective=grpo|maxent``), the KL and entropy controllers and the temperature schedule.

``trainer_class(cfg)`` composes ``type("RLVRTrainer[replay+objectives]", (ReplayMixin, ObjectivesMixin), {})``
from the enabled ones, once per combination (cached: the same combination is the same class object, and
``pickle`` finds it again by its name through this module's ``__getattr__``). ``rlvr.run.build`` builds the
trainer's keyword arguments by asking each enabled extension (``Extension.kwargs``).

Adding an extension: write its mixin in its own module (a subclass of ``RLVRTrainer`` overriding only the base's
public hooks, each calling ``super()``), define ``EXTENSION = Extension(name, mixin, enabled, kwargs)`` there, and
add it to ``EXTENSIONS`` below at the place its hooks should run (earlier = outer: its hooks run first and wrap
the later ones through ``super()``). Code outside ``rlvr`` (a plugin, a test) calls ``register_extension(ext)``
instead, or uses ``extension_registered(ext)`` to have it for a block only.

Mixins use only the hooks of ``RLVRTrainer``; the private TRL overrides live in ``base.py`` alone. This module sits
above the mixins (they import ``rlvr.trainers.base`` and ``rlvr.trainers.extensions``, never this), so
``rlvr.trainers`` itself imports only the base and no import runs in a circle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rlvr.objectives.mixin import EXTENSION as OBJECTIVES
from rlvr.replay.mixin import EXTENSION as REPLAY
from rlvr.trainers.base import RLVRTrainer
from rlvr.trainers.extensions import Extension, ExtensionContext
from rlvr.vocab.mixin import EXTENSION as REASONING_VOCAB

if TYPE_CHECKING:
    from rlvr.config import RootConfig

# The optional extensions in MRO order (first = outermost). The objectives come after all of them, always.
EXTENSIONS: list[Extension] = [REASONING_VOCAB, REPLAY]
BASE_EXTENSION = OBJECTIVES

_CLASS_NAME = re.compile(r"RLVRTrainer\[([A-Za-z0-9_+]*)\]")
_composed: dict[tuple[Extension, ...], type[RLVRTrainer]] = {}


def register_extension(extension: Extension, *, before: str | None = None) -> Extension:
    """Add ``extension`` to ``EXTENSIONS``: last (just above the objectives), or just before the extension named
    ``before``. Returns it; a second extension of the same name is refused."""
    if extension.name in [e.name for e in all_extensions()]:
        raise ValueError(f"a trainer extension named {extension.name!r} is already registered")
    optional = [e.name for e in EXTENSIONS]
    if before is None:
        EXTENSIONS.append(extension)
    elif before in optional:
        EXTENSIONS.insert(optional.index(before), extension)
    else:
        raise ValueError(f"register_extension(before={before!r}): no optional extension of that name")
    return extension


def unregister_extension(extension: Extension) -> None:
    """Remove a registered ``extension`` (classes already composed with it stay valid)."""
    EXTENSIONS.remove(extension)


@contextmanager
def extension_registered(extension: Extension, *, before: str | None = None) -> Iterator[Extension]:
    """``extension`` is registered inside the block only."""
    register_extension(extension, before=before)
    try:
        yield extension
    finally:
        unregister_extension(extension)


def all_extensions() -> list[Extension]:
    """Every registered extension in MRO order, the always-on objectives last."""
    return [*EXTENSIONS, BASE_EXTENSION]


def enabled_extensions(cfg: RootConfig) -> list[Extension]:
    """The extensions ``cfg`` switches on, in MRO order (the objectives last, always)."""
    return [e for e in EXTENSIONS if e.enabled(cfg)] + [BASE_EXTENSION]


def compose(extensions: list[Extension] | tuple[Extension, ...]) -> type[RLVRTrainer]:
    """The trainer class with ``extensions``' mixins in this order (one class object per combination)."""
    key = tuple(extensions)
    if key not in _composed:
        name = f"RLVRTrainer[{'+'.join(e.name for e in key)}]"
        doc = f"rlvr's GRPO trainer with the extensions {', '.join(e.name for e in key)} (rlvr.trainers.assembled)."
        cls = type(name, tuple(e.mixin for e in key), {"__module__": __name__, "__doc__": doc})
        _composed[key] = cls
    return _composed[key]


def trainer_class(cfg: RootConfig) -> type[RLVRTrainer]:
    """The trainer class for a run: which mixins it has follows from the config."""
    return compose(enabled_extensions(cfg))


def extension_kwargs(extensions: list[Extension], ctx: ExtensionContext) -> dict[str, Any]:
    """The trainer's constructor keyword arguments that ``extensions`` ask for (each key from one extension)."""
    out: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for ext in extensions:
        for key, value in ext.kwargs(ctx).items():
            if key in out:
                raise ValueError(f"trainer extensions {owner[key]!r} and {ext.name!r} both pass {key}=")
            out[key], owner[key] = value, ext.name
    return out


def __getattr__(name: str) -> type[RLVRTrainer]:
    """``RLVRTrainer[replay+objectives]``: the composed class of that name (what ``pickle`` looks up)."""
    match = _CLASS_NAME.fullmatch(name)
    if match is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    by_name = {e.name: e for e in all_extensions()}
    wanted = match.group(1).split("+") if match.group(1) else []
    if any(n not in by_name for n in wanted):
        raise AttributeError(f"{name}: extensions {[n for n in wanted if n not in by_name]} are not registered")
    return compose([by_name[n] for n in wanted])
