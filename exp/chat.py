"""Ask a trained model questions: `uv run python exp/chat.py MODEL_DIR ["question" ...]`.

MODEL_DIR is a run directory, a checkpoint or an exported / saved model (LoRA adapters load on their base). With
questions, prints one answer per line; without, reads questions from stdin until an empty line or EOF. Greedy
unless `--temperature` > 0. A bad path prints one line and exits with status 2. See rlvr.api.quick_test.
"""

from __future__ import annotations

import argparse
import sys

from loguru import logger

from rlvr.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="run directory, checkpoint or saved model")
    parser.add_argument("question", nargs="*", help="questions (none: an interactive loop)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--system", default=None, help="a system prompt")
    args = parser.parse_args(argv)
    from rlvr.api import load_for_chat, quick_test, resolve_model_dir
    from rlvr.vocab.token_map import TokenMap

    try:
        model, tokenizer = load_for_chat(args.model_dir)
        token_map = TokenMap.load(resolve_model_dir(args.model_dir))  # a reasoning-vocabulary model samples masked
    except UserError as err:
        logger.error(f"error: {err}")
        return 2
    ask = dict(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        tokenizer=tokenizer,
        system_prompt=args.system,
        token_map=token_map,
    )
    if args.question:
        for answer in quick_test(model, list(args.question), **ask):
            print(answer)
        return 0
    interactive = sys.stdin.isatty()
    while True:
        try:
            question = input("> " if interactive else "")
        except EOFError:
            break
        if not question.strip():
            break
        print(quick_test(model, question, **ask), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
