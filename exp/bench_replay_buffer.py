"""Benchmark the prompt-level replay buffer: sample(512) and update(4096 x K=8) vs capacity.

    uv run python exp/bench_replay_buffer.py                      # 1e4, 1e5, 1e6
    uv run python exp/bench_replay_buffer.py --capacities 10000 --repeats 5

For each capacity the buffer is filled to capacity (admit in batches of --fill-batch with
random 0/1 rewards, so priorities vary), then each operation is timed --repeats times and
the median (and min) reported. Prints a markdown table and writes it to --out.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from rlvr.replay import ReplayBuffer


def fill(buf: ReplayBuffer, n: int, k: int, batch: int, rng: np.random.Generator) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        rows = [{"prompt": f"problem {i}: compute {i} * 7 + 3", "solution": str(i * 7 + 3)} for i in range(start, stop)]
        p = rng.random(stop - start)[:, None]
        rewards = (rng.random((stop - start, k)) < p).astype(np.float64)
        buf.admit(rows, rewards, step=0)
    return time.perf_counter() - t0


def timeit(fn, repeats: int) -> tuple[float, float]:
    """(median, min) wall time of ``fn()`` in ms."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def bench_one(capacity: int, sampling: str, args: argparse.Namespace, rng: np.random.Generator) -> dict[str, Any]:
    buf = ReplayBuffer(capacity=capacity, sampling=sampling, seed=0)
    out: dict[str, Any] = {f"fill_{sampling}_s": fill(buf, capacity, args.k, args.fill_batch, rng)}
    assert len(buf) == capacity, (len(buf), capacity)
    keys = buf.keys()
    excl = set(keys[: args.exclude])
    out[f"sample_{sampling}"] = timeit(lambda: buf.sample(args.sample_k), args.repeats)
    out[f"sample_excl_{sampling}"] = timeit(lambda: buf.sample(args.sample_k, exclude_keys=excl), args.repeats)
    if sampling != "ucb":
        return out
    n_up = min(args.update_n, capacity)
    batches = []  # prepared outside the timed region
    for _ in range(args.repeats):
        idx = rng.choice(len(keys), size=n_up, replace=False)
        batches.append(([keys[i] for i in idx], (rng.random((n_up, args.k)) < 0.5).astype(np.float64)))
    times = []
    for step, (ks, rewards) in enumerate(batches, start=1):
        t0 = time.perf_counter()
        merged = buf.update(ks, rewards, step=step)
        times.append(time.perf_counter() - t0)
        assert merged == n_up
    out["update"] = (statistics.median(times) * 1e3, min(times) * 1e3)
    # admit(sample_k new prompts) into the full buffer: priorities, eviction choice, inserts.
    times = []
    for r in range(args.repeats):
        base = capacity + r * args.sample_k
        rows = [{"prompt": f"new problem {i}", "solution": str(i)} for i in range(base, base + args.sample_k)]
        rewards = (rng.random((args.sample_k, args.k)) < 0.5).astype(np.float64)
        t0 = time.perf_counter()
        buf.admit(rows, rewards, step=100 + r)
        times.append(time.perf_counter() - t0)
    out["admit"] = (statistics.median(times) * 1e3, min(times) * 1e3)
    out["digest"] = timeit(buf.digest, 3)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = buf.save(Path(tmp) / "replay.pkl")
        out["save_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = ReplayBuffer.load(path)
        out["load_s"] = time.perf_counter() - t0
        out["file_mb"] = path.stat().st_size / 2**20
        assert loaded.digest() == buf.digest()
    logger.info(f"capacity={capacity:,} sampling={sampling}: filled in {out[f'fill_{sampling}_s']:.1f}s")
    return out


def bench(capacity: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"capacity": capacity}
    for sampling in ("ucb", "proportional"):
        out.update(bench_one(capacity, sampling, args, rng))
    return out


def cell(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} ({pair[1]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capacities", type=lambda s: [int(float(x)) for x in s.split(",")], default=[10**4, 10**5, 10**6])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--sample-k", type=int, default=512)
    ap.add_argument("--update-n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=8, help="rewards per group")
    ap.add_argument("--exclude", type=int, default=512, help="keys excluded in the sample_excl timing")
    ap.add_argument("--fill-batch", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=Path("bench/results/replay_buffer.md"))
    args = ap.parse_args()

    results = [bench(c, args) for c in args.capacities]
    header = (
        f"| capacity | sample({args.sample_k}) ucb | sample({args.sample_k}) proportional "
        f"| sample ucb, {args.exclude} excluded | sample prop., {args.exclude} excluded "
        f"| update({args.update_n}x{args.k}) | admit({args.sample_k}) full | digest "
        "| save s | load s | file MiB | fill s |"
    )
    lines = [header, "|" + "---:|" * 12]
    for r in results:
        lines.append(
            f"| {r['capacity']:,} | {cell(r['sample_ucb'])} | {cell(r['sample_proportional'])} "
            f"| {cell(r['sample_excl_ucb'])} | {cell(r['sample_excl_proportional'])} | {cell(r['update'])} "
            f"| {cell(r['admit'])} | {cell(r['digest'])} | {r['save_s']:.2f} | {r['load_s']:.2f} "
            f"| {r['file_mb']:.1f} | {r['fill_ucb_s']:.1f} |"
        )
    table = "\n".join(lines)
    report = (
        "# Replay buffer micro-benchmark\n\n"
        f"`uv run python exp/bench_replay_buffer.py --capacities {','.join(str(c) for c in args.capacities)}` "
        f"(milliseconds, median (min) of {args.repeats} repeats; buffer full, random 0/1 rewards, "
        f"K={args.k}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}).\n\n" + table + "\n"
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    logger.info(f"wrote {args.out}")


if __name__ == "__main__":
    main()
