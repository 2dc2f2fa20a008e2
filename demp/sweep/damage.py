"""What ``demp sweep status`` checks before it calls a sweep done: do the ledgers agree?

A sweep's state lives in four places that a kill, a full disk or a careless copy can leave out
of step: the Optuna study, ``trials.jsonl``, the frontier files and Ray's results with the
trials' checkpoints (``ray/``). ``find_damage`` reads them all without changing anything (it
runs beside a user, not a driver) and returns two lists of lines:

- ``repairable``: what ``demp sweep resume`` repairs (damaged or missing lines in trials.jsonl
  or the journal, trials the study still counts as running, missing or stale frontier files);
- ``lost``: what no ledger can give back (checkpoints of finished trials, Ray's results).

Only meaningful while no driver runs: a driver's files are in flux (a line being appended looks
torn), so ``status`` asks only when the driver lock is free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from demp.results.outcome import SweepOutcome
from demp.results.records import TrialLog
from demp.spec.journal_repair import journal_damage
from demp.spec.layout import open_storage

CHECKPOINT_FILE = "checkpoint.pt"  # demp.train.checkpoint.CHECKPOINT_FILE (without torch)


@dataclass
class Damage:
    repairable: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.repairable or self.lost)


def find_damage(outcome: SweepOutcome) -> Damage:
    spec, paths = outcome.spec, outcome.paths
    damage = Damage()
    _, damaged = TrialLog(paths.trials).scan()
    damage.repairable += [f"trials.jsonl: line {n} is damaged ({why})" for n, why in damaged]
    if spec.storage is None:
        damage.repairable += journal_damage(paths.journal)
    damage.repairable += _frontier_files(outcome)
    damage.repairable += _study_disagreement(outcome)
    damage.lost += _lost_files(outcome)
    return damage


def _frontier_files(outcome: SweepOutcome) -> list[str]:
    paths = outcome.paths
    if not outcome.records:
        return []
    missing = [p.name for p in (paths.frontier_json, paths.frontier_csv, paths.frontier_png)
               if not p.exists()]
    if missing:
        return [f"{', '.join(missing)}: missing"]
    try:
        doc = json.loads(paths.frontier_json.read_text())
        listed = {row["trial_id"] for row in doc["frontier"]}
        counted = sum(doc["trials"][k] for k in ("complete", "truncated", "failed"))
    except (OSError, ValueError, KeyError, TypeError):
        return [f"{paths.frontier_json.name}: unreadable"]
    members = {r.trial_id for r in outcome.frontier.members}
    if listed != members or counted != len(outcome.records):
        return [f"{paths.frontier_json.name}: out of date (it lists {counted} trials, "
                f"trials.jsonl {len(outcome.records)})"]
    return []


def _study_disagreement(outcome: SweepOutcome) -> list[str]:
    """Trials the study and trials.jsonl see differently."""
    if outcome.spec.storage is None and not outcome.paths.journal.is_file():
        return []  # nothing to compare with: _lost_files reports it
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage(outcome.spec.storage, outcome.paths)
        study = optuna.load_study(study_name=outcome.spec.resolved_study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
    except Exception as exc:  # noqa: BLE001 - status reports it, whatever it is
        return [f"optuna: the study cannot be read ({' '.join(str(exc).split())[:200]})"]
    recorded = {r.trial_id: r for r in outcome.records}
    state_of = {"complete": "COMPLETE", "truncated": "PRUNED", "failed": "FAIL"}
    running, unrecorded, differ = [], [], []
    for t in trials:
        ray_id = t.user_attrs.get("ray_trial_id")
        if t.user_attrs.get("status") == "lost":
            continue
        if t.state == optuna.trial.TrialState.RUNNING:
            running.append(str(t.number))
        elif ray_id and t.state.is_finished() and ray_id not in recorded:
            unrecorded.append(ray_id)
        elif ray_id in recorded and state_of[recorded[ray_id].status] != t.state.name:
            differ.append(f"{ray_id} ({recorded[ray_id].status} in trials.jsonl, "
                          f"{t.state.name} in the study)")
    out = []
    if running:
        out.append(f"optuna: {len(running)} trial(s) still running in the study although no "
                   f"driver runs (numbers {', '.join(running[:10])})")
    if unrecorded:
        out.append(f"trials.jsonl: {len(unrecorded)} trial(s) finished in the study are not "
                   f"recorded ({', '.join(unrecorded[:5])})")
    if differ:
        out.append(f"optuna: {len(differ)} trial(s) end differently in the study: "
                   f"{'; '.join(differ[:5])}")
    return out


def _lost_files(outcome: SweepOutcome) -> list[str]:
    paths = outcome.paths
    lost = []
    if outcome.spec.storage is None and not paths.journal.is_file():
        lost.append(f"{paths.journal.name}: missing, and with it the Optuna study; trials.jsonl "
                    f"keeps the records, but the sweep cannot be resumed (copy trials.jsonl "
                    f"elsewhere, then start it again with `demp sweep run --overwrite`)")
    if not outcome.records:
        return lost
    again = ("to get a model back, train its parameters (in trials.jsonl) on the sweep's base "
             "config with `demp train`")
    if not paths.ray.is_dir():
        return lost + [f"{paths.ray.name}/: missing, with Ray's results and every trial's "
                       f"checkpoints; the records survive but no model can be exported; {again}"]
    gone = [r.trial_id for r in outcome.frontier.members
            if not r.checkpoint or not Path(r.checkpoint, CHECKPOINT_FILE).is_file()]
    if gone:
        lost.append(f"checkpoints: {len(gone)} frontier trial(s) have lost theirs "
                    f"({', '.join(gone[:5])}), so `demp sweep export` cannot write their models; "
                    f"{again}")
    return lost


__all__ = ["Damage", "find_damage"]
