"""A reasoning-vocabulary GRPO run through the real CLI: the thinking mask in TRL's rollouts, the token map in
``checkpoint-0``, every checkpoint and ``model/``, usage metrics, rewards and evaluation reading mapped text, the
reference model extended like the policy, resume, LoRA (the copies' rows trainable), and the one-line errors.

The tiny model never writes ``<think>`` on its own (the thinking variant of the task is what teaches it), so the
run's opening tag is ``assistant``: the chat template's generation prompt ends with it, and every completion
token is then sampled inside thinking, where with ``init=all`` each standard token and its reasoning copy have
the same logit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch as th

from tests.helpers.cli import FAST, run_cli

VOCAB = [
    "model.reasoning_vocab.size=-1",
    "model.reasoning_vocab.init=all",
    "model.reasoning_vocab.think_open=assistant",
]
# Length-shaped rewards give the barely trained tiny model's groups reward variance, hence a gradient.
SHAPED = ["rewards=math_length"]
RUN = [o for o in FAST if not o.startswith(("training.max_steps", "training.save_steps"))]


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def vocab_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """4 steps with a KL term (so TRL builds a reference model), checkpoints at 2 and 4, every step logged."""
    run_dir = tmp_path_factory.mktemp("rv") / "run"
    overrides = [*RUN, *VOCAB, "training.max_steps=4", "training.save_steps=2", "training.beta=0.04", *SHAPED]
    overrides += ["training.save_total_limit=1", f"hydra.run.dir={run_dir}"]
    proc = run_cli(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return run_dir


@pytest.mark.slow
def test_token_map_in_checkpoint_0_every_checkpoint_and_model(vocab_run: Path) -> None:
    maps = {}
    for name in ("checkpoint-0", "checkpoint-4", "model"):
        maps[name] = json.loads((vocab_run / name / "reasoning_token_map.json").read_text())
        assert json.loads((vocab_run / name / "config.json").read_text())["vocab_size"] == 200  # V + R
    assert maps["checkpoint-0"] == maps["checkpoint-4"] == maps["model"]
    tm = maps["model"]
    assert tm["base_vocab_size"] == 100 and tm["source_ids"] == list(range(100)) and tm["multiplicity"] == [1] * 100
    # save_total_limit=1 pruned checkpoint-2 but never checkpoint-0 (the initial model)
    assert not (vocab_run / "checkpoint-2").exists() and (vocab_run / "checkpoint-0" / "model.safetensors").exists()
    summary = json.loads((vocab_run / "summary.json").read_text())
    assert summary["reasoning_vocab"]["size"] == 100 and summary["steps"] == 4


@pytest.mark.slow
def test_initial_rows_are_copies_and_the_final_model_reloads(vocab_run: Path) -> None:
    from transformers import AutoModelForCausalLM

    initial = AutoModelForCausalLM.from_pretrained(vocab_run / "checkpoint-0")
    emb = initial.get_input_embeddings().weight
    assert th.equal(emb[100:200], emb[:100])
    assert initial.get_output_embeddings().weight is emb  # the tiny model is tied and stays tied
    final = AutoModelForCausalLM.from_pretrained(vocab_run / "model").eval()
    last = AutoModelForCausalLM.from_pretrained(vocab_run / "checkpoint-4").eval()
    ids = th.tensor([[2, 50, 150, 60, 160, 3]])
    with th.no_grad():
        assert th.equal(final(ids).logits, last(ids).logits)
    assert not th.equal(final.get_input_embeddings().weight[100:], final.get_input_embeddings().weight[:100])


@pytest.mark.slow
def test_usage_metrics_every_step_and_nothing_outside_thinking(vocab_run: Path) -> None:
    steps = [r for r in records(vocab_run) if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for r in steps:
        assert r["reasoning_vocab/outside_count"] == 0
        assert r["restriction/labels_outside_mask"] == 0  # the loss's mask agrees with the sampler's
        assert r["reasoning_vocab/thinking_tokens"] > 0
        # init=all: a token and its copy have the same logit until training moves them apart
        assert 0.25 < r["reasoning_vocab/share_in_thinking"] < 0.75, r
        assert r["reasoning_vocab/distinct_ids"] >= 5
        assert r["reasoning_vocab/entropy_inside"] > 0  # every token is inside thinking: no entropy_outside
        assert "reasoning_vocab/entropy_outside" not in r
    samples = [json.loads(line) for line in (vocab_run / "reasoning_samples.jsonl").read_text().splitlines()]
    assert samples and any("⟨" in s["completion"] and s["reasoning_tokens"] > 0 for s in samples)


@pytest.fixture(scope="module")
def prepared(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A built (untrained) reasoning-vocabulary trainer, in this process."""
    from rlvr import api

    mp = pytest.MonkeyPatch()
    mp.setenv("RLVR_CACHE_DIR", str(cache_dir))
    session = api.prepare(api.compose([*RUN, *VOCAB]), tmp_path_factory.mktemp("prepared") / "run")
    yield session
    session.close()
    mp.undo()


@pytest.mark.slow
def test_completion_entropies_run_in_micro_batches(prepared) -> None:  # noqa: ANN001
    """The usage metrics' entropy pass over a generation batch goes through the model in micro-batches of the
    per-device batch size, as TRL's log-prob passes do, with the same values as one pass over the whole batch."""
    trainer, tok = prepared.trainer, prepared.tokenizer
    rows = 40
    prompt = tok(["12+34"] * rows, return_tensors="pt", add_special_tokens=False)
    completion = tok(["<think>4</think>\\boxed{46}"] * rows, return_tensors="pt", add_special_tokens=False)
    output = {"prompt_ids": prompt["input_ids"], "prompt_mask": prompt["attention_mask"]}
    output |= {"completion_ids": completion["input_ids"], "completion_mask": completion["attention_mask"]}
    seen: list[int] = []
    hook = trainer.model.register_forward_pre_hook(lambda _m, _a, kw: seen.append(kw["input_ids"].size(0)),
                                                   with_kwargs=True)  # fmt: skip
    try:
        chunked = trainer.completion_entropies(output)
    finally:
        hook.remove()
    micro = trainer.args.per_device_train_batch_size
    assert micro < rows and seen and max(seen) <= micro and sum(seen) == rows, (seen, micro)
    ids = th.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
    mask = th.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
    with th.no_grad():
        whole = trainer.per_token_logps_and_entropies(
            trainer.model, ids, mask, completion["input_ids"].size(1), batch_size=rows, compute_entropy=True
        )[1]
    th.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_rewards_and_evaluation_read_reasoning_tokens_as_their_source(prepared) -> None:  # noqa: ANN001
    """The built trainer's text hooks, which TRL's reward call and the held-out evaluation go through."""
    trainer, tok = prepared.trainer, prepared.tokenizer
    ids = tok.encode("\\boxed{42}", add_special_tokens=False)
    copies = [i + 100 if k % 2 else i for k, i in enumerate(ids)]  # every other token a reasoning copy
    assert trainer.decode_completion(copies) == "\\boxed{42}"
    assert tok.decode(copies, skip_special_tokens=True) != "\\boxed{42}"  # what unmapped decoding would give
    chat = [[{"role": "assistant", "content": tok.decode(copies, skip_special_tokens=True)}]]
    assert trainer.reward_completions(chat, [copies]) == [[{"role": "assistant", "content": "\\boxed{42}"}]]
    assert trainer.reward_completions(["x"], [copies]) == ["\\boxed{42}"]
    assert trainer.ref_model is None  # beta 0 here; the vocab_run fixture trains with a reference model


@pytest.mark.slow
def test_resume_continues_with_the_same_vocabulary(vocab_run: Path, cache_dir: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "resumed"
    shutil.copytree(vocab_run, run_dir)
    overrides = [*RUN, *VOCAB, "training.max_steps=6", "training.save_steps=2", "training.beta=0.04", *SHAPED]
    overrides += ["training.resume_from_checkpoint=auto", f"hydra.run.dir={run_dir}"]
    changed = run_cli([*overrides, "model.reasoning_vocab.inside=reasoning_only"], cache_dir)  # refused, one line
    errors = [line for line in (changed.stdout + changed.stderr).splitlines() if "| ERROR" in line]
    assert changed.returncode == 2 and len(errors) == 1, changed.stdout[-3000:] + changed.stderr[-3000:]
    assert "model.reasoning_vocab.inside changed (it had {'inside': 'both'})" in errors[0], errors
    assert not (run_dir / "checkpoint-6").exists()
    proc = run_cli(overrides, cache_dir)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-4") and summary["steps"] == 6
    assert (run_dir / "checkpoint-6" / "reasoning_token_map.json").exists()
    assert [r["reasoning_vocab/outside_count"] for r in records(run_dir) if r.get("step", 0) > 4 and "loss" in r] == [
        0,
        0,
    ]


@pytest.mark.slow
def test_lora_trains_the_copies_and_saves_an_adapter_on_checkpoint_0(cache_dir: Path, tmp_path: Path) -> None:
    """LoRA + reasoning vocabulary: PEFT's trainable token rows for the copies, log-probs through the masked head
    (which calls the output layer as a module, so those rows get gradients), a KL term against the adapter-free
    policy, and a ``model/`` adapter whose base is ``checkpoint-0`` (the extended model)."""
    from safetensors.torch import load_file

    from rlvr import api

    run_dir = tmp_path / "run"
    overrides = [*RUN, *VOCAB, "model.lora.enabled=true", "training.max_steps=2", "training.save_steps=2"]
    overrides += ["training.beta=0.04", "training.learning_rate=1e-2"]
    proc = run_cli([*overrides, *SHAPED, f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "incomplete checkpoints" not in proc.stdout + proc.stderr  # checkpoint-0 is not one
    for name in ("checkpoint-2", "model"):
        assert (run_dir / name / "reasoning_token_map.json").exists()
        config = json.loads((run_dir / name / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == str((run_dir / "checkpoint-0").resolve())
        assert config["trainable_token_indices"] == {"embed_tokens": list(range(100, 200))}
    saved = load_file(run_dir / "model" / "adapter_model.safetensors")
    delta = saved["base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"]
    assert not any("base_layer" in k for k in saved)  # the adapter holds the copies' rows, not the whole matrix
    initial = load_file(run_dir / "checkpoint-0" / "model.safetensors")["model.embed_tokens.weight"]
    assert delta.shape == (100, initial.shape[1]) and not th.equal(delta, initial[100:])  # the copies trained
    steps = [r for r in records(run_dir) if "loss" in r]
    assert [r["restriction/labels_outside_mask"] for r in steps] == [0, 0]
    assert all(r["reasoning_vocab/outside_count"] == 0 for r in steps)
    model, tok = api.load_for_chat(run_dir)  # the adapter onto checkpoint-0
    assert model.get_input_embeddings().weight.shape[0] == 200
    assert isinstance(api.quick_test(run_dir, "12+34", max_new_tokens=8), str)
    merged = api.export(run_dir, tmp_path / "merged", merge=True)  # a plain model with the map beside it
    assert (merged / "reasoning_token_map.json").exists()
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(merged).eval()
    ids = th.tensor([[2, 50, 150, 60, 160, 3]])
    with th.no_grad():
        th.testing.assert_close(plain(ids).logits, model(input_ids=ids).logits)


@pytest.mark.slow
@pytest.mark.multiproc
def test_two_processes_train_under_the_mask(cache_dir: Path, tmp_path: Path) -> None:
    """DDP (2 processes, gloo): the masked log-prob path goes through the wrapped model for the loss, the old
    policy (num_iterations=2) and the reference model (beta > 0); every step's tokens agree with the mask."""
    from tests.helpers.cli import run_accelerate

    run_dir = tmp_path / "ddp"
    overrides = [*RUN, *VOCAB, *SHAPED, "training.per_device_train_batch_size=8", "training.max_steps=2"]
    overrides += ["training.save_steps=2", "training.beta=0.04", "training.num_iterations=2", "eval.enabled=false"]
    proc = run_accelerate([*overrides, f"hydra.run.dir={run_dir}"], cache_dir)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2
    steps = [r for r in records(run_dir) if "loss" in r]
    assert len(steps) == 2
    assert all(r["restriction/labels_outside_mask"] == 0 for r in steps)
    # usage is logged when rollouts are generated: every num_iterations=2 steps
    assert [r.get("reasoning_vocab/outside_count") for r in steps] == [0, None]
    assert (run_dir / "checkpoint-2" / "reasoning_token_map.json").exists()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["model.reasoning_vocab.size=-5"], "model.reasoning_vocab.size must be >= 0"),
        (
            ["model.reasoning_vocab.size=8", "training.use_vllm=true", "training.vllm_mode=server"],
            "model.reasoning_vocab with training.use_vllm=true needs training.vllm_mode=colocate",
        ),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], needle: str) -> None:
    """Refused when the config is converted, before any model loads (the CLI prints the line and exits 2)."""
    from rlvr.errors import UserError
    from tests.helpers.config import typed_cfg

    with pytest.raises(UserError, match=needle):
        typed_cfg(overrides)


def test_tags_the_tokenizer_cannot_write_one_line_exit_2(cache_dir: Path) -> None:
    proc = run_cli([*RUN, "model.reasoning_vocab.size=8", "model.reasoning_vocab.think_open='<thínk>'"], cache_dir)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and "error" in line.lower()]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert any("model.reasoning_vocab.think_open" in line for line in lines), lines
    assert "Traceback" not in proc.stdout + proc.stderr


def test_init_file_with_ids_beyond_the_vocabulary(cache_dir: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps([5, 6, 150]))
    proc = run_cli([*RUN, "model.reasoning_vocab.size=-1", f"model.reasoning_vocab.init={ids}"], cache_dir)
    assert proc.returncode == 2 and "model.reasoning_vocab.init" in proc.stdout + proc.stderr
    assert "[150]" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_quick_test_reads_reasoning_tokens_as_their_sources(vocab_run: Path) -> None:
    """``rlvr.api.quick_test`` with the saved token map decodes the copies it samples as their sources. The same
    sampled tokens (same model, same seed; with ``think_open=assistant`` the mask allows every token) decoded
    without the map lose every copy, so the mapped answers are longer. A model directory finds its map itself."""
    from rlvr import api
    from rlvr.vocab.token_map import TokenMap

    questions = ["12+34"] * 16
    model, tok = api.load_for_chat(vocab_run / "model")
    token_map = TokenMap.load(vocab_run / "model")
    th.manual_seed(0)
    mapped = api.quick_test(model, questions, temperature=1.0, max_new_tokens=12, tokenizer=tok, token_map=token_map)
    th.manual_seed(0)
    plain = api.quick_test(model, questions, temperature=1.0, max_new_tokens=12, tokenizer=tok)
    assert all(len(m) >= len(p) for m, p in zip(mapped, plain, strict=True))
    assert sum(map(len, mapped)) > sum(map(len, plain)), (mapped, plain)
    assert len(api.quick_test(vocab_run / "model", questions[:2], temperature=1.0, max_new_tokens=12)) == 2


@pytest.mark.slow
def test_analysis_script_writes_figures_and_report(vocab_run: Path, tmp_path: Path, cache_dir: Path) -> None:
    """``exp/analyze_reasoning_vocab.py`` on the run: PNGs, a report with the drift of every checkpoint (checkpoint-0
    first, all zeros: copies start equal to their sources), and the entropy profile of the final policy."""
    from tests.helpers.cli import run_cli as run

    out = tmp_path / "analysis"
    proc = run([str(vocab_run), "--out", str(out)], cache_dir, script="exp/analyze_reasoning_vocab.py")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("usage.png", "drift.png", "pca.png", "entropy.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG"), name
    data = json.loads((out / "analysis.json").read_text())
    assert [r["label"] for r in data["drift"]] == ["checkpoint-0", "checkpoint-4"]
    assert data["drift"][0]["copy_vs_source_in"] < 1e-6
    assert data["drift"][1]["copy_vs_source_in"] > 0  # training moved copies away from their sources
    assert data["entropy"]["reasoning vocab"]["entropy_inside"] > 0
    assert "Copies furthest from their sources" in (out / "report.md").read_text()

    proc = run([str(vocab_run.parent)], cache_dir, script="exp/analyze_reasoning_vocab.py")
    assert proc.returncode == 2 and "not a reasoning-vocabulary run" in proc.stdout + proc.stderr
