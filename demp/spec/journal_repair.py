"""Repair of a damaged Optuna journal (``optuna.journal``), done by a driver that holds the lock.

The journal is one JSON operation per line, replayed in order by ``JournalStorage``. Optuna's
reader skips a bad *last* line but raises on a bad line anywhere else (``UnicodeDecodeError``
for bytes that are not UTF-8, even as the last line), and trial ids are implicit: the n-th
``CREATE_TRIAL`` line is trial id n. So a damaged line cannot simply be skipped: dropping a lost
trial creation would shift every later trial's operations onto its neighbour. ``heal_journal``:

1. removes Optuna's ``<journal>.lock`` left by a driver killed inside an append (the next writer
   would otherwise wait out Optuna's 30 s grace period);
2. keeps every line that parses as an operation, in order, and drops the others: a torn last
   line (a write the kill cut short), undecodable bytes, lines that are not JSON;
3. where a later operation names a trial (or study) that the kept lines never create, inserts
   a placeholder creation at the damaged line nearest before it, so ids line up again: the
   trial's parameters, attributes and state that follow in the journal all apply to it;
4. writes the result atomically and keeps the original beside it
   (``optuna.journal.damaged-<time>``): a repair never destroys bytes.

What a dropped line said is lost from the study, and ``demp.sweep.recovery.reconcile`` settles
the consequences from the other ledgers: a trial whose final ``tell`` was dropped is told again from
trials.jsonl or Ray's results, one whose fate no ledger knows is marked lost and replaced.
``journal_damage`` reports the same problems without changing anything (``demp sweep status``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# optuna.storages.journal._storage.JournalOperation (stable since Optuna 3.1)
CREATE_STUDY, CREATE_TRIAL = 0, 4
_STUDY_OPS = (1, 2, 3)        # delete study, set study user / system attribute
_TRIAL_OPS = (5, 6, 7, 8, 9)  # param, state + values, intermediate value, user / system attr
_KNOWN_OPS = range(0, 11)
REPAIR_WORKER = "demp-journal-repair"


@dataclass
class JournalScan:
    """The journal's lines, which of them are damaged (and why), and the parsed operations."""

    lines: list[bytes] = field(default_factory=list)
    ops: list[dict[str, Any] | None] = field(default_factory=list)
    damaged: dict[int, str] = field(default_factory=dict)  # line index -> reason

    def describe(self) -> list[str]:
        """One phrase per damaged line: where it is and what is wrong with it."""
        last = len(self.lines) - 1
        return [f"{'the last line' if i == last else f'line {i + 1} of {len(self.lines)}'} "
                f"({why}, {len(self.lines[i])} bytes)" for i, why in self.damaged.items()]


def scan_journal(path: Path) -> JournalScan:
    scan = JournalScan()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return scan
    scan.lines = data.splitlines(keepends=True)
    for i, line in enumerate(scan.lines):
        op, why = _parse(line)
        scan.ops.append(op)
        if why:
            scan.damaged[i] = why
    return scan


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str]:
    if not line.endswith(b"\n"):
        return None, "torn: no line end"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 at byte {err.start}"
    try:
        op = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None, "not JSON"
    if not isinstance(op, dict) or op.get("op_code") not in _KNOWN_OPS:
        return None, "not an Optuna journal operation"
    return op, ""


def lock_path(journal: Path) -> Path:
    return Path(str(journal) + ".lock")


def journal_damage(journal: Path) -> list[str]:
    """What ``heal_journal`` would repair, as lines for people; changes nothing."""
    out = [f"{journal.name}: {d} is damaged" for d in scan_journal(journal).describe()]
    lock = lock_path(journal)
    if lock.is_symlink() or lock.exists():
        out.append(f"{lock.name}: Optuna's lock was left behind by a driver killed while writing")
    return out


def heal_journal(journal: Path, study_name: str | None = None,
                 directions: list[str] | None = None) -> list[str]:
    """Repair ``journal`` in place (see the module docstring); returns what was done, one line
    per action. Call only while holding the sweep's driver lock. ``study_name`` and
    ``directions`` re-create the study should its own creation be a damaged line."""
    notes = []
    lock = lock_path(journal)
    if lock.is_symlink() or lock.exists():
        lock.unlink()
        notes.append(f"removed Optuna's stale lock {lock.name}")
    scan = scan_journal(journal)
    if not scan.damaged:
        return notes
    kept, inserted = _rebuilt_lines(scan, study_name, directions)
    backup = journal.with_name(f"{journal.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    shutil.copy2(journal, backup)
    tmp = journal.with_name(journal.name + ".repair")
    with tmp.open("wb") as f:
        f.writelines(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, journal)
    what = f"dropped {len(scan.damaged)} damaged line(s): {'; '.join(scan.describe())}"
    if inserted:
        what += f"; re-created {inserted} lost creation(s) in their place"
    notes.append(f"{journal.name}: {what}; the original is kept as {backup.name}")
    return notes


def _rebuilt_lines(scan: JournalScan, study_name: str | None,
                   directions: list[str] | None) -> tuple[list[bytes], int]:
    """The kept lines with placeholder creations where later operations need them."""
    out: list[bytes | None] = []          # None: a damaged line not (yet) used
    gaps: list[int] = []                  # indices into `out` of unused damaged lines
    trials = studies = 0
    last_create: dict[str, Any] = {"study_id": 0, "datetime_start": None}
    inserted = 0

    def fill(kind: str, need: int) -> int:
        nonlocal inserted
        filled = 0
        while filled < need and gaps:
            at = gaps.pop()               # the damaged line nearest before this operation
            if kind == "trial":
                op = {"op_code": CREATE_TRIAL, "worker_id": REPAIR_WORKER,
                      "study_id": last_create["study_id"],
                      "datetime_start": last_create["datetime_start"]}
            elif study_name is None or directions is None:
                gaps.append(at)  # a study cannot be re-created without its name
                break
            else:
                op = {"op_code": CREATE_STUDY, "worker_id": REPAIR_WORKER,
                      "study_name": study_name, "directions": _direction_codes(directions)}
            out[at] = (json.dumps(op, separators=(",", ":")) + "\n").encode()
            filled += 1
        inserted += filled
        return filled

    for i, line in enumerate(scan.lines):
        op = scan.ops[i]
        if op is None:
            gaps.append(len(out))
            out.append(None)
            continue
        code = op["op_code"]
        if code == CREATE_STUDY:
            studies += 1
        elif code == CREATE_TRIAL:
            sid = op.get("study_id")
            if isinstance(sid, int) and sid >= studies:
                studies += fill("study", sid + 1 - studies)
            trials += 1
            last_create = {"study_id": op.get("study_id", 0),
                           "datetime_start": op.get("datetime_start")}
        elif code in _TRIAL_OPS:
            tid = op.get("trial_id")
            if isinstance(tid, int) and tid >= trials:
                trials += fill("trial", tid + 1 - trials)
        elif code in _STUDY_OPS:
            sid = op.get("study_id")
            if isinstance(sid, int) and sid >= studies:
                studies += fill("study", sid + 1 - studies)
        out.append(line)
    return [line for line in out if line is not None], inserted


def _direction_codes(directions: list[str]) -> list[int]:
    # optuna.study.StudyDirection: MINIMIZE = 1, MAXIMIZE = 2
    return [2 if d == "maximize" else 1 for d in directions]


__all__ = ["JournalScan", "heal_journal", "journal_damage", "lock_path", "scan_journal"]
