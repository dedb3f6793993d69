"""Compare runs offline: `uv run python exp/report.py PATH... [--baseline GROUP] [--metric KEY] [--out DIR]`.

PATH is a run directory, a multirun directory (local `multirun/<exp>/<time>/` or a SLURM sweep's), or a glob of
either. Every run found is marked complete, preempted, running or stopped; only complete runs enter the numbers.
Runs are grouped by the overrides that differ between them, the seed aside (or by config keys: `--by replay.name`),
and seeds are paired across groups. Prints the table and writes report.md, results.csv (one row per run) and
curve PNGs (`--curve METRIC`, against `--x tokens|step`) into `--out` (default: PATH/report for one PATH).

  uv run python exp/grpo_train.py -m seed=0,1,2 replay=none,ucb
  uv run python exp/report.py multirun/default/<time> --baseline replay=none --metric frac_reward_zero_std@mean
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from loguru import logger

from rlvr.errors import UserError
from rlvr.sweeps.report import ReportSpec, write_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run dirs, multirun dirs or globs (quote globs)")
    parser.add_argument("--by", nargs="+", default=[], metavar="KEY", help="group by these dotted config keys")
    parser.add_argument("--baseline", help="the group the others are compared with, per seed (e.g. replay=none)")
    parser.add_argument(
        "--metric",
        nargs="+",
        default=[],
        metavar="KEY",
        help="more columns: a summary.json key (dotted), a "
        "metrics.jsonl key (its last value) or KEY@mean (its mean over the run), e.g. frac_reward_zero_std@mean "
        "replay.prompts.skipped_total",
    )
    parser.add_argument(
        "--curve",
        nargs="+",
        default=["eval/accuracy", "reward"],
        metavar="KEY",
        help="metrics.jsonl keys drawn against --x (default: eval/accuracy reward)",
    )
    parser.add_argument("--x", choices=["tokens", "step"], default="tokens", help="x axis of the curves")
    parser.add_argument("--smooth", type=int, default=1, help="running mean over this many logged points")
    parser.add_argument(
        "--stale-minutes",
        type=float,
        default=30.0,
        help="a run without summary.json that changed within this many minutes counts as running",
    )
    parser.add_argument("--out", type=Path, help="where the files go (default: PATH/report for one PATH)")
    parser.add_argument("--title", default="Runs compared")
    args = parser.parse_args()

    out = args.out
    if out is None:
        if len(args.paths) != 1 or not Path(args.paths[0]).is_dir():
            parser.error("--out is needed with several PATHs or a glob")
        out = Path(args.paths[0]) / "report"
    spec = ReportSpec(
        paths=args.paths,
        out=out,
        by=args.by,
        baseline=args.baseline,
        metrics=args.metric,
        curves=args.curve,
        x=args.x,
        smooth=args.smooth,
        stale_minutes=args.stale_minutes,
        title=args.title,
        command=shlex.join(["uv", "run", "python", "exp/report.py", *sys.argv[1:]]),
    )
    try:
        report = write_report(spec)
    except UserError as err:
        logger.error(f"error: {err}")
        return 2
    print(report.markdown)
    logger.info(f"wrote {', '.join(str(f) for f in report.files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
