"""The log-probabilities and entropies TRL computes on a GPU come from its Triton kernels
(``trl/kernels/chunked_logprob.py``), which a CPU run never executes. Triton's interpreter
(``TRITON_INTERPRET=1``) runs those kernels on CPU tensors, so this test checks, on this machine, that the
GPU path's values and gradients equal TRL's torch path and a plain ``log_softmax`` (a TRL upgrade that
changes the kernels is caught here, not on a GPU). The interpreter is chosen when Triton decorates the
kernels, at import, hence the subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import torch as th
    import trl.kernels.chunked_logprob as ck

    th.manual_seed(0)
    n, h, v, temperature = 300, 64, 100, 0.7   # vocabulary of the tiny model; chunk 32 < v: several tiles
    hidden, weight = th.randn(n, h), 0.3 * th.randn(v, h)
    targets, g_logp, g_ent = th.randint(0, v, (n,)), th.randn(n), th.randn(n)

    def run(fn):
        hh, ww = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        logp, ent = fn(hh, ww)
        (logp * g_logp + ent * g_ent).sum().backward()
        return [logp.detach(), ent.detach(), hh.grad, ww.grad]

    def chunked(triton):
        def fn(hh, ww):
            ck._use_triton = lambda device: triton
            logp, ent, *_ = ck.ChunkedLogProbFunction.apply(hh, ww, None, targets, temperature, 32, None, 1.0, ("entropy",))
            return logp, ent
        return fn

    def plain(hh, ww):
        logps = ((hh @ ww.t()) / temperature).log_softmax(-1)
        return logps.gather(-1, targets[:, None]).squeeze(-1), -(logps.exp() * logps).sum(-1)

    kernel, torch_path, reference = run(chunked(True)), run(chunked(False)), run(plain)
    names = ["logp", "entropy", "grad_hidden", "grad_weight"]
    print(json.dumps({
        "vs_torch_path": {k: float((a - b).abs().max()) for k, a, b in zip(names, kernel, torch_path)},
        "vs_log_softmax": {k: float((a - b).abs().max()) for k, a, b in zip(names, kernel, reference)},
        "scale": {k: float(a.abs().max()) for k, a in zip(names, reference)},
    }))
    """
)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (Linux x86 only)")
def test_trl_gpu_logprob_kernels_match_the_cpu_path() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, scale in out["scale"].items():
        tol = 1e-5 * max(1.0, scale)
        assert out["vs_torch_path"][name] <= tol, (name, out)
        assert out["vs_log_softmax"][name] <= 10 * tol, (name, out)
