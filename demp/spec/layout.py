"""The sweep directory: its layout, its Optuna storage, and the lock of the driver that owns it.

A sweep directory is self-contained, so ``demp sweep resume DIR`` needs nothing but the path::

    <output_root>/<name>/
      spec.yaml        the validated spec with all defaults filled in (what resume reads back)
      sweep.json       bookkeeping: absolute directory, study name, storage kind, driver runs
      optuna.journal   the Optuna study (JournalStorage) unless spec.storage names a database;
                       ``demp sweep dashboard <dir>`` (optuna-dashboard) reads it live
      ray/             the Ray Tune experiment: tuner.pkl, experiment_state-*.json, searcher
                       state, and one ``trial_<id>/`` per trial: Ray's result.json (the
                       few results reported to Tune) and error.txt, the trial's own
                       metrics.jsonl (every evaluation, full record) and prune_events.jsonl,
                       ``checkpoint_NNNNNN/`` = checkpoint.pt + record.json
      trials.jsonl     one line per trial that ended: complete | truncated | failed (+ reason),
                       its parameters, final metrics and checkpoint; the frontier's source
      frontier.csv     the current Pareto frontier (complete trials only), one row per trial
      frontier.json    frontier rows + objectives, reference point, hypervolume and its history
      frontier.png     accuracy vs. sparsity, frontier highlighted, dominated trials grey
      scheduler_state.json  Pareto ASHA's rung records and decisions (early_stopping:
                       pareto_asha), what a resumed driver's scheduler continues from
      driver.pid       the driver lock (an flock, ``demp.spec.lock``) and "pid host" of its
                       holder; one left by a killed driver holds no lock and is taken over
      replicates.jsonl replicates: search trials' configs re-run on further seeds
                       (``demp.sweep.replicates``), one line per ended replicate
      frontier_replicates.csv / .json / .png  the frontier of the configurations' means over
                       their seeds, with spreads and intervals (``demp.results.replicated``)
      driver.log       Ray's own log lines while a driver ran (``demp.sweep.driver_log``)
      wandb/           W&B run directories (``offline-run-*`` / ``run-*``): one per attempt of
                       each trial (job_type trial) and per driver run (the sweep's own run);
                       upload offline ones with ``wandb sync <dir>/wandb/offline-run-*``
      report/          what ``demp sweep report`` wrote: index.html (self-contained) and PNGs
      exports/<trial>/ what ``demp sweep export`` wrote

Only one driver may work on a sweep at a time (``DriverLock``, ``demp.spec.lock``): two drivers
would both ask Optuna for trials and both append to trials.jsonl. The lock is also what makes it
safe, on resume, to repair what a SIGKILL can leave behind in the ledgers
(``demp.spec.journal_repair``, ``demp.sweep.ledger_repair``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demp.errors import SweepDirectoryError
from demp.spec.lock import DriverLock, driver_owner  # noqa: F401  (the lock, re-exported)

SPEC_FILE = "spec.yaml"
META_FILE = "sweep.json"
JOURNAL_FILE = "optuna.journal"
RAY_DIR = "ray"
TRIALS_FILE = "trials.jsonl"
DRIVER_FILE = "driver.pid"
WANDB_DIR = "wandb"
REPORT_DIR = "report"


def trial_dirname(trial_id: str) -> str:
    """The directory name of one Ray trial in any experiment of a sweep (Tune's
    ``trial_dirname_creator``): ``trial_<id>``, where the trial also keeps its own files."""
    return f"trial_{trial_id}"


@dataclass(frozen=True)
class SweepPaths:
    """Every path of one sweep directory (see the module docstring)."""

    root: Path

    @classmethod
    def for_spec(cls, output_root: Path, name: str) -> "SweepPaths":
        return cls(Path(output_root, name).resolve())

    @property
    def spec(self) -> Path:
        return self.root / SPEC_FILE

    @property
    def meta(self) -> Path:
        return self.root / META_FILE

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL_FILE

    @property
    def ray(self) -> Path:
        return self.root / RAY_DIR

    @property
    def trials(self) -> Path:
        return self.root / TRIALS_FILE

    @property
    def frontier_csv(self) -> Path:
        return self.root / "frontier.csv"

    @property
    def frontier_json(self) -> Path:
        return self.root / "frontier.json"

    @property
    def frontier_png(self) -> Path:
        return self.root / "frontier.png"

    @property
    def driver(self) -> Path:
        return self.root / DRIVER_FILE

    @property
    def replicates(self) -> Path:
        return self.root / "replicates.jsonl"

    @property
    def driver_log(self) -> Path:
        return self.root / "driver.log"

    @property
    def wandb(self) -> Path:
        """W&B's run directories; ``wandb.init(dir=root)`` puts them here."""
        return self.root / WANDB_DIR

    @property
    def report(self) -> Path:
        return self.root / REPORT_DIR

    def trial_dir(self, trial_id: str) -> Path:
        """Ray's directory of one trial (``trial_dirname_creator``), where the trial also keeps
        its own per-evaluation files (``metrics.jsonl``, ``prune_events.jsonl``)."""
        return self.ray / trial_dirname(trial_id)

    def export_dir(self, trial_id: str) -> Path:
        return self.root / "exports" / trial_id

    def is_sweep(self) -> bool:
        return self.spec.is_file()


DEFAULT_OUTPUT_ROOT = Path("sweeps_out")  # the spec's output_root default


def sweep_directory(arg: str | Path) -> Path:
    """What a user typed where a sweep directory is expected: the directory itself, or a sweep
    name under the default output root (``demp sweep status digits-quick`` reads
    ``sweeps_out/digits-quick``), as Ray Tune and W&B address experiments by name."""
    given = Path(arg)
    if SweepPaths(given.resolve()).is_sweep():
        return given
    by_name = DEFAULT_OUTPUT_ROOT / given
    if len(given.parts) == 1 and SweepPaths(by_name.resolve()).is_sweep():
        return by_name
    return given


def not_a_sweep(paths: SweepPaths) -> str:
    """Why ``paths.root`` cannot be read as a sweep directory, in the user's terms."""
    if not paths.root.exists():
        return (f"{paths.root}: no such directory (give a sweep directory, "
                f"<output_root>/<name>, or the name of a sweep in {DEFAULT_OUTPUT_ROOT}/)")
    if not paths.root.is_dir():
        return f"{paths.root}: is a file, not a sweep directory"
    return (f"{paths.root}: not a sweep directory (it has no {SPEC_FILE}; `demp sweep run` "
            f"creates <output_root>/<name>/ with one)")


# ------------------------------------------------------------------------------ Optuna storage


def open_storage(url: str | None, paths: SweepPaths) -> Any:
    """The Optuna storage: a database URL as given, else the sweep's journal file.

    The journal (one JSON line per operation, appended under a file lock) is what lets
    optuna-dashboard read the study while the driver writes it, without a database server.
    """
    if url:
        from demp.spec.database import open_rdb_storage

        return open_rdb_storage(url)
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(paths.journal)))


def storage_label(url: str | None, paths: SweepPaths) -> str:
    """What to pass to ``optuna-dashboard`` to watch this sweep."""
    return url or str(paths.journal)


def study_exists(storage: Any, study_name: str) -> bool:
    import optuna

    return study_name in optuna.study.get_all_study_names(storage)


def repair_journal(paths: SweepPaths, study_name: str | None = None,
                   directions: list[str] | None = None) -> list[str]:
    """Undo what a killed driver or damaged bytes left in the journal; call only while holding
    the lock (``demp.spec.journal_repair.heal_journal``). Returns what was fixed."""
    from demp.spec.journal_repair import heal_journal

    return heal_journal(paths.journal, study_name, directions)


def read_meta(paths: SweepPaths) -> dict[str, Any]:
    try:
        return json.loads(paths.meta.read_text())
    except FileNotFoundError:
        return {}


def record_driver_run(paths: SweepPaths, kind: str, study_name: str, storage: str) -> None:
    """Append this driver run to sweep.json (written atomically)."""
    meta = read_meta(paths)
    meta.setdefault("dir", str(paths.root))
    meta["study_name"] = study_name
    meta["storage"] = storage
    meta.setdefault("runs", []).append(
        {"kind": kind, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    tmp = paths.meta.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, paths.meta)


def check_not_moved(paths: SweepPaths) -> None:
    """Ray's experiment state and the searcher hold absolute paths: resume must run in place."""
    recorded = read_meta(paths).get("dir")
    if recorded and Path(recorded).resolve() != paths.root:
        raise SweepDirectoryError(f"{paths.root}: this sweep was created at {recorded}; resume it there "
                          f"(Ray's experiment state and the Optuna journal path are absolute)")
