"""Export a trained model: `uv run python exp/export.py RUN_DIR [--merge] [--out DIR] [--zip]`.

RUN_DIR is a run directory (its `model/`, else its newest complete checkpoint), a checkpoint or a saved model.
LoRA runs export the adapter (`--merge`: the base with the adapter merged in); full fine-tunes the model; always
the tokenizer with its chat template and a model card. `--out` defaults to `<RUN_DIR>/export` (`export-merged`).
A bad path prints one line and exits with status 2. See rlvr.api.export and docs/api.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loguru import logger

from rlvr.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="run directory, checkpoint or saved model")
    parser.add_argument("--out", help="output directory (default: <run_dir>/export or <run_dir>/export-merged)")
    parser.add_argument("--merge", action="store_true", help="merge a LoRA adapter into its base model")
    parser.add_argument("--zip", action="store_true", help="also write <out>.zip")
    args = parser.parse_args(argv)
    from rlvr.api import export

    out = Path(args.out) if args.out else Path(args.run_dir) / ("export-merged" if args.merge else "export")
    try:
        path = export(args.run_dir, out, merge=args.merge, zip=args.zip)
    except UserError as err:
        logger.error(f"error: {err}")
        return 2
    print(path)
    if args.zip:
        print(f"{path}.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
