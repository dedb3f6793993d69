"""Make vLLM's CPU build reload weights in place, as its CUDA build does (tests/vllm/ only).

Put this folder on ``PYTHONPATH`` and Python imports this module at start-up. It changes nothing
until ``vllm.model_executor.layers.utils`` is imported, then replaces one function there.

Why: on CPU, vLLM (0.30-0.32) repacks every linear layer's weight for oneDNN / AMX after loading
(``dispatch_cpu_unquantized_gemm``) and replaces the parameter with an empty one, so a later
``model.load_weights(...)`` -- what TRL's colocate mode calls to push the trainer's weights after each
step -- fails with ``AttributeError: 'Parameter' object has no attribute 'weight_loader'`` (and the
tied ``lm_head`` would keep computing with its stale packed copy). On CUDA the weights stay plain
parameters. Here every 2-D weight stays a parameter and is applied with ``F.linear``: the path vLLM
itself takes for layers it does not repack (``skip_weight_relayout``), so reloaded weights are used
at once. Nothing else in vLLM changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

TARGET = "vllm.model_executor.layers.utils"


def _patch(module) -> None:
    import torch

    packing = module.dispatch_cpu_unquantized_gemm

    def dispatch_unpacked(layer, remove_weight: bool) -> None:
        weight = getattr(layer, "weight", None)
        if weight is None or weight.is_meta or weight.ndim != 2:
            return packing(layer, remove_weight)
        layer.cpu_linear = torch.nn.functional.linear
        return None

    module.dispatch_cpu_unquantized_gemm = dispatch_unpacked
    module.RLVR_CPU_WEIGHTS_UNPACKED = True


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if TARGET in sys.modules:
    _patch(sys.modules[TARGET])
else:
    sys.meta_path.insert(0, _PatchOnImport())
