"""A user's own rewards and presets without editing ``src/``: a plugin module that registers a reward, a reward
named by file path, a preset in a config folder outside the repository (``hydra.searchpath``), used by a real
training run and by ``exp/evaluate.py``; and the one-line errors of bad references (``rlvr.plugins``)."""

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
from tests.helpers.cli import FAST, ROOT, cli_env, run_cli

REWARD_FILE = '''
def brevity(completions, **kwargs):
    """1 for a completion of at most 4 characters, else 0."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [1.0 if len(t.strip()) <= 4 else 0.0 for t in texts]
'''
PLUGIN_FILE = """
from rlvr.rewards import register


@register("digits_only")
def digits_only():
    def reward(completions, **kwargs):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [1.0 if t.strip().isdigit() else 0.0 for t in texts]

    return reward
"""


def user_folder(root: Path) -> Path:
    """What a user keeps outside the repository: a plugin, a reward file and conf/experiment/my_preset.yaml."""
    (root / "conf/experiment").mkdir(parents=True)
    (root / "my_rewards.py").write_text(REWARD_FILE)
    (root / "my_plugin.py").write_text(PLUGIN_FILE)
    (root / "conf/experiment/my_preset.yaml").write_text(
        textwrap.dedent(
            f"""\
            # @package _global_
            exp_name: my_preset
            plugins: [{root / "my_plugin.py"}]
            rewards:
              funcs:
                - name: accuracy
                - name: {root / "my_rewards.py"}:brevity
                  weight: 0.1
                - name: digits_only
                  weight: 0.1
            """
        )
    )
    return root / "conf"


@pytest.mark.slow
def test_a_preset_plugin_and_reward_file_outside_the_repository(tmp_path: Path, cache_dir: Path) -> None:
    conf = user_folder(tmp_path / "mine")
    run_dir = tmp_path / "run"
    search = f"hydra.searchpath=[file://{conf}]"
    proc = run_cli([*FAST, search, "experiment=my_preset", f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "loss" in r]
    assert len(train) == 2
    for row in train:  # both user rewards scored every step, next to the built-in one
        for name in ("accuracy", "brevity", "digits_only"):
            assert 0.0 <= row[f"rewards/{name}/mean"] <= 1.0, row
    assert json.loads((run_dir / "summary.json").read_text())["exp_name"] == "my_preset"
    # the evaluation script reads the run's config (plugins and reward references included) the same way
    ev = subprocess.run(
        [sys.executable, str(ROOT / "exp/evaluate.py"), f"run_dir={run_dir}", "eval.n_samples=0", "eval.max_samples=8"],
        cwd=ROOT,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ev.returncode == 0, ev.stdout[-3000:] + ev.stderr[-3000:]
    assert json.loads((run_dir / "eval" / "eval.json").read_text())


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
        (["experiment=my_preset"], "experiment=my_preset: not an option of experiment"),
    ],
)
def test_bad_references_are_one_line_naming_the_key(overrides: list[str], message: str, tmp_path: Path) -> None:
    user_folder(tmp_path)
    (tmp_path / "broken.py").write_text("1 / 0\n")
    with pytest.raises(UserError) as err:
        compose([o.format(root=tmp_path) for o in overrides])
    assert message.format(root=tmp_path) in str(err.value)
    assert "\n" not in str(err.value)
