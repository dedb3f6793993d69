"""``ReplayMixin``: prioritised prompt replay, built on the hooks of :class:`rlvr.trainers.base.RLVRTrainer`.

Before each generation (``prepare_generation_batch``) the mixin replaces a fraction of the generation batch's
prompt groups (whole groups: all ``num_generations`` copies of a prompt) with prompts sampled from a
:class:`ReplayBuffer`; after scoring (``after_scoring``) it feeds every group's rewards back (admitting
informative fresh prompts, updating the statistics of replayed ones). Completions are always generated fresh
and advantages come from TRL's own code on the mixed batch, so training stays on-policy.

Two rewards per completion are fed back. The **shaped** reward (``weighted_rewards()``: every reward function
times its weight) drives the priority: learnability is its variance within the group. The **correctness**
reward (``correctness_rewards()``: the row's task verifier, a reward its task declares in ``rlvr.registry.tasks``
such as ``accuracy``) decides success and failure: a completion is solved when its correctness >=
``replay.success_threshold`` and failed when it is <= 0, so format or length shaping never makes an all-wrong
group look solved, informative or unretirable. With it, ``admit=informative`` admits a fresh group whose
correctness varies (some solved, some not), ``admit=success`` one with at least one solved completion, and an
entry retires after ``retire_after`` pulls in a row all solved or all failed. A completion that no correctness
reward scored (none configured, or none serves its task) is judged on its shaped reward instead (a warning
says so at start-up when the run has no correctness reward at all).

Two further mechanisms share the hooks (docs/replay.md). **Pre-rollout skipping** (``replay.skip``): every scored
group also updates :class:`~rlvr.replay.skip.PromptStats` (each prompt's streak of all-solved or all-failed
pulls, judged on correctness); in ``prepare_generation_batch`` a fresh prompt on a streak is skipped with
probability ``1 - explore ** streak`` and its slot filled from the training pool (:class:`~rlvr.replay.pool.
PromptPool`) or the buffer, so it costs no tokens. **Dynamic-sampling refill** (``replay.refill``): in
``complete_generation_batch`` zero-variance groups are dropped and further rounds of ``generate_and_score`` run
on pool prompts until every rank has a full batch of informative groups or ``refill.max_rounds`` is reached
(:mod:`rlvr.replay.refill` joins the rounds' tensors); every generated token is counted by the base.

Multi-process: every rank gathers the whole generation batch, draws from identically seeded RNGs and an
identical buffer, and applies the same replacement to its own slice; the rewards fed back are TRL's gathered
rewards, so the buffers stay identical (checked by digest at every checkpoint and at the end of training).
The buffer and the mixin's RNG are saved in every checkpoint and restored on resume.

Resume with changed ``replay.*`` settings: the restored buffer (its digest checked against the checkpoint's
record first) takes the run's values of the keys that shape it, each change logged as a warning:

* ``capacity``: applied; shrinking below the restored size evicts the lowest-priority entries at once.
* ``sampling``, ``ucb_c``, ``temperature``: applied (priorities are computed from statistics that do not
  depend on them).
* ``retire_after``: applied; entries already past a lowered limit retire at once.
* ``success_threshold``: applied to the groups fed back from now on; counts made so far keep their verdicts.

A combination the buffer rejects stops the run with one line naming the key (``UserError``). The other keys
(``ratio*``, ``min_size``, ``warmup_steps``, ``admit``, ``easy.*``) are read live from the config, so a
resumed run simply follows its own values. The buffer's seed stays the checkpoint's (its RNG state is
restored).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from accelerate.utils import gather_object
from loguru import logger

from rlvr.config import ReplayConfig, RootConfig
from rlvr.errors import UserError
from rlvr.registry.tasks import correctness_rewards
from rlvr.replay.buffer import RECONFIGURABLE, ReplayBuffer
from rlvr.replay.keys import prompt_key
from rlvr.replay.pool import PromptPool
from rlvr.replay.refill import choose_groups, concat_rows, take_rows
from rlvr.replay.schedule import piecewise, replay_ratio
from rlvr.replay.skip import PromptStats, uniform_outcome
from rlvr.trainers.base import RLVRTrainer
from rlvr.trainers.extensions import Extension, ExtensionContext

BUFFER_FILE = "replay_buffer.pkl"
STATS_FILE = "replay_prompt_stats.pkl"
ORIGINS = ("fresh", "replay", "easy")


class ReplayDivergedError(RuntimeError):
    """Ranks hold different replay buffers: a bug, never a user error."""


class ReplayMixin(RLVRTrainer):
    """Mixes replayed prompt groups into GRPO generation batches; see the module docstring."""

    def __init__(
        self,
        *args: Any,
        replay: ReplayConfig,
        easy_rows: list[dict] | None = None,
        pool_rows: list[dict] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
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
        self.replay_rng = np.random.Generator(np.random.PCG64(seed + 7919))
        self.replay_pending: dict[str, Any] | None = None
        self.replay_saved_digest: str | None = None
        self.replay_saved_stats_digest: str | None = None
        self.replay_overhead = 0.0  # seconds spent mixing and feeding back in the current generation
        skip = replay.skip
        self.prompt_stats = PromptStats(
            skip.explore_solved, skip.explore_failed, skip.min_streak, skip.target_zero_std, skip.adapt_rate
        )
        self.replay_pool: PromptPool | None = None
        if skip.enabled or replay.refill.enabled:
            if not pool_rows:
                raise ValueError("replay.skip / replay.refill need the training pool (pool_rows)")
            self.replay_pool = PromptPool(list(pool_rows), seed + 104729)
        self.replay_round: dict[str, Any] | None = None  # the last scored round: global informative flags
        if not self.correctness_columns():
            logger.warning(
                f"replay: no correctness reward among rewards.funcs (one of {', '.join(sorted(correctness_rewards()))}): "
                "success and failure are judged on the weighted sum of the rewards"
            )

    # -- before generation: mix replayed and EASY groups into the batch -------------------------
    def prepare_generation_batch(self, inputs: list[dict[str, Any]], training: bool) -> list[dict[str, Any]]:
        inputs = super().prepare_generation_batch(inputs, training)
        self.replay_pending = None
        if not training:
            return inputs
        start = time.perf_counter()
        mixed = self.replay_mix(inputs)
        self.replay_overhead = time.perf_counter() - start
        return mixed

    def replay_mix(self, local: list[dict]) -> list[dict]:
        """Replace whole prompt groups of the generation batch (all ranks agree); returns this rank's rows."""
        k = self.group_size(True)
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
            slots = np.sort(self.replay_rng.choice(n_groups, size=n_replay, replace=False))
            chosen = set(slots.tolist())
            kept = {keys[g] for g in range(n_groups) if g not in chosen}
            for g, (key, row) in zip(
                slots.tolist(), self.replay_buffer.sample(n_replay, exclude_keys=kept), strict=False
            ):
                origins[g], keys[g], new_rows[g] = "replay", key, row
        if cfg.skip.enabled:
            self.skip_mix(keys, origins, new_rows)
        p_easy = piecewise(cfg.easy.p_schedule, step) if cfg.easy.enabled else 0.0
        if p_easy > 0:
            fresh = [g for g in range(n_groups) if origins[g] == "fresh"]
            pick = [g for g, u in zip(fresh, self.replay_rng.random(len(fresh)), strict=True) if u < p_easy]
            picks = self.replay_rng.choice(len(self.easy_rows), size=min(len(pick), len(self.easy_rows)), replace=False)
            for g, i in zip(pick, picks.tolist(), strict=False):
                row = self.easy_rows[i]
                origins[g], keys[g], new_rows[g] = "easy", prompt_key(row["prompt"]), row

        mixed = list(rows)
        for g, row in new_rows.items():
            template = rows[g * k]
            filled = {c: row.get(c) for c in template}  # same columns as the batch: reward kwargs stay aligned
            for j in range(g * k, (g + 1) * k):
                mixed[j] = dict(filled)
        self.replay_pending = {"keys": keys, "origins": origins, "rows": [mixed[g * k] for g in range(n_groups)]}
        return mixed[rank * len(local) : (rank + 1) * len(local)]

    def keeps(self, key: str) -> bool:
        """The skip rule's draw for one prompt (same RNG on every rank): True to generate for it."""
        p = self.prompt_stats.keep_probability(key)
        return p >= 1.0 or bool(self.replay_rng.random() < p)

    def skip_mix(self, keys: list[str], origins: list[str], new_rows: dict[int, dict]) -> None:
        """Pre-rollout skipping: each fresh group whose prompt the skip rule drops gets another prompt (the next
        pool prompt the rule keeps, or with ``skip.fill=replay`` a buffer sample); edits the arguments in place."""
        cfg = self.replay_cfg.skip
        assert self.replay_pool is not None
        skipped = 0
        for g in range(len(keys)):
            if origins[g] != "fresh" or self.keeps(keys[g]):
                continue
            in_batch = set(keys)
            if cfg.fill == "replay" and len(self.replay_buffer):
                got = self.replay_buffer.sample(1, exclude_keys=in_batch)
                if got:
                    skipped += 1
                    origins[g], (keys[g], new_rows[g]) = "replay", got[0]
                    continue
            extra = 0
            for draw in range(cfg.max_draws):
                row = self.replay_pool.draw()
                key = prompt_key(row["prompt"])
                if key in in_batch:
                    continue
                if draw == cfg.max_draws - 1 or self.keeps(key):
                    skipped += 1 + extra
                    keys[g], new_rows[g] = key, row
                    break
                extra += 1
            else:  # every candidate was already in the batch: keep the original prompt
                skipped += extra
        self.prompt_stats.skipped_total += skipped
        self.log_metric("replay/skipped", skipped)

    # -- after scoring: feed rewards back ------------------------------------------------------
    def after_scoring(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        output = super().after_scoring(output, training)
        if training and self.replay_pending is not None and self.scored_rewards is not None:
            start = time.perf_counter()
            self.replay_feedback()
            overhead = self.replay_overhead + time.perf_counter() - start
            self.log_metric("replay/overhead_ms", 1000 * overhead)  # mixing + feedback, per generation
        self.replay_pending = None
        return output

    def replay_feedback(self) -> None:
        """Admit informative fresh groups and update replayed ones from the scored batch; log replay metrics."""
        pending = self.replay_pending
        k = self.group_size(True)
        shaped = self.weighted_rewards()
        correct = self.correctness_rewards().to(shaped.device)
        outcome = th.where(th.isnan(correct), shaped, correct)  # judged on shaped only where unscored
        groups = shaped.view(-1, k).float().cpu().numpy()
        outcomes = outcome.view(-1, k).float().cpu().numpy()
        step, cfg = self.state.global_step, self.replay_cfg
        admit_rows, admit_rewards, admit_outcomes = [], [], []
        update_keys, update_rewards, update_outcomes = [], [], []
        split: dict[str, list[tuple[float, bool]]] = {o: [] for o in ORIGINS}
        informative_groups = np.zeros(len(groups), dtype=bool)  # shaped reward varies: nonzero advantage
        for i, (key, origin, row, r, o) in enumerate(
            zip(pending["keys"], pending["origins"], pending["rows"], groups, outcomes, strict=True)
        ):
            scored = ~np.isnan(r)
            r, o = r[scored], o[scored]
            if r.size == 0:
                continue
            informative_groups[i] = r.size > 1 and not np.isclose(r.std(), 0.0)
            if origin != "easy":
                self.prompt_stats.record(key, uniform_outcome(o, cfg.success_threshold))
            split[origin].append((float(r.mean()), bool(np.isclose(r.std(), 0.0))))
            if origin == "replay":
                update_keys.append(key)
                update_rewards.append(r)
                update_outcomes.append(o)
            elif origin == "fresh":
                informative = o.size > 1 and not np.isclose(o.std(), 0.0)
                solved = bool((o >= cfg.success_threshold).any())
                if key in self.replay_buffer or (informative if cfg.admit == "informative" else solved):
                    admit_rows.append(row)
                    admit_rewards.append(r)
                    admit_outcomes.append(o)
        if update_keys:
            self.replay_buffer.update(update_keys, update_rewards, step, outcomes=update_outcomes)
        admitted = (
            self.replay_buffer.admit(admit_rows, admit_rewards, step, outcomes=admit_outcomes) if admit_rows else 0
        )

        self.replay_round = {"informative": informative_groups}
        n_groups = len(pending["origins"])
        stats = self.replay_buffer.stats()
        self.log_metric("replay/buffer_size", stats["size"])
        self.log_metric("replay/ratio", pending["origins"].count("replay") / n_groups)
        self.log_metric("replay/easy_ratio", pending["origins"].count("easy") / n_groups)
        self.log_metric("replay/mean_priority", stats["mean_priority"])
        self.log_metric("replay/admitted", admitted)
        for name in ("admissions", "evictions", "retirements"):
            self.log_metric(f"replay/{name}", stats[name])
        for origin, vals in split.items():
            if vals:
                self.log_metric(f"replay/reward_{origin}", float(np.mean([m for m, _ in vals])))
                self.log_metric(f"replay/frac_reward_zero_std_{origin}", float(np.mean([z for _, z in vals])))

    # -- after all rounds: dynamic-sampling refill, skip adaptation --------------------------------
    def complete_generation_batch(self, output: dict[str, Any], training: bool) -> dict[str, Any]:
        output = super().complete_generation_batch(output, training)
        if not training or self.replay_round is None:
            return output
        k = self.group_size(True)
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        per_rank = output["completion_ids"].size(0) // k  # whole groups per process (checked at config time)
        flags = [self.replay_round["informative"].reshape(world, per_rank)]
        outputs = [output]
        cfg = self.replay_cfg.refill
        if cfg.enabled:
            assert self.replay_pool is not None
            while (
                len(flags) <= cfg.max_rounds
                and min(sum(int(f[r].sum()) for f in flags) for r in range(world)) < per_rank
            ):
                groups = [self.replay_pool.draw() for _ in range(world * per_rank)]
                local = [row for row in groups[rank * per_rank : (rank + 1) * per_rank] for _ in range(k)]
                outputs.append(self.generate_and_score(local, training))
                flags.append(self.replay_round["informative"].reshape(world, per_rank))
        kept_by_rank = [choose_groups([f[r] for f in flags], per_rank) for r in range(world)]
        kept_zero = sum(
            int((~f[r][idx]).sum()) for r in range(world) for f, idx in zip(flags, kept_by_rank[r], strict=True)
        )
        if len(outputs) > 1:
            pieces = []
            for out, idx in zip(outputs, kept_by_rank[rank], strict=True):
                if idx.size:
                    rows = (th.as_tensor(idx)[:, None] * k + th.arange(k)).reshape(-1)
                    pieces.append(take_rows(out, rows))
            output = concat_rows(pieces)
            mask = output["completion_mask"]
            if "tool_mask" in output:
                mask = mask * output["tool_mask"]
            output["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
            self.log_metric("replay/refill_rounds", len(outputs) - 1)
            self.log_metric("replay/refill_dropped", world * per_rank * len(outputs) - world * per_rank)
        elif cfg.enabled:
            self.log_metric("replay/refill_rounds", 0)
            self.log_metric("replay/refill_dropped", 0)
        trained_zero = kept_zero / (world * per_rank)
        self.log_metric("replay/trained_frac_zero_std", trained_zero)
        if self.replay_cfg.skip.enabled:
            self.prompt_stats.adapt(trained_zero)
            self.log_metric("replay/explore_solved", self.prompt_stats.explore_solved)
            self.log_metric("replay/explore_failed", self.prompt_stats.explore_failed)
        self.replay_round = None
        return output

    # -- state: checkpoints, resume, cross-rank agreement ------------------------------------------
    def state_dict_extra(self) -> dict[str, Any]:
        state = super().state_dict_extra()
        state["replay"] = {
            "rng": self.replay_rng.bit_generator.state,
            "digest": self.replay_buffer.digest(),
            "stats_digest": self.prompt_stats.digest(),
        }
        if self.replay_pool is not None:
            state["replay"]["pool"] = self.replay_pool.state_dict()
        return state

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        super().load_state_dict_extra(state)
        if "replay" in state:
            self.replay_rng.bit_generator.state = state["replay"]["rng"]
            self.replay_saved_digest = state["replay"]["digest"]
            self.replay_saved_stats_digest = state["replay"].get("stats_digest")
            if self.replay_pool is not None and "pool" in state["replay"]:
                try:
                    self.replay_pool.load_state_dict(state["replay"]["pool"])
                except ValueError as err:
                    raise UserError(
                        f"resume: replay.skip/refill pool: {err} (same dataset.* as the first run?)"
                    ) from None

    def replay_digests(self) -> list[str]:
        """The digest of every rank's replay state, buffer and prompt statistics (a collective: all ranks)."""
        digest = f"{self.replay_buffer.digest()}-{self.prompt_stats.digest()}"
        return gather_object([digest]) if self.accelerator.num_processes > 1 else [digest]

    def check_ranks_agree(self) -> list[str]:
        digests = self.replay_digests()
        if len(set(digests)) > 1:
            raise ReplayDivergedError(f"replay buffers differ across ranks: {digests}")
        return digests

    def before_checkpoint(self) -> None:
        super().before_checkpoint()
        self.check_ranks_agree()

    def save_extra(self, folder: Path) -> None:
        super().save_extra(folder)
        self.replay_buffer.save(folder / BUFFER_FILE)
        self.prompt_stats.save(folder / STATS_FILE)

    def load_extra(self, folder: Path) -> None:
        super().load_extra(folder)  # rlvr_state.json first: it holds the digest the buffer must match
        stats_path = folder / STATS_FILE
        if stats_path.exists():
            self.prompt_stats.load(stats_path)
            expected = self.replay_saved_stats_digest or self.prompt_stats.digest()
            if self.prompt_stats.digest() != expected:
                raise RuntimeError(f"{stats_path}: digest differs from the checkpoint's record {expected}")
            logger.info(
                f"restored prompt statistics ({len(self.prompt_stats)} prompts, digest {expected}) from {stats_path}"
            )
            skip = self.replay_cfg.skip
            if skip.target_zero_std is None:  # fixed explore values: this run's settings apply
                self.prompt_stats.explore_solved, self.prompt_stats.explore_failed = (
                    skip.explore_solved,
                    skip.explore_failed,
                )
        path = folder / BUFFER_FILE
        if not path.exists():
            logger.warning(f"{path} not found: the replay buffer starts empty")
            return
        self.replay_buffer = ReplayBuffer.load(path)
        digest = self.replay_buffer.digest()
        expected = self.replay_saved_digest or digest
        if digest != expected:
            raise RuntimeError(f"{path}: buffer digest {digest} differs from the checkpoint's record {expected}")
        logger.info(f"restored replay buffer ({len(self.replay_buffer)} prompts, digest {digest}) from {path}")
        self.apply_replay_config()

    def apply_replay_config(self) -> dict[str, tuple[Any, Any]]:
        """Give the (restored) buffer this run's ``replay.*`` settings; see the module docstring. Returns the
        changes ``{key: (checkpoint's value, run's value)}``."""
        wanted = {key: getattr(self.replay_cfg, key) for key in RECONFIGURABLE}
        size = len(self.replay_buffer)
        try:
            changed = self.replay_buffer.reconfigure(**wanted)
        except ValueError as err:
            keys = [k for k in RECONFIGURABLE if k in str(err)] or list(RECONFIGURABLE)
            raise UserError(
                f"replay.{keys[0]}={wanted[keys[0]]!r} cannot be applied to the resumed replay buffer: {err}"
            ) from None
        for key, (old, new) in changed.items():
            logger.warning(f"replay.{key}: the checkpoint's buffer had {old!r}, this run sets {new!r}: applied")
        if len(self.replay_buffer) < size:
            logger.warning(f"replay buffer: {size - len(self.replay_buffer)} entries evicted or retired on resume")
        return changed

    def summary_extra(self) -> dict[str, Any]:
        summary = super().summary_extra()
        digests = self.check_ranks_agree()
        summary["replay"] = {**self.replay_buffer.stats(), "digest": digests[0], "ranks_agree": len(digests)}
        if self.replay_cfg.skip.enabled or self.replay_cfg.refill.enabled:
            summary["replay"]["prompts"] = self.prompt_stats.counts()
        return summary


# -- the extension record (rlvr.trainers.assembled) -----------------------------------------------------------------
def replay_enabled(cfg: RootConfig) -> bool:
    return cfg.replay.enabled


def replay_kwargs(ctx: ExtensionContext) -> dict[str, Any]:
    """The replay config, the EASY pool's rows (``replay.easy``) and, for skipping and refill, the training pool."""
    cfg = ctx.cfg
    easy = cfg.replay.easy
    if easy.enabled and ctx.load_train_rows is None:
        raise ValueError("replay.easy needs ExtensionContext.load_train_rows to load its dataset")
    kwargs: dict[str, Any] = {
        "replay": cfg.replay,
        "easy_rows": ctx.load_train_rows(easy.dataset) if easy.enabled and ctx.load_train_rows else None,
    }
    if cfg.replay.skip.enabled or cfg.replay.refill.enabled:
        kwargs["pool_rows"] = ctx.train_dataset.to_list()  # skipped slots and refill rounds draw from the pool
    return kwargs


EXTENSION = Extension("replay", ReplayMixin, replay_enabled, replay_kwargs)
