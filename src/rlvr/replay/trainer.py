"""``ReplayMixin``: prioritised prompt replay for TRL's ``GRPOTrainer``.

Use as ``class ReplayGRPOTrainer(ReplayMixin, RLVRGRPOTrainer)``. Before each generation the
mixin replaces a fraction of the generation batch's prompt groups (whole groups: all
``num_generations`` copies of a prompt) with prompts sampled from a :class:`ReplayBuffer`;
after scoring it feeds every group's rewards back (admitting informative fresh prompts,
updating the statistics of replayed ones). Completions are always generated fresh and
advantages come from TRL's own code on the mixed batch, so training stays on-policy.

Multi-process: every rank gathers the whole generation batch, draws from identically seeded
RNGs and an identical buffer, and applies the same replacement to its own slice; the rewards
fed back are TRL's gathered rewards, so the buffers stay identical (checked by digest at every
checkpoint and at the end of training). The buffer and the mixin's RNG are saved in every
checkpoint and restored on resume.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from accelerate.utils import gather_object
from loguru import logger
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from rlvr.config import ReplayConfig
from rlvr.replay.buffer import ReplayBuffer, prompt_key
from rlvr.replay.schedule import check_points, piecewise, replay_ratio
from rlvr.trainer import RLVRGRPOTrainer

BUFFER_FILE = "replay_buffer.pkl"
ORIGINS = ("fresh", "replay", "easy")


class ReplayDivergedError(RuntimeError):
    """Ranks hold different replay buffers: a bug, never a user error."""


class ReplayMixin:
    """Mixes replayed prompt groups into GRPO generation batches; see the module docstring."""

    def __init__(self, *args: Any, replay: ReplayConfig, easy_rows: list[dict] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        validate_replay(replay)
        self.replay_cfg = replay
        seed = int(self.args.seed)
        self.replay_buffer = ReplayBuffer(
            capacity=replay.capacity,
            sampling=replay.sampling,
            ucb_c=replay.ucb_c,
            retire_after=replay.retire_after,
            temperature=replay.temperature,
            success_threshold=replay.success_threshold,
            seed=seed,
        )
        self.easy_rows = list(easy_rows or [])
        if replay.easy.enabled and not self.easy_rows:
            raise ValueError("replay.easy.enabled=true but the EASY pool dataset has no rows")
        self._replay_rng = np.random.Generator(np.random.PCG64(seed + 7919))
        self._replay_pending: dict[str, Any] | None = None
        self._replay_rewards_per_func: th.Tensor | None = None

    # -- before generation: mix replayed and EASY groups into the batch -------------------------
    def _generate_and_score_completions(self, inputs: list[dict]) -> dict:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        start = time.perf_counter()
        inputs = self._replay_mix(list(inputs))
        self._replay_rewards_per_func = None
        mixed = time.perf_counter()
        out = super()._generate_and_score_completions(inputs)
        scored = time.perf_counter()
        self._replay_feedback()
        overhead = (mixed - start) + (time.perf_counter() - scored)
        self._metrics["train"]["replay/overhead_ms"].append(1000 * overhead)  # mixing + feedback, per generation
        return out

    def _replay_mix(self, local: list[dict]) -> list[dict]:
        k = self.num_generations
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        rows = gather_object(local) if world > 1 else local
        if len(rows) % k or len(rows) != len(local) * world:
            raise RuntimeError(f"generation batch of {len(rows)} rows is not whole groups of {k}")
        n_groups = len(rows) // k
        keys = [prompt_key(rows[g * k]["prompt"]) for g in range(n_groups)]
        for g in range(n_groups):
            if any(prompt_key(r["prompt"]) != keys[g] for r in rows[g * k + 1 : (g + 1) * k]):
                raise RuntimeError("a prompt group spans different prompts: the sampler layout changed")

        cfg, step = self.replay_cfg, self.state.global_step
        origins = ["fresh"] * n_groups
        new_rows: dict[int, dict] = {}
        ratio = replay_ratio(
            cfg.ratio_schedule, cfg.ratio, cfg.ratio_start, cfg.ratio_ramp_steps, cfg.ratio_points, step
        )
        if step >= cfg.warmup_steps and len(self.replay_buffer) >= cfg.min_size and ratio > 0:
            n_replay = min(int(round(ratio * n_groups)), len(self.replay_buffer))
            slots = np.sort(self._replay_rng.choice(n_groups, size=n_replay, replace=False))
            chosen = set(slots.tolist())
            kept = {keys[g] for g in range(n_groups) if g not in chosen}
            for g, (key, row) in zip(
                slots.tolist(), self.replay_buffer.sample(n_replay, exclude_keys=kept), strict=False
            ):
                origins[g], keys[g], new_rows[g] = "replay", key, row
        p_easy = piecewise(cfg.easy.p_schedule, step) if cfg.easy.enabled else 0.0
        if p_easy > 0:
            fresh = [g for g in range(n_groups) if origins[g] == "fresh"]
            pick = [g for g, u in zip(fresh, self._replay_rng.random(len(fresh)), strict=True) if u < p_easy]
            picks = self._replay_rng.choice(
                len(self.easy_rows), size=min(len(pick), len(self.easy_rows)), replace=False
            )
            for g, i in zip(pick, picks.tolist(), strict=False):
                row = self.easy_rows[i]
                origins[g], keys[g], new_rows[g] = "easy", prompt_key(row["prompt"]), row

        mixed = list(rows)
        for g, row in new_rows.items():
            template = rows[g * k]
            filled = {c: row.get(c) for c in template}  # same columns as the batch: reward kwargs stay aligned
            for j in range(g * k, (g + 1) * k):
                mixed[j] = dict(filled)
        self._replay_pending = {"keys": keys, "origins": origins, "rows": [mixed[g * k] for g in range(n_groups)]}
        return mixed[rank * len(local) : (rank + 1) * len(local)]

    # -- after scoring: feed rewards back ------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # noqa: ANN001
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.model.training:
            self._replay_rewards_per_func = rewards_per_func  # gathered over all processes, global order
        return rewards_per_func

    def _replay_feedback(self) -> None:
        pending, rpf = self._replay_pending, self._replay_rewards_per_func
        self._replay_pending = self._replay_rewards_per_func = None
        if pending is None or rpf is None:
            return
        weights = self.reward_weights.to(rpf.device).unsqueeze(0)
        rewards = (rpf * weights).nansum(dim=1)
        rewards[th.isnan(rpf).all(dim=1)] = float("nan")
        groups = rewards.view(-1, self.num_generations).float().cpu().numpy()
        step, cfg = self.state.global_step, self.replay_cfg
        admit_rows, admit_rewards, update_keys, update_rewards = [], [], [], []
        split: dict[str, list[tuple[float, bool]]] = {o: [] for o in ORIGINS}
        for key, origin, row, r in zip(pending["keys"], pending["origins"], pending["rows"], groups, strict=True):
            r = r[~np.isnan(r)]
            if r.size == 0:
                continue
            split[origin].append((float(r.mean()), bool(np.isclose(r.std(), 0.0))))
            if origin == "replay":
                update_keys.append(key)
                update_rewards.append(r)
            elif origin == "fresh":
                informative = r.size > 1 and not np.isclose(r.std(), 0.0)
                solved = bool((r >= cfg.success_threshold).any())
                if key in self.replay_buffer or (informative if cfg.admit == "informative" else solved):
                    admit_rows.append(row)
                    admit_rewards.append(r)
        if update_keys:
            self.replay_buffer.update(update_keys, update_rewards, step)
        admitted = self.replay_buffer.admit(admit_rows, admit_rewards, step) if admit_rows else 0

        metrics = self._metrics["train"]
        n_groups = len(pending["origins"])
        stats = self.replay_buffer.stats()
        metrics["replay/buffer_size"].append(float(stats["size"]))
        metrics["replay/ratio"].append(pending["origins"].count("replay") / n_groups)
        metrics["replay/easy_ratio"].append(pending["origins"].count("easy") / n_groups)
        metrics["replay/mean_priority"].append(float(stats["mean_priority"]))
        metrics["replay/admitted"].append(float(admitted))
        for name in ("admissions", "evictions", "retirements"):
            metrics[f"replay/{name}"].append(float(stats[name]))
        for origin, vals in split.items():
            if vals:
                metrics[f"replay/reward_{origin}"].append(float(np.mean([m for m, _ in vals])))
                metrics[f"replay/frac_reward_zero_std_{origin}"].append(float(np.mean([z for _, z in vals])))

    # -- state: checkpoints, resume, cross-rank agreement ------------------------------------------
    def state_dict_extra(self) -> dict[str, Any]:
        state = super().state_dict_extra()
        state["replay"] = {"rng": self._replay_rng.bit_generator.state, "digest": self.replay_buffer.digest()}
        return state

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        super().load_state_dict_extra(state)
        if "replay" in state:
            self._replay_rng.bit_generator.state = state["replay"]["rng"]
            self._replay_saved_digest = state["replay"]["digest"]

    def replay_digests(self) -> list[str]:
        """The buffer digest of every rank (a collective: call on all ranks)."""
        digest = self.replay_buffer.digest()
        return gather_object([digest]) if self.accelerator.num_processes > 1 else [digest]

    def _check_ranks_agree(self) -> list[str]:
        digests = self.replay_digests()
        if len(set(digests)) > 1:
            raise ReplayDivergedError(f"replay buffers differ across ranks: {digests}")
        return digests

    def _save_checkpoint(self, model, trial) -> None:  # noqa: ANN001
        self._check_ranks_agree()
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            self.replay_buffer.save(folder / BUFFER_FILE)

    def _load_optimizer_and_scheduler(self, checkpoint) -> None:  # noqa: ANN001
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = Path(checkpoint) / BUFFER_FILE
        if not path.exists():
            logger.warning(f"{path} not found: the replay buffer starts empty")
            return
        self.replay_buffer = ReplayBuffer.load(path)
        digest = self.replay_buffer.digest()
        expected = getattr(self, "_replay_saved_digest", digest)
        if digest != expected:
            raise RuntimeError(f"{path}: buffer digest {digest} differs from the checkpoint's record {expected}")
        logger.info(f"restored replay buffer ({len(self.replay_buffer)} prompts, digest {digest}) from {path}")

    def summary_extra(self) -> dict[str, Any]:
        summary = super().summary_extra()
        digests = self._check_ranks_agree()
        summary["replay"] = {**self.replay_buffer.stats(), "digest": digests[0], "ranks_agree": len(digests)}
        return summary


def validate_replay(cfg: ReplayConfig) -> None:
    """One-line errors naming the ``replay.*`` key to fix (checked before any model loads)."""
    if cfg.capacity < 1:
        raise ValueError(f"replay.capacity must be >= 1, got {cfg.capacity}")
    if cfg.sampling not in ("ucb", "proportional"):
        raise ValueError(f"replay.sampling: {cfg.sampling!r} is not one of ucb, proportional")
    if cfg.ucb_c < 0 or cfg.temperature <= 0:
        raise ValueError("replay.ucb_c must be >= 0 and replay.temperature > 0")
    if not 0.0 <= cfg.ratio <= 1.0:
        raise ValueError(f"replay.ratio must be in [0, 1], got {cfg.ratio}")
    if cfg.admit not in ("informative", "success"):
        raise ValueError(f"replay.admit: {cfg.admit!r} is not one of informative, success")
    if cfg.min_size < 1:
        raise ValueError(f"replay.min_size must be >= 1, got {cfg.min_size}")
    if cfg.ratio_schedule not in ("constant", "linear", "piecewise"):
        raise ValueError(f"replay.ratio_schedule: {cfg.ratio_schedule!r} is not one of constant, linear, piecewise")
    check_points(cfg.ratio_points, "replay.ratio_points")
    check_points(cfg.easy.p_schedule, "replay.easy.p_schedule")


class ReplayGRPOTrainer(ReplayMixin, RLVRGRPOTrainer):
    """Our GRPO trainer with prioritised prompt replay (``replay.enabled=true``)."""
