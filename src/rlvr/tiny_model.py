"""The tiny offline model: a character-level tokenizer and a ~1M-parameter Qwen3 model.

Both are built by our own code (no hub access), warm-started by a short supervised phase on
the arithmetic task so that GRPO starts from non-zero reward, and cached on disk under a key
derived from every setting that changes the result. A second run reuses the cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch as th
from loguru import logger
from tokenizers import Tokenizer, decoders, models
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from rlvr.config.model import TinyModelSpec
from rlvr.evaluation.decoding import greedy_completions
from rlvr.tasks.arith import generate_arith

PAD, UNK, IM_START, IM_END = "<|endoftext|>", "<unk>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, UNK, IM_START, IM_END]
CHARS = ["\n"] + [chr(c) for c in range(32, 127)]
# ChatML, the format Qwen models use, so the same prompts work for the tiny and the hub models.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)
CACHE_VERSION = 2  # bump when the build recipe changes in a way the key does not capture


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer over printable ASCII, with ChatML special tokens."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + CHARS)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.add_special_tokens(SPECIAL_TOKENS)
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        eos_token=IM_END,
        bos_token=None,
        additional_special_tokens=[IM_START, IM_END],
        model_max_length=10_000,
        padding_side="left",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(spec: TinyModelSpec, tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    """A randomly initialised Qwen3 model of roughly 1M parameters (seeded)."""
    th.manual_seed(spec.seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.head_dim,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, do_sample=False
    )
    return model


def format_prompt(problem: str, system_prompt: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": problem}]


def scratchpad(problem: str) -> str:
    """Column-by-column working of an addition, least significant digit first, with carries:
    ``47+38`` -> ``7+8=15,4+3+1=8``. Other problems: ``<problem>=<value>`` is not known here, so the problem."""
    if "+" not in problem or not all(part.isdigit() for part in problem.split("+")):
        return problem
    a, b = problem.split("+")
    width = max(len(a), len(b))
    a, b = a.zfill(width), b.zfill(width)
    steps, carry = [], 0
    for x, y in zip(reversed(a), reversed(b), strict=True):
        total = int(x) + int(y) + carry
        steps.append(f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}")
        carry = total // 10
    return ",".join(steps)


def target_text(row: dict, warmup_format: str) -> str:
    """What the warm start teaches the model to write for ``row`` (EOS excluded)."""
    answer = f"\\boxed{{{row['answer']}}}"
    if warmup_format == "think":
        return f"<think>{scratchpad(row['problem'])}</think>{answer}"
    return answer


def _encode_pairs(
    tokenizer: PreTrainedTokenizerFast, rows: list[dict], system_prompt: str, warmup_format: str = "answer"
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """Left-padded prompt+answer ids, attention mask, and labels that cover only the answer."""
    seqs, label_starts = [], []
    for row in rows:
        prompt = tokenizer.apply_chat_template(
            format_prompt(row["problem"], system_prompt), add_generation_prompt=True, tokenize=False
        )
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tokenizer(target_text(row, warmup_format) + IM_END, add_special_tokens=False)["input_ids"]
        seqs.append(p_ids + a_ids)
        label_starts.append(len(p_ids))
    width = max(len(s) for s in seqs)
    ids = th.full((len(seqs), width), tokenizer.pad_token_id, dtype=th.long)
    mask = th.zeros_like(ids)
    labels = th.full_like(ids, -100)
    for i, (s, start) in enumerate(zip(seqs, label_starts, strict=True)):
        off = width - len(s)
        ids[i, off:] = th.tensor(s)
        mask[i, off:] = 1
        labels[i, off + start :] = th.tensor(s[start:])
    return ids, mask, labels


def warm_start(model: Qwen3ForCausalLM, tokenizer: PreTrainedTokenizerFast, spec: TinyModelSpec) -> dict:
    """Supervised warm start on arithmetic answers; returns its training statistics."""
    rows, probe = generate_arith(spec.warmup_samples, 200, spec.warmup_levels, seed=spec.seed + 10_000)
    rng = random.Random(spec.seed)
    opt = th.optim.AdamW(model.parameters(), lr=spec.warmup_lr, weight_decay=0.0)
    model.train()
    start, losses, accuracy, steps, curve = time.time(), [], None, 0, []
    for step in range(spec.warmup_steps):
        lr = spec.warmup_lr * 0.5 * (1 + math.cos(math.pi * step / max(1, spec.warmup_steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        batch = rng.sample(rows, spec.warmup_batch_size)
        ids, mask, labels = _encode_pairs(tokenizer, batch, spec.system_prompt, spec.warmup_format)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        steps = step + 1
        if spec.warmup_target_accuracy > 0 and steps % spec.warmup_eval_every == 0:
            accuracy = probe_accuracy(model, tokenizer, probe, spec.system_prompt, spec.warmup_format)
            model.train()
            curve.append([steps, round(loss.item(), 4), accuracy])
            logger.debug(f"tiny warm start: step {steps} loss {loss.item():.3f} probe accuracy {accuracy:.3f}")
            if accuracy >= spec.warmup_target_accuracy:
                break
    model.eval()
    if accuracy is not None:  # one console line; every probe is kept in rlvr_tiny.json (probe_curve)
        logger.info(
            f"tiny warm start: probe accuracy {accuracy:.3f} at step {steps} "
            f"(target {spec.warmup_target_accuracy}, probed every {spec.warmup_eval_every} steps)"
        )
    return {
        "warmup_seconds": round(time.time() - start, 1),
        "warmup_steps_done": steps,
        "probe_accuracy": accuracy,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        "probe_curve": curve,  # [step, loss, probe accuracy] at every probe
    }


def probe_accuracy(
    model: Qwen3ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    rows: list[dict],
    system_prompt: str | None,
    warmup_format: str = "answer",
) -> float:
    """Greedy exact-match accuracy (the final ``\\boxed{answer}``, after the thinking block if any) on ``rows``."""
    prompts = [format_prompt(r["problem"], system_prompt) for r in rows]
    max_new = 12 if warmup_format == "answer" else 12 + len(target_text(rows[0], "think")) * 2
    texts, _ = greedy_completions(model, tokenizer, prompts, max_new_tokens=max_new, batch_size=100)
    hits = sum(
        t.strip().rsplit("</think>", 1)[-1] == f"\\boxed{{{r['answer']}}}" for t, r in zip(texts, rows, strict=True)
    )
    return hits / max(1, len(rows))


def cache_key(spec: TinyModelSpec) -> str:
    fields = asdict(spec)
    if fields.get("warmup_format") == "answer":  # the default: keys of models built before the option stay valid
        del fields["warmup_format"]
    blob = json.dumps({"spec": fields, "version": CACHE_VERSION, "torch": th.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def ensure_tiny_model(spec: TinyModelSpec, cache_dir: str | Path) -> Path:
    """Return the directory of the cached tiny model, building and warm-starting it if absent.

    The directory is written under a temporary name and renamed when complete, so an
    interrupted build never leaves a half-written model that a later run would trust. Processes
    that need the same model at once (the ranks of a launch, a job array, parallel tests) take
    turns on a lock file beside it: one builds, the others wait and then read the cache.
    """
    target = Path(cache_dir).expanduser() / f"tiny-{cache_key(spec)}"
    if (target / "rlvr_tiny.json").exists():
        logger.info(f"tiny model: using cached {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f"{target.name}.lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info(f"tiny model: another process is building {target}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "rlvr_tiny.json").exists():
            logger.info(f"tiny model: using cached {target}")
            return target
        return _build_tiny_model(spec, target)


def _build_tiny_model(spec: TinyModelSpec, target: Path) -> Path:
    logger.info(f"tiny model: building into {target} (first use only)")
    with th.random.fork_rng():
        tokenizer = build_tokenizer()
        model = build_model(spec, tokenizer)
        n_params = sum(p.numel() for p in model.parameters())
        logger.info(f"tiny model: {n_params / 1e6:.2f}M parameters, warm start for {spec.warmup_steps} steps")
        stats = warm_start(model, tokenizer, spec)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "rlvr_tiny.json").write_text(json.dumps({"spec": asdict(spec), "params": n_params, **stats}, indent=2))
    try:
        tmp.rename(target)
    except OSError:  # another process finished the same build first (a file system without flock): identical
        if not (target / "rlvr_tiny.json").exists():
            raise
    logger.info(f"tiny model: built in {stats['warmup_seconds']} s, final loss {stats['final_loss']:.3f}")
    return target
