"""Benchmark the reasoning vocabulary on the offline thinking task: baseline vs extended vocabulary, same seeds.

    uv run python exp/bench_reasoning_vocab.py                       # 3 seeds, the presets' budget
    uv run python exp/bench_reasoning_vocab.py --steps 10 --seeds 1  # a quick smoke run

Each (arm, seed) is one run of the real CLI, ``exp/grpo_train.py``: ``experiment=reasoning_vocab_tiny_baseline``
and ``experiment=reasoning_vocab_tiny`` (conf/experiment/), with ``seed=<s>`` and the same ``--overrides``. Runs land
in ``--out-dir/<steps<N>|preset>/<arm>/seed<s>/`` and are reused when their ``summary.json`` exists (``--force``
reruns). The report (``--report``) is ``rlvr.sweeps``' comparison of the runs, as ``exp/report.py`` writes it
(held-out greedy accuracy, gain, tokens, wall; mean ± std per arm, per seed, deltas against the baseline; CSV and
curves in ``<report>_files/``), with the reasoning-token usage at the last step (share of thinking tokens that are copies, distinct copies used, copies
outside thinking), and ``exp/analyze_reasoning_vocab.py``'s figures for seed 0 (written to ``--figures``).

    uv run python exp/bench_reasoning_vocab.py --overhead   # the thinking mask's cost in generate, side by side

``--overhead`` times transformers ``generate`` of the thinking-task tiny model, extended by a copy of every token,
with and without ``ThinkingLogitsProcessor`` (the same prompts, seed and length; sampled; best of 3), and prints
the ratio. It then times one forward + backward of the completions' log-probs both ways, on the sequences the
masked ``generate`` produced: TRL's fused LM head (full softmax) and the masked path the trainer uses with a
reasoning vocabulary (``rlvr.trainers.restricted_logps``, the thinking tracker's pass over the rows included).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

from loguru import logger

from rlvr.cli_runner import ROOT, run_script
from rlvr.sweeps.report import ReportSpec, write_report

ARMS = {"baseline": "reasoning_vocab_tiny_baseline", "reasoning_vocab": "reasoning_vocab_tiny"}
USAGE = ("reasoning_vocab/share_in_thinking", "reasoning_vocab/distinct_ids", "reasoning_vocab/outside_count")


def run_one(arm: str, seed: int, args: argparse.Namespace) -> Path:
    budget = f"steps{args.steps}" if args.steps is not None else "preset"
    run_dir = args.out_dir / budget / arm / f"seed{seed}"
    summary_path = run_dir / "summary.json"
    if summary_path.exists() and not args.force:
        logger.info(f"{arm} seed {seed}: reusing {summary_path}")
        return run_dir
    overrides = [
        f"experiment={ARMS[arm]}",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        "print_config=none",
        *([f"training.max_steps={args.steps}"] if args.steps is not None else []),
        *args.overrides,
    ]
    logger.info(f"{arm} seed {seed}: exp/grpo_train.py {' '.join(overrides)}")
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a rerun starts clean (no resume from a half-finished benchmark run)
    run_dir.mkdir(parents=True)
    t0 = time.time()
    proc = run_script(overrides, merge_output=True)
    (run_dir / "bench_stdout.log").write_text(proc.stdout)
    if proc.returncode != 0 or not summary_path.exists():
        raise SystemExit(f"{arm} seed {seed} failed (exit {proc.returncode}); last output:\n{proc.stdout[-2000:]}")
    summary = json.loads(summary_path.read_text())
    logger.info(f"{arm} seed {seed}: accuracy {summary['accuracy_before']} -> {summary['accuracy_after']} "
                f"in {time.time() - t0:.0f} s")  # fmt: skip
    return run_dir


def report(run_dirs: list[Path], args: argparse.Namespace, figures: Path | None) -> str:
    """The benchmark's header, then ``rlvr.sweeps``' comparison of its runs (the same as ``exp/report.py``) with
    the reasoning-token usage of the last training step as extra columns; files in ``<report>_files/``."""
    compared = write_report(
        ReportSpec(
            paths=[str(d) for d in run_dirs],
            out=args.report.parent / f"{args.report.stem}_files",
            baseline=f"experiment={ARMS['baseline']}",
            metrics=list(USAGE),
            curves=["eval/accuracy", "reward"],
        )
    )
    cmd = " ".join(["uv run python exp/bench_reasoning_vocab.py", *sys.argv[1:]])
    budget = f"training.max_steps={args.steps}" if args.steps is not None else "the presets' training.max_steps"
    text = (
        "# Reasoning vocabulary on the offline thinking task\n\n"
        f"`{cmd}`: `experiment=reasoning_vocab_tiny_baseline` vs `experiment=reasoning_vocab_tiny`, {budget}, "
        f"seeds {', '.join(map(str, args.seed_list))}"
        + (f", overrides `{' '.join(args.overrides)}`" if args.overrides else "")
        + ". Accuracy: greedy held-out accuracy (summary.json); usage (`reasoning_vocab/*`): its value at the last "
        f"training step in metrics.jsonl; {platform.machine()}, {platform.system()}.\n\n"
        + compared.body_for(args.report)
    )
    if figures is not None:
        text += f"\nSeed 0, `exp/analyze_reasoning_vocab.py` (report and PNGs in `{figures}`):\n\n"
        text += (figures / "report.md").read_text().split("\n", 2)[2]
    return text


def overhead(batch: int = 64, new_tokens: int = 48, repeats: int = 3) -> str:
    """Seconds per ``generate`` call with and without the thinking mask, measured side by side."""
    import os

    import torch as th
    from transformers import AutoModelForCausalLM, LogitsProcessorList

    from rlvr.config.model import ReasoningVocabConfig, TinyModelSpec
    from rlvr.tasks.arith import generate_arith
    from rlvr.tiny_model import build_tokenizer, ensure_tiny_model, format_prompt
    from rlvr.vocab import ThinkingLogitsProcessor, build_token_map, extend_model

    path = ensure_tiny_model(
        TinyModelSpec(warmup_format="think"), os.environ.get("RLVR_CACHE_DIR") or ROOT / ".cache/rlvr"
    )
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = build_tokenizer()
    tm = build_token_map(ReasoningVocabConfig(size=-1, init="all"), model.get_input_embeddings().weight.shape[0], tok)
    extend_model(model, tm)
    rows, _ = generate_arith(batch, 0, ["2+2"], seed=1)
    texts = [tok.apply_chat_template(format_prompt(r["problem"], None), add_generation_prompt=True, tokenize=False)
             for r in rows]  # fmt: skip
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    times: dict[str, float] = {}
    for name, procs in (("plain", []), ("thinking mask", [ThinkingLogitsProcessor(tm, tok)])):
        best = float("inf")
        for _ in range(repeats):
            th.manual_seed(0)
            t0 = time.perf_counter()
            with th.no_grad():
                model.generate(**enc, do_sample=True, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                               pad_token_id=tok.pad_token_id, logits_processor=LogitsProcessorList(procs))  # fmt: skip
            best = min(best, time.perf_counter() - t0)
        times[name] = best
        if procs:
            th.manual_seed(0)
            with th.no_grad():
                seqs = model.generate(**enc, do_sample=True, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                      pad_token_id=tok.pad_token_id, logits_processor=LogitsProcessorList(procs))  # fmt: skip
    ratio = times["thinking mask"] / times["plain"]
    lines = [
        f"generate, tiny think model + 100 copies, batch {batch}, {new_tokens} new tokens, best of {repeats}: "
        f"plain {times['plain']:.3f} s, thinking mask {times['thinking mask']:.3f} s, ratio {ratio:.2f}x"
    ]
    lines.append(logprob_overhead(model, tok, tm, seqs, enc["attention_mask"], new_tokens, repeats))
    return "\n".join(lines)


def logprob_overhead(model, tok, tm, seqs, prompt_mask, k: int, repeats: int) -> str:  # noqa: ANN001
    """Seconds per forward + backward of the completion log-probs: TRL's fused head vs the masked path."""
    import torch as th
    from trl.trainer.utils import add_fused_lm_head

    from rlvr.trainers.restricted_logps import add_restricted_lm_head
    from rlvr.vocab import ThinkingLogitsProcessor
    from rlvr.vocab.restriction import allowed_table, thinking_restriction

    add_fused_lm_head(model, outputs=("log_probs", "entropy"))
    add_restricted_lm_head(model)
    model.train()
    mask = th.cat([prompt_mask, th.ones(seqs.size(0), k, dtype=prompt_mask.dtype)], dim=1)
    proc = ThinkingLogitsProcessor(tm, tok)
    table = allowed_table(tm, proc.closing)

    def fused() -> None:
        labels = seqs.masked_fill(mask == 0, -100)
        labels[:, :-k] = -100
        model(input_ids=seqs, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs.sum().backward()

    def masked() -> None:
        r = thinking_restriction(tm, proc.tracker, table, seqs, mask, k)
        model(input_ids=seqs, attention_mask=mask, token_restriction=r).log_probs.sum().backward()

    times = {}
    for name, fn in (("fused (unmasked)", fused), ("masked", masked)):
        best = float("inf")
        for _ in range(repeats):
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    a, b = times["fused (unmasked)"], times["masked"]
    return (
        f"log-probs forward + backward, batch {seqs.size(0)}, {k} completion tokens, best of {repeats}: "
        f"TRL fused head {a:.3f} s, masked path {b:.3f} s, ratio {b / a:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    ap.add_argument("--steps", type=int, default=None, help="training.max_steps (default: the presets')")
    ap.add_argument("--overrides", nargs="*", default=[], help="Hydra overrides for every run")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "bench/results/reasoning_vocab")
    ap.add_argument("--report", type=Path, default=ROOT / "bench/results/reasoning_vocab.md")
    ap.add_argument("--figures", type=Path, default=None, help="where seed 0's analysis goes (default: its run dir)")
    ap.add_argument("--force", action="store_true", help="rerun even when a run's summary.json exists")
    ap.add_argument("--overhead", action="store_true", help="only time generate with and without the thinking mask")
    args = ap.parse_args()
    if args.overhead:
        print(overhead())
        return
    args.seed_list = list(range(args.seeds))

    results: dict[str, list[Path]] = {arm: [] for arm in ARMS}
    for seed in args.seed_list:  # seeds outermost: a partial benchmark still compares the arms
        for arm in ARMS:
            results[arm].append(run_one(arm, seed, args))
    figures = None
    if args.seed_list and args.seed_list[0] == 0:
        vocab_dir, base_dir = results["reasoning_vocab"][0], results["baseline"][0]
        figures = args.figures or vocab_dir / "analysis"
        proc = run_script(
            [str(vocab_dir), "--baseline", str(base_dir), "--out", str(figures)],
            script="exp/analyze_reasoning_vocab.py",
            merge_output=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"analysis failed:\n{proc.stdout[-2000:]}")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    text = report([d for seed_dirs in zip(*results.values(), strict=True) for d in seed_dirs], args, figures)
    print(text)
    args.report.write_text(text)
    logger.info(f"wrote {args.report}")


if __name__ == "__main__":
    main()
