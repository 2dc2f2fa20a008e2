"""A sweep trial's pruned model and config, copied out of the sweep directory ready to load.

``export_trial(load_sweep(DIR), TRIAL)`` copies the trial's final ``checkpoint.pt`` to
``DIR/exports/<trial id>/`` (or ``output``), proves it loads, and writes ``config.yaml`` (the
trial's own, resolved trainer config) and ``trial.json`` (ids, status, frontier membership,
parameters, final metrics, and ``preprocessing``: what the model's raw inputs are and how the
trainer normalized them, nothing left implicit).

An export stands alone: ``demp.train.load_export(dir).predict(X)`` classifies raw inputs (for
digits, ``load_digits()`` as it comes), applying that normalization inside the model, and
``demp train --finetune <dir> --set epochs=N`` trains it further with pruning frozen.
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
    """Copy a trial's final checkpoint and write its config and ``trial.json``: loadable with
    ``demp.train.load_export`` (raw inputs) or ``load_model`` (the bare network)."""
    from demp.data import preprocessing_for  # torch, only when exporting
    from demp.train.checkpoint import CHECKPOINT_FILE, model_of, read

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
    data = read(target)
    _, cfg = model_of(data)  # proves it loads; the config is the trial's own
    preprocessing = data.get("preprocessing") or preprocessing_for(cfg.data)
    (target / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"),
                                                       sort_keys=False))
    (target / "trial.json").write_text(json.dumps(
        {"trial_id": record.trial_id, "optuna_trial": record.number, "status": record.status,
         "on_frontier": outcome.frontier.on_frontier(record.trial_id), "params": record.params,
         "metrics": record.metrics, "sweep": str(outcome.paths.root),
         "preprocessing": preprocessing}, indent=2, default=str))
    return target


__all__ = ["export_trial", "find_record"]
