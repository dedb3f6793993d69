"""Synthetic data generators (``dataset.generator`` or a mixture source named after one).

Each generator returns seeded, disjoint ``(train_rows, eval_rows)`` lists of plain dicts that the
loader turns into prompts like any other source. ``generator_kwargs`` go to the generator;
``n_train`` (how many train rows) is common to all of them.

- ``arith``: ``rlvr.data.arith.generate_arith`` (``levels`` and its other keyword arguments).
- ``rush_hour``: ``rlvr.data.rush_hour.generate_rush_hour`` boards, solved optimally by BFS
  (``sizes``, ``min_moves``, ``max_moves``, ``wall_prob``, ``max_states``). The user turn shows
  the board and the optimal move count; the rules belong in the system prompt (see
  ``conf/dataset/rush_hour_synth.yaml``), where tag stripping never touches their example answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlvr.data.arith import generate_arith
from rlvr.data.rush_hour import generate_rush_hour
from rlvr.errors import UserError


@dataclass(frozen=True)
class Generator:
    make: Callable[[int, int, dict[str, Any], int], tuple[list[dict], list[dict]]]
    task: str  # default `task` label of its rows
    n_train: int  # default number of train rows


def _arith(n_train: int, n_eval: int, kwargs: dict[str, Any], seed: int) -> tuple[list[dict], list[dict]]:
    levels = list(kwargs.pop("levels", ["2+2"]))
    return generate_arith(n_train, n_eval, levels, seed=seed, **kwargs)


def rush_hour_user_text(board: str, moves: int | None) -> str:
    lines = board.splitlines()
    text = f"Board ({len(lines)}x{len(lines[0])}):\n{board}"
    return text + (f"\nMinimum number of moves: {moves}" if moves is not None else "")


def _rush_hour(n_train: int, n_eval: int, kwargs: dict[str, Any], seed: int) -> tuple[list[dict], list[dict]]:
    if "sizes" in kwargs:
        kwargs["sizes"] = [int(s) for s in kwargs["sizes"]]
    rows = generate_rush_hour(n_train + n_eval, seed=seed, **kwargs)
    for row in rows:
        row["problem"] = rush_hour_user_text(row["board"], row["moves"])
    return rows[n_eval:], rows[:n_eval]  # distinct boards: the splits never share one


GENERATORS: dict[str, Generator] = {
    "arith": Generator(_arith, task="math", n_train=20000),
    "rush_hour": Generator(_rush_hour, task="rush_hour", n_train=2000),
}


def generator_n_train(name: str, kwargs: dict[str, Any] | None) -> int:
    return int((kwargs or {}).get("n_train", GENERATORS[name].n_train))


def generate(
    name: str,
    kwargs: dict[str, Any] | None,
    n_eval: int,
    seed: int,
    key: str = "dataset",
    n_train: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """Rows from generator ``name``; ``n_train`` overrides ``generator_kwargs.n_train``. ``key`` is the
    config prefix that error messages name (``dataset`` or ``dataset.sources[1]``)."""
    if name not in GENERATORS:
        raise UserError(f"{key}.generator: unknown generator {name!r} (known: {', '.join(GENERATORS)})")
    kwargs = dict(kwargs or {})
    default_n = int(kwargs.pop("n_train", GENERATORS[name].n_train))
    n = default_n if n_train is None else n_train
    try:
        return GENERATORS[name].make(n, n_eval, kwargs, seed)
    except TypeError as err:  # an unknown keyword argument
        raise UserError(f"{key}.generator_kwargs: {err} (generator {name!r})") from None
    except ValueError as err:
        raise UserError(f"{key}.generator_kwargs: {err}") from None
