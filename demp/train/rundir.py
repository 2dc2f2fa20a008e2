"""The files a run writes in its output directory, and how a directory is shared between runs.

``output_dir`` holds ``metrics.jsonl`` (one line per evaluation), ``prune_events.jsonl`` (one line
per death check or pruning), ``checkpoint/`` (the latest, for resume) and ``model/`` (the final
model). One directory holds one run: the logs are only readable as a history when their steps
never go backwards. So ``JsonlLog`` keeps, when a run starts at step S, exactly the lines that the
run continues from and drops the ones it will write again:

- ``metrics.jsonl``: evaluations before S, and the one *at* S unless it is a final summary (a
  checkpoint at S is written right after that evaluation; a final summary is written again by the
  run's own end);
- ``prune_events.jsonl``: events before S (the death check at S runs after the checkpoint at S
  was written, so the resumed run makes it again), and those at S when S is the end of training
  (the final check ran before the final model was saved and is not repeated).

A fresh run (S = 0) therefore starts with empty logs. ``demp train`` refuses a directory that
already holds a run unless it is told ``--resume`` or ``--overwrite`` (``run_files``,
``clear_run``), so the trimming never discards another run by surprise there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from demp.train.callbacks import Callback

if TYPE_CHECKING:
    from demp.train.api import TrainerAPI

METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "prune_events.jsonl"
CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
RUN_FILES = (METRICS_FILE, EVENTS_FILE, CHECKPOINT_DIR, MODEL_DIR)


def run_files(directory: str | Path) -> list[str]:
    """The files and folders of a run that ``directory`` holds (empty: it holds no run)."""
    d = Path(directory)
    return [name for name in RUN_FILES if (d / name).exists()]


def clear_run(directory: str | Path) -> list[str]:
    """Remove a run's files from ``directory`` (only those: anything else there stays)."""
    d = Path(directory)
    removed = run_files(d)
    for name in removed:
        path = d / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def _lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(line, record) for every line that decodes to a JSON object (a torn last line does not)."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            out.append((line, record))
    return out


def _rewrite(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)


def trim_logs(directory: str | Path, step: int, total_steps: int) -> dict[str, int]:
    """Keep the log lines a run starting at ``step`` continues from (see the module docstring);
    returns how many lines each file lost. Files are rewritten atomically, only if they change."""
    d = Path(directory)
    dropped: dict[str, int] = {}
    rules = {
        METRICS_FILE: lambda r: r["step"] < step or (r["step"] == step and not r.get("final")),
        EVENTS_FILE: lambda r: r["step"] < step or (r["step"] == step and step >= total_steps),
    }
    for name, keep in rules.items():
        path = d / name
        if not path.is_file():
            continue
        lines = _lines(path)
        kept = [line for line, record in lines if keep(record)]
        raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(kept) != len(raw):
            _rewrite(path, kept)
        dropped[name] = len(raw) - len(kept)
    return dropped


class JsonlLog(Callback):
    """metrics.jsonl (one line per evaluation) and prune_events.jsonl in the output directory;
    at the start of training the logs are trimmed to the run's step (``trim_logs``)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.metrics = directory / METRICS_FILE
        self.events = directory / EVENTS_FILE

    def on_train_start(self, trainer: TrainerAPI) -> None:
        trim_logs(self.directory, trainer.step, trainer.total_steps)

    def on_eval(self, trainer: TrainerAPI, metrics: dict[str, Any]) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps(metrics) + "\n")

    def on_prune(self, trainer: TrainerAPI, event: dict[str, Any]) -> None:
        with self.events.open("a") as f:
            f.write(json.dumps(event) + "\n")


__all__ = ["CHECKPOINT_DIR", "EVENTS_FILE", "METRICS_FILE", "MODEL_DIR", "RUN_FILES", "JsonlLog",
           "clear_run", "run_files", "trim_logs"]
