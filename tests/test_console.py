"""The progress line: without a terminal one compact line every N steps (what SLURM logs show), raw dicts only
in train.log; on a terminal one tqdm bar whose postfix carries the figures."""

from __future__ import annotations

import io

from loguru import logger
from transformers import TrainerControl, TrainerState, TrainingArguments

from rlvr.console import ProgressLine

LOGS = {"loss": 0.1, "reward": 0.5, "frac_reward_zero_std": 0.25, "generated_tokens": 1234, "replay/ratio": 0.5}


def drive(line: ProgressLine, steps: int) -> None:
    args, control = TrainingArguments(output_dir="/tmp/unused", report_to=[]), TrainerControl()
    state = TrainerState(max_steps=steps)
    line.on_train_begin(args, state, control)
    for step in range(1, steps + 1):
        state.global_step = step
        line.on_log(args, state, control, logs=dict(LOGS))
    line.on_train_end(args, state, control)


def test_without_a_terminal_one_line_every_n_steps() -> None:
    console, log_file = io.StringIO(), io.StringIO()
    sinks = [
        logger.add(console, format="{message}", filter=lambda r: not r["extra"].get("file_only")),
        logger.add(log_file, format="{message}"),
    ]
    try:
        drive(ProgressLine(every=5, completions_per_step=64, tty=False), steps=12)
    finally:
        for sink in sinks:
            logger.remove(sink)
    lines = console.getvalue().splitlines()
    assert [ln.split(" |")[0] for ln in lines] == ["step 5/12", "step 10/12", "step 12/12"]
    assert "reward 0.500" in lines[0] and "zero-std 0.25" in lines[0] and "replay 0.50" in lines[0]
    assert "1,234 tok" in lines[0] and "compl/s" in lines[0] and "eta" in lines[0]
    assert log_file.getvalue().count("'loss'") == 12  # every raw dict reaches the log file, none the console


def test_on_a_terminal_one_bar_with_the_figures(capsys) -> None:  # noqa: ANN001
    drive(ProgressLine(every=5, completions_per_step=64, tty=True), steps=3)
    err = capsys.readouterr().err
    assert "3/3" in err and "reward 0.500" in err
