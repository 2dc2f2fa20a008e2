"""``reproducible: true``: suggestions in fixed batches, so the finish order of concurrent trials
cannot change which trials a spec and seed produce.

The searcher is driven as Ray's loop drives it (``suggest`` for each free slot,
``on_trial_complete`` as trials end), with the two trials of each batch ending in one order and
then in the other. Without batches, TPE's next suggestion depends on which trial ended first.
"""

from __future__ import annotations

import optuna
import pytest

from demp.spec import validate_spec
from demp.sweep.search import make_searcher

optuna.logging.set_verbosity(optuna.logging.WARNING)


def spec_data(reproducible: bool, **extra) -> dict:
    return {"name": "rep", "trials": 8, "max_concurrent": 2, "reproducible": reproducible,
            "sampler": {"name": "tpe", "seed": 3, "n_startup_trials": 1},
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0, "log": True},
                      "optimizer.lr": {"low": 1e-3, "high": 1e-1, "log": True}}, **extra}


def drive(reproducible: bool, first_ends_first: bool) -> list[dict]:
    """Run 8 trials two at a time through the searcher; the objective is a fixed function of
    the parameters, so only the order of endings differs between calls."""
    spec = validate_spec(spec_data(reproducible))
    limiter = make_searcher(spec, optuna.storages.InMemoryStorage())
    suggested: dict[str, dict] = {}
    running: list[str] = []
    n = 0
    while len(suggested) < spec.trials or running:
        while len(suggested) < spec.trials:  # Ray asks for as many as the limiter gives
            tid = f"t{n}"
            s = limiter.suggest(tid)
            if not isinstance(s, dict):
                break
            n += 1
            suggested[tid] = s
            running.append(tid)
        tid = running.pop(0 if first_ends_first or len(running) == 1 else 1)
        p = suggested[tid]["params"]
        limiter.on_trial_complete(tid, result={
            "complete": True, "failed": False, "val_acc": 1 - abs(p["optimizer.lr"] - 0.03),
            "param_sparsity": p["demp.regularizer.peak"]})
    return [suggested[t] for t in sorted(suggested, key=lambda t: suggested[t]["optuna_trial"])]


def test_reproducible_mode_gives_the_same_trials_whatever_the_finish_order():
    a, b = drive(True, True), drive(True, False)
    assert len(a) == 8 and a == b


def test_without_batches_the_finish_order_changes_the_trials():
    """The reason the mode exists (and proof that the test above could fail)."""
    assert drive(False, True) != drive(False, False)


@pytest.mark.parametrize("extra, field", [
    ({"early_stopping": {"metric": "val_acc", "grace_period": 1}}, "early_stopping"),
    ({"time_budget_s": 60}, "time_budget_s")])
def test_reproducible_refuses_what_depends_on_timing(extra, field):
    from demp.errors import ConfigError

    with pytest.raises(ConfigError, match=f"reproducible: excludes {field}"):
        validate_spec(spec_data(True, **extra))
