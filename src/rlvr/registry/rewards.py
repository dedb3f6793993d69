"""The rewards registry: reward names -> factories that build TRL-compatible reward functions.

A reward function follows TRL's contract: it is called as ``f(prompts=..., completions=...,
**columns)`` where every dataset column arrives as a list aligned with the flattened B x K
completions, and returns one ``float`` (or ``None`` for "not applicable") per completion.

Task routing: every registered factory accepts an optional ``tasks`` kwarg (a list of task
labels; ``null`` serves every task). When the rows carry a ``task`` column, a completion whose
row's task is not served gets ``None`` and the reward never sees it. Rows without a ``task``
column (or with an empty task) are always scored. Each family registers its default served
set with ``@register(name, tasks=[...])``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rlvr.errors import UserError
from rlvr.plugins import resolve_callable
from rlvr.registry.tasks import offered_rewards

if TYPE_CHECKING:
    from rlvr.config import RewardSpec


class RewardFunc(Protocol):
    __name__: str

    def __call__(self, completions: list, **kwargs: Any) -> list[float | None]: ...


RewardFactory = Callable[..., Callable[..., list[float | None]]]
REGISTRY: dict[str, RewardFactory] = {}


def register(name: str, tasks: Sequence[str] | None = None) -> Callable[[RewardFactory], RewardFactory]:
    """Decorator: register ``factory(**kwargs) -> reward_func`` under ``name``.

    ``tasks`` is the family's default served set (``None``: every task). The registered factory
    also takes ``tasks=`` to override it, and always returns a :class:`TaskRouted` reward.
    """
    default_tasks = served_tasks(tasks)

    def deco(factory: RewardFactory) -> RewardFactory:
        if name in REGISTRY:
            raise ValueError(f"reward {name!r} is registered twice")

        @functools.wraps(factory)
        def routed_factory(*, tasks: Any = _DEFAULT, **kwargs: Any) -> TaskRouted:
            served = default_tasks if tasks is _DEFAULT else served_tasks(tasks)
            return TaskRouted(factory(**kwargs), served, name)

        routed_factory.default_tasks = default_tasks  # type: ignore[attr-defined]
        REGISTRY[name] = routed_factory
        return routed_factory

    return deco


_DEFAULT = object()


def served_tasks(tasks: Any) -> frozenset[str] | None:
    """Normalise a ``tasks`` kwarg: ``None`` (every task), one label, or a list of labels."""
    if tasks is None:
        return None
    if isinstance(tasks, str):
        return frozenset([tasks])
    if isinstance(tasks, Sequence) and all(isinstance(t, str) for t in tasks):
        return frozenset(tasks)
    raise TypeError(f"tasks must be null or a list of task labels, got {tasks!r}")


def serves_task(tasks: frozenset[str] | None, task: Any) -> bool:
    """Whether a reward serving ``tasks`` scores a row of ``task`` (a row without a task is scored by every one)."""
    return tasks is None or task is None or task == "" or str(task) in tasks


class _ScatterLog:
    """``log_extra`` for a subset of the batch: pads the logged column back to the full batch with None."""

    def __init__(self, log_extra: Callable[[str, list], None], keep: list[int], n: int) -> None:
        self.log_extra, self.keep, self.n = log_extra, keep, n

    def __call__(self, column: str, values: list) -> None:
        full: list[Any] = [None] * self.n
        for i, v in zip(self.keep, values, strict=False):
            full[i] = v
        self.log_extra(column, full)


class TaskRouted:
    """A reward restricted to rows whose ``task`` is in ``tasks`` (others get ``None``).

    The inner reward is called only on the served completions, with every per-completion
    column sliced to match, so it never scores a row of another task. A plain class (not a
    closure) so that it pickles whenever the inner reward does.
    """

    def __init__(self, func: Callable[..., list[float | None]], tasks: frozenset[str] | None, name: str) -> None:
        self.func, self.tasks = func, tasks
        self.__name__ = name

    def serves(self, task: Any) -> bool:
        return serves_task(self.tasks, task)

    def __call__(self, completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        task = kwargs.get("task")
        if self.tasks is None or not isinstance(task, list | tuple):
            return self._check(self.func(completions=completions, **kwargs), n)
        keep = [i for i, t in enumerate(task) if self.serves(t)]
        if len(keep) == n:
            return self._check(self.func(completions=completions, **kwargs), n)
        out: list[float | None] = [None] * n
        if not keep:
            return out
        sub = {k: [v[i] for i in keep] if isinstance(v, list | tuple) and len(v) == n else v for k, v in kwargs.items()}
        if callable(kwargs.get("log_extra")):
            sub["log_extra"] = _ScatterLog(kwargs["log_extra"], keep, n)
        scores = self._check(self.func(completions=[completions[i] for i in keep], **sub), len(keep))
        for i, score in zip(keep, scores, strict=True):
            out[i] = score
        return out

    def _check(self, scores: Sequence[float | None], n: int) -> list[float | None]:
        scores = list(scores)
        if len(scores) != n:
            raise RuntimeError(f"reward {self.__name__} returned {len(scores)} scores for {n} completions")
        return scores

    def __repr__(self) -> str:
        tasks = "all" if self.tasks is None else sorted(self.tasks)
        return f"TaskRouted({self.__name__}, tasks={tasks})"


def completion_text(completion: Any) -> str:
    """The text of one completion, conversational (list of messages) or plain string."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        if isinstance(last, dict):
            content = last.get("content", "")
            if isinstance(content, list):  # multimodal content blocks
                return "".join(b.get("text", "") for b in content if isinstance(b, dict))
            return str(content) if content is not None else ""
    if isinstance(completion, dict):
        content = completion.get("content")
        return str(content) if content is not None else ""
    return ""


def reward_by_reference(reference: str, kwargs: dict[str, Any]) -> TaskRouted:
    """A user's reward named ``module:function`` or ``file.py:function`` (``rlvr.plugins``): the function is
    called as TRL calls rewards, with ``kwargs`` (except ``tasks``, the served task labels) bound; metrics carry
    the function's name."""
    func = resolve_callable(reference, "rewards.funcs name")
    options = dict(kwargs)
    served = served_tasks(options.pop("tasks", None))
    bound = functools.partial(func, **options) if options else func
    return TaskRouted(bound, served, reference.rpartition(":")[2])


def unknown_reward(name: str) -> UserError:
    return UserError(f"rewards.funcs: unknown reward {name!r}; registered rewards: {', '.join(sorted(REGISTRY))}")


def build_reward(name: str, kwargs: dict[str, Any] | None = None) -> Callable[..., list[float | None]]:
    if ":" in name:  # module:function or file.py:function (registered names hold no colon)
        return reward_by_reference(name, dict(kwargs or {}))
    if name not in REGISTRY:
        raise unknown_reward(name)
    try:
        func = REGISTRY[name](**dict(kwargs or {}))
    except TypeError as err:
        raise UserError(f"rewards.funcs[{name}].kwargs: {err}") from None
    func.__name__ = name  # TRL names its reward metrics after __name__
    return func


def build_rewards(specs: Sequence[RewardSpec]) -> tuple[list[Callable[..., list[float | None]]], list[float]]:
    """Turn ``rewards.funcs`` (their ``name``, ``weight`` and ``kwargs``) into TRL ``reward_funcs``
    and ``reward_weights``."""
    if not specs:
        raise UserError("rewards.funcs is empty: list at least one reward, e.g. rewards=math")
    funcs, weights = [], []
    for spec in specs:
        funcs.append(build_reward(spec.name, spec.kwargs))
        weights.append(float(spec.weight))
    return funcs, weights


@dataclass(frozen=True)
class Route:
    """A reward's name and the task labels it scores (``None``: every task)."""

    name: str
    tasks: frozenset[str] | None

    def serves(self, task: Any) -> bool:
        return serves_task(self.tasks, task)

    def describe(self) -> str:
        return f"{self.name} ({'all tasks' if self.tasks is None else ', '.join(sorted(self.tasks))})"


def declared_routes(specs: Sequence[RewardSpec]) -> list[Route]:
    """What each entry of ``rewards.funcs`` will serve, read from the registry without building the reward (a
    factory may load a model or open a client), so that :func:`check_rewards_serve` can run before anything heavy is
    imported (``rlvr.preflight``). An unknown name is the same one line as in :func:`build_reward`."""
    if not specs:
        raise UserError("rewards.funcs is empty: list at least one reward, e.g. rewards=math")
    routes = []
    for spec in specs:
        kwargs = dict(spec.kwargs or {})
        if ":" in spec.name:  # by reference: resolved when the config was composed (rlvr.plugins)
            name, default = spec.name.rpartition(":")[2], None
        elif spec.name in REGISTRY:
            name, default = spec.name, REGISTRY[spec.name].default_tasks  # type: ignore[attr-defined]
        else:
            raise unknown_reward(spec.name)
        try:
            served = served_tasks(kwargs["tasks"]) if "tasks" in kwargs else default
        except TypeError as err:
            raise UserError(f"rewards.funcs[{spec.name}].kwargs: {err}") from None
        routes.append(Route(name, served))
    return routes


def check_rewards_serve(funcs: Sequence[Any], tasks: set[Any], dataset: str) -> None:
    """Every task of the dataset's rows needs a reward that scores it: a row no reward serves gets no signal, and a
    run of such rows trains on nothing while it looks healthy. One line naming the rewards and the tasks. ``funcs``
    are built rewards or :func:`declared_routes`."""
    routes = [f if isinstance(f, Route) else Route(f.__name__, f.tasks) if isinstance(f, TaskRouted)
              else Route(getattr(f, "__name__", repr(f)), None) for f in funcs]  # fmt: skip
    missing = sorted(str(t) for t in tasks if not any(route.serves(t) for route in routes))
    if missing:
        offered = "; ".join(f"{t}: {', '.join(names)}" for t in missing if (names := offered_rewards(t)))
        raise UserError(
            f"rewards.funcs: no reward scores the task(s) {', '.join(missing)} of dataset {dataset} (the rewards: "
            f"{', '.join(route.describe() for route in routes)}): choose rewards for those tasks "
            f"({offered or 'e.g. rewards=mixture'}) or set a reward's kwargs.tasks"
        )
