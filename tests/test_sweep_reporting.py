"""What a sweep trial reports to Ray Tune and when (issue #17), without Ray running: the report
plan against the scheduler's own rule, the checkpoint cadence, slim results and the full record
the driver's ledger gets back, and the per-evaluation history old and new sweeps are read from."""

from __future__ import annotations

import json
from pathlib import Path

from demp.results.history import read_trial_history, record_at
from demp.spec import validate_spec
from demp.sweep.reporting import RESULT_KEYS, ReportToTune, full_result, slim
from demp.sweep.scheduler import ParetoAsha, report_plan
from demp.train.cadence import checkpoint_due

BASE = {"model": {"name": "mlp", "hidden": [16, 16]}, "data": {"name": "digits"},
        "max_steps": 120, "eval_interval": 15, "device": "cpu",
        "demp": {"death": {"prune_interval": 30}}}


def _spec(tmp_path: Path, **fields: object):
    return validate_spec({"name": "r", "output_root": str(tmp_path), "base": BASE,
                          "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0}},
                          "trials": 4, **fields})


def _evals(values=(0.9, 0.1)) -> list[dict]:
    return [{"step": s, "progress": s / 120, "val_acc": values[0], "param_sparsity": values[1],
             "final": s == 120} for s in range(15, 121, 15)]


def _reported(reporter: ReportToTune) -> list[int]:
    return [e["step"] for e in _evals() if reporter.wants(e)]


def test_without_early_stopping_only_the_final_record_is_reported(tmp_path):
    spec = _spec(tmp_path)
    config = {"base": BASE, "report": report_plan(spec)}
    assert report_plan(spec) == {"kind": "final"}
    assert _reported(ReportToTune(spec.metrics, config)) == [120]
    # a resumed attempt also reports its first evaluation (a scheduler may stop it again) —
    # but with nothing to stop it, there is nothing to report early
    assert _reported(ReportToTune(spec.metrics, config, resumed=True)) == [120]


def test_asha_gets_every_evaluation_and_an_old_config_too(tmp_path):
    spec = _spec(tmp_path, early_stopping={"metric": "val_acc"})
    assert report_plan(spec) == {"kind": "every"}
    steps = list(range(15, 121, 15))
    assert _reported(ReportToTune(spec.metrics, {"base": BASE, "report": report_plan(spec)})) \
        == steps
    assert _reported(ReportToTune(spec.metrics, {"base": BASE})) == steps  # pre-#17 pickles


def test_pareto_asha_gets_exactly_the_evaluations_it_judges(tmp_path):
    spec = _spec(tmp_path, early_stopping={"kind": "pareto_asha", "rungs": [0.2, 0.5],
                                           "recovery": 0.6})
    plan = report_plan(spec)
    assert plan == {"kind": "rungs", "rungs": [0.2, 0.5], "recovery": 0.6}
    reporter = ReportToTune(spec.metrics, {"base": BASE, "report": plan})
    scheduler = ParetoAsha(list(zip(spec.metrics, spec.directions)), rungs=[0.2, 0.5],
                           recovery=0.6)
    for e in _evals():
        scheduler.decide("t", e, 30)
    judged = [d["step"] for d in scheduler.decisions]
    # rung 0.2 is reached at step 30 (a prune follows that evaluation, so it is judged), 0.5 at
    # step 60; the trial reports exactly those, and its final record
    assert judged == [30, 60]
    assert _reported(reporter) == [30, 60, 120]
    resumed = ReportToTune(spec.metrics, {"base": BASE, "report": plan}, resumed=True)
    assert _reported(resumed) == [15, 30, 60, 120]


def test_checkpoint_cadence_rule():
    assert checkpoint_due(40, None) and checkpoint_due(40, None, since_last_s=0, period_s=0)
    assert not checkpoint_due(40, None, since_last_s=59.9, period_s=60)
    assert checkpoint_due(40, None, since_last_s=60.0, period_s=60)
    # steps win over time when set
    assert checkpoint_due(100, 50, since_last_s=0, period_s=60)
    assert not checkpoint_due(120, 50, since_last_s=1e9, period_s=60)


def test_results_are_slim_and_the_ledger_gets_the_full_record_back(tmp_path):
    record = {"step": 60, "val_acc": 0.9, "param_sparsity": 0.3, "live_units/fc0": 7,
              "dead_fraction/fc0": 0.5, "regularizer": 1.5, "final": True, "complete": True}
    result = slim(record, ["val_acc"])
    assert set(result) <= set(RESULT_KEYS) and "live_units/fc0" not in result
    result.update(time_total_s=3.0, config={"big": 1})
    trial = tmp_path / "trial_x"
    trial.mkdir()
    nested = {"step": 60, "val_acc": 0.9, "live_units": {"fc0": 7}, "dead_fraction": {"fc0": 0.5}}
    (trial / "metrics.jsonl").write_text(json.dumps({**nested, "step": 30}) + "\n"
                                         + json.dumps(nested) + "\n")
    full = full_result(result, trial)
    assert full["live_units/fc0"] == 7 and full["time_total_s"] == 3.0 and "config" not in full
    ckpt = tmp_path / "checkpoint_000000"
    ckpt.mkdir()
    (ckpt / "record.json").write_text(json.dumps(record))
    assert full_result(result, None, ckpt)["regularizer"] == 1.5
    (ckpt / "record.json").write_text(json.dumps({**record, "step": 30}))  # an older checkpoint
    assert "regularizer" not in full_result(result, trial, ckpt)
    assert full_result({"step": 60, "failed": True}, trial) == {"step": 60, "failed": True}


def test_history_reads_the_trials_own_file_and_falls_back_to_rays(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    rows = [{"step": 15, "val_acc": 0.5, "live_units/fc0": 9}, {"step": 30, "val_acc": 0.6},
            {"step": 15, "val_acc": 0.55, "live_units/fc0": 8}, {"step": 30, "replayed": True}]
    (old / "result.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n{torn")
    assert [(r["step"], r["val_acc"]) for r in read_trial_history(old)] == [(15, 0.55), (30, 0.6)]
    new = tmp_path / "new"
    new.mkdir()
    (new / "result.json").write_text(json.dumps({"step": 30, "val_acc": 0.6}) + "\n")
    (new / "metrics.jsonl").write_text(json.dumps({"step": 15, "live_units": {"fc0": 3}}) + "\n"
                                       + json.dumps({"step": 30, "live_units": {"fc0": 2}}))
    assert [r["live_units/fc0"] for r in read_trial_history(new)] == [3, 2]
    assert record_at(new, 15) == {"step": 15, "live_units/fc0": 3}
    assert record_at(new, 45) is None


def test_the_reader_and_the_writer_name_the_same_per_evaluation_file():
    from demp.results.history import METRICS_FILE as read_from
    from demp.train.rundir import METRICS_FILE as written_to

    assert read_from == written_to
