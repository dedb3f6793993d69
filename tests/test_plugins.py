"""A user's own task, rewards and presets without editing ``src/``: a plugin module that registers a task and its
correctness reward, a reward named by file path, a preset in a config folder outside the repository
(``hydra.searchpath``), used by a real 2-process training run and by ``exp/evaluate.py``; and the one-line errors
of bad references (``rlvr.plugins``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlvr.api import compose
from rlvr.errors import UserError
from rlvr.registry.rewards import build_reward
from tests.helpers.cli import FAST, ROOT, cli_env, run_accelerate

REWARD_FILE = '''
def brevity(completions, **kwargs):
    """1 for a completion of at most 4 characters, else 0."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [1.0 if len(t.strip()) <= 4 else 0.0 for t in texts]
'''
# A task of the user's own, declared once where it is defined: its generator, the column its reward reads, its
# answer key for maj@k and its correctness reward. Prompts look like the tiny model's arithmetic ("3+4+5").
TASK_FILE = '''
import random

from rlvr.rewards import register
from rlvr.tasks import Generator, Task, register_task


def make_rows(n_train, n_eval, kwargs, seed):
    rng = random.Random(seed)
    top = 10 ** int(kwargs.get("digits", 1)) - 1

    def row():
        terms = [rng.randint(0, top) for _ in range(3)]
        return {"problem": "+".join(map(str, terms)), "answer": str(sum(terms))}

    held_out = [row() for _ in range(n_eval)]
    seen = {r["problem"] for r in held_out}
    train = [r for r in (row() for _ in range(3 * n_train)) if r["problem"] not in seen][:n_train]
    return train, held_out


def digits(text):
    kept = "".join(ch for ch in text if ch.isdigit())
    return kept or None


def terms(row, prompt_text):
    return {"terms": prompt_text.count("+") + 1}


@register("sum_exact", tasks=["sum3"])
def sum_exact():
    def reward(completions, solution, terms, **kwargs):
        assert all(t == 3 for t in terms), terms  # the column the task's fields added
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [float(digits(t) == str(s)) for t, s in zip(texts, solution)]

    return reward


register_task(
    Task(
        "sum3",
        correctness=("sum_exact",),
        answer_key=digits,
        fields=terms,
        generators={"sum3": Generator(make_rows, n_train=200)},
    )
)
'''


def user_folder(root: Path) -> Path:
    """What a user keeps outside the repository: a task module, a reward file and conf/experiment/sum3.yaml."""
    (root / "conf/experiment").mkdir(parents=True)
    (root / "my_rewards.py").write_text(REWARD_FILE)
    (root / "my_task.py").write_text(TASK_FILE)
    (root / "conf/experiment/sum3.yaml").write_text(
        textwrap.dedent(
            f"""\
            # @package _global_
            exp_name: sum3
            plugins: [{root / "my_task.py"}]
            dataset:
              name: sum3
              generator: sum3
              generator_kwargs: {{digits: 1}}
              task: null
              group_column: null
              eval_size: 16
            rewards:
              funcs:
                - name: sum_exact
                - name: {root / "my_rewards.py"}:brevity
                  weight: 0.1
            """
        )
    )
    return root / "conf"


@pytest.mark.multiproc
@pytest.mark.slow
def test_a_task_reward_and_preset_outside_the_repository(tmp_path: Path, cache_dir: Path) -> None:
    """The worked example of docs/configuration.md ("Adding your own"): with nothing edited under src/, a task
    module, a reward file and a preset in a folder of the user's train 2 steps on 2 processes, and
    ``exp/evaluate.py`` scores the run with the task's own correctness reward and answer key."""
    conf = user_folder(tmp_path / "mine")
    run_dir = tmp_path / "run"
    search = f"hydra.searchpath=[file://{conf}]"
    overrides = [*FAST, "training.per_device_train_batch_size=8", search, "experiment=sum3", f"hydra.run.dir={run_dir}"]
    proc = run_accelerate(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "loss" in r]
    assert len(train) == 2
    for row in train:  # the task's reward and the file's reward scored every step
        for name in ("sum_exact", "brevity"):
            assert 0.0 <= row[f"rewards/{name}/mean"] <= 1.0, row
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["exp_name"] == "sum3" and summary["environment"]["num_processes"] == 2
    assert summary["eval_after"]["unscored"] == 0  # held-out rows judged by the task's correctness reward
    # the evaluation script reads the run's config (plugins and reward references included) the same way
    ev = subprocess.run(
        [sys.executable, str(ROOT / "exp/evaluate.py"), f"run_dir={run_dir}", "eval.n_samples=2", "eval.k_values=[1,2]"],
        cwd=ROOT,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ev.returncode == 0, ev.stdout[-3000:] + ev.stderr[-3000:]
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    (entry,) = report["results"]
    assert report["n_problems"] == 16 and set(entry["per_task"]) == {"sum3"}
    assert 0.0 <= report["metrics"]["maj@2"] <= report["metrics"]["pass@2"] <= 1.0


def test_a_reward_by_module_path_is_called_as_trl_calls_rewards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "my_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "scores.py").write_text(
        "def length_at_most(completions, limit, **kwargs):\n    return [float(len(c) <= limit) for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = compose(["rewards.funcs=[{name:'my_pkg.scores:length_at_most',kwargs:{limit:2}}]"])
    spec = cfg.rewards.funcs[0]
    reward = build_reward(spec.name, spec.kwargs)
    assert reward.__name__ == "length_at_most"
    assert reward(completions=["12", "123"], prompts=["a", "b"], task=["math", "math"]) == [1.0, 0.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["plugins=[{root}/nope.py]"], "plugins[0]={root}/nope.py: no such file"),
        (["plugins=[no_such_pkg_for_rlvr]"], "plugins[0]=no_such_pkg_for_rlvr: no module named 'no_such_pkg_for_rlvr'"),
        (["plugins=[{root}/broken.py]"], "plugins[0]={root}/broken.py: importing it failed: ZeroDivisionError"),
        (
            ["rewards.funcs=[{{name:'{root}/my_rewards.py:nothere'}}]"],
            "rewards.funcs[0].name={root}/my_rewards.py:nothere: {root}/my_rewards.py has no 'nothere'",
        ),
        (
            ["dataset.generator={root}/my_rewards.py:no_rows"],
            "dataset.generator={root}/my_rewards.py:no_rows: {root}/my_rewards.py has no 'no_rows'",
        ),
        (["experiment=sum3"], "experiment=sum3: not an option of experiment"),
    ],
)
def test_bad_references_are_one_line_naming_the_key(overrides: list[str], message: str, tmp_path: Path) -> None:
    user_folder(tmp_path)
    (tmp_path / "broken.py").write_text("1 / 0\n")
    with pytest.raises(UserError) as err:
        compose([o.format(root=tmp_path) for o in overrides])
    assert message.format(root=tmp_path) in str(err.value)
    assert "\n" not in str(err.value)
