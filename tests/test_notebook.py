"""``notebooks/quickstart.ipynb`` runs top to bottom in a real kernel of this environment, offline, on CPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers.cli import FAST, ROOT

NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
KERNEL = "rlvr-test-venv"


def install_kernel(where: Path) -> None:
    """A kernelspec for THIS interpreter under ``where`` (found through JUPYTER_PATH): no kernel needs to be
    installed on the machine, and a user's own ``python3`` kernel (another Python) is never picked."""
    from ipykernel.kernelspec import write_kernel_spec

    write_kernel_spec(str(where / "kernels" / KERNEL), overrides={"display_name": KERNEL})
    spec = json.loads((where / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable


def outputs_text(cell: dict) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))


def test_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_quickstart_notebook_executes(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_kernel(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("RLVR_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # the FAST tiny model (shared with the other tests) instead of the default one, which takes minutes to build
    fast = [o for o in FAST if o.startswith("model.tiny.")] + ["print_config=none"]
    monkeypatch.setenv("RLVR_NOTEBOOK_OVERRIDES", " ".join(fast))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(outputs_text(c) for c in code)
    run_dirs = list((tmp_path / "outputs" / "quickstart").iterdir())
    assert len(run_dirs) == 1  # the CLI's outputs/<exp_name>/<timestamp>/, relative to the notebook
    run_dir = run_dirs[0]
    assert (run_dir / "summary.json").exists() and (run_dir / ".hydra/config.yaml").exists()
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 10
    assert (run_dir / "export" / "model.safetensors").exists() and (run_dir / "export.zip").exists()
    assert "held-out accuracy" in text
    answers = [line for c in code for line in outputs_text(c).splitlines() if line.startswith("12+34 -> ")]
    assert len(answers) == 1 and len(answers[0]) > len("12+34 -> ")  # quick_test printed the model's text
    images = [o for o in code[-1].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the reward / accuracy plot
