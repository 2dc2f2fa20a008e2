"""A sweep trial's pruned model and config, copied out of the sweep directory ready to load.

``export_trial(load_sweep(DIR), TRIAL)`` copies the trial's final ``checkpoint.pt`` to
``DIR/exports/<trial id>/`` (or ``output``), proves it loads, and writes ``config.yaml`` (the
trial's own, resolved trainer config: ``demp train config.yaml --resume <dir>`` continues it) and
``trial.json`` (ids, status, frontier membership, parameters, final metrics).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from demp.errors import TrialError
from demp.results.outcome import SweepOutcome
from demp.results.records import TrialRecord


def find_record(records: list[TrialRecord], key: str) -> TrialRecord:
    """A record by Ray trial id, unique id prefix, or Optuna trial number."""
    exact = [r for r in records if r.trial_id == key]
    if exact:
        return exact[0]
    if key.isdigit():
        numbered = [r for r in records if r.number == int(key)]
        if numbered:
            return numbered[0]
    prefixed = [r for r in records if r.trial_id.startswith(key)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise TrialError(f"{key!r} matches several trials "
                          f"({', '.join(r.trial_id for r in prefixed)})")
    raise TrialError(f"no finished trial {key!r} in this sweep")


def export_trial(outcome: SweepOutcome, key: str, output: Path | None = None) -> Path:
    """Copy a trial's final checkpoint and write its config: loadable with ``load_model``."""
    from demp.train.checkpoint import CHECKPOINT_FILE, load_model  # torch, only when exporting

    record = find_record(outcome.records, key)
    if record.status == "failed" or not record.checkpoint:
        raise TrialError(f"{record.trial_id} has no usable checkpoint "
                          f"({record.status}{': ' + record.reason if record.reason else ''})")
    source = Path(record.checkpoint)
    if not (source / CHECKPOINT_FILE).is_file():
        raise TrialError(f"checkpoint of {record.trial_id} is missing at {source}")
    target = output or outcome.paths.export_dir(record.trial_id)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / CHECKPOINT_FILE, target / CHECKPOINT_FILE)
    _, cfg = load_model(target)  # proves it loads; the config is the trial's own
    (target / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"),
                                                       sort_keys=False))
    (target / "trial.json").write_text(json.dumps(
        {"trial_id": record.trial_id, "optuna_trial": record.number, "status": record.status,
         "on_frontier": outcome.frontier.on_frontier(record.trial_id), "params": record.params,
         "metrics": record.metrics, "sweep": str(outcome.paths.root)}, indent=2, default=str))
    return target


__all__ = ["export_trial", "find_record"]
