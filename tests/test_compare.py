"""``demp sweep compare``: hypervolumes under one reference agree with the per-sweep ones, the
union frontier is attributed to the right sweeps, and ``method`` is searchable end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from demp.cli import main
from demp.config import ConfigError
from demp.results import TrialLog, TrialRecord, compare_sweeps, hypervolume, load_sweep
from demp.spec import SweepPaths, dump_spec, validate_spec

BASE = {"model": {"name": "mlp", "hidden": [16, 16]}, "data": {"name": "digits"},
        "max_steps": 40, "eval_interval": 20, "threads": 1, "device": "cpu"}
DIRS = ["maximize", "maximize"]


def fake_sweep(root: Path, name: str, points: list[tuple[float, float]], method: str = "demp",
               objectives: list[dict] | None = None, failed: int = 0) -> Path:
    """A sweep directory as a finished sweep leaves it: spec.yaml and trials.jsonl."""
    data = {"name": name, "output_root": str(root), "trials": len(points) + failed,
            "base": dict(BASE, method=method),
            "space": {"baseline.density": {"low": 0.05, "high": 0.9}}}
    if objectives is not None:
        data["objectives"] = objectives
    spec = validate_spec(data)
    paths = SweepPaths.for_spec(root, name)
    paths.root.mkdir(parents=True)
    paths.spec.write_text(dump_spec(spec))
    log = TrialLog(paths.trials)
    for i, (acc, sp) in enumerate(points):
        log.append(TrialRecord(trial_id=f"t{i:05d}", status="complete", number=i,
                               params={"baseline.density": 1 - sp},
                               metrics={"val_acc": acc, "param_sparsity": sp,
                                        "neural_sparsity": sp / 2, "step": 40}))
    for i in range(failed):
        log.append(TrialRecord(trial_id=f"f{i:05d}", status="failed", reason="diverged",
                               metrics={"val_acc": float("nan")}))
    return paths.root


DEMP = [(0.95, 0.2), (0.93, 0.5), (0.90, 0.7), (0.80, 0.6), (0.50, 0.9)]
SNAP = [(0.96, 0.1), (0.91, 0.5), (0.85, 0.75), (0.60, 0.95)]


def run_cli(argv: list[str]) -> int:
    return main(["sweep", *argv])


def test_hypervolumes_under_a_shared_reference_equal_the_per_sweep_ones(tmp_path):
    a = fake_sweep(tmp_path, "demp", DEMP, failed=1)
    b = fake_sweep(tmp_path, "snap", SNAP, method="snap")
    c = compare_sweeps([a, b])
    assert c.reference == [0.1, 0.0]
    for entry, d, pts in zip(c.entries, (a, b), (DEMP, SNAP)):
        own = load_sweep(d).frontier.hypervolume  # what `demp sweep status` reports
        assert entry.frontier.hypervolume == pytest.approx(own, rel=1e-12)
        assert own == pytest.approx(hypervolume(pts, DIRS, [0.1, 0.0]))
    assert [e.method for e in c.entries] == ["demp", "snap"]
    assert [e.label for e in c.entries] == ["demp", "snap"]
    # union frontier: DEMP (0.93,0.5) beats SNAP (0.91,0.5); SNAP wins the ends
    assert sorted(r.trial_id for r in c.union.members) == [
        "demp/t00000", "demp/t00001", "demp/t00002", "snap/t00000", "snap/t00002",
        "snap/t00003"]
    assert [e.on_union for e in c.entries] == [3, 3]
    assert c.union_hypervolume == pytest.approx(hypervolume(DEMP + SNAP, DIRS, [0.1, 0.0]))
    assert c.union_hypervolume > max(e.frontier.hypervolume for e in c.entries)


def test_different_references_use_the_least_favourable_one(tmp_path):
    strict = [{"metric": "val_acc", "reference": 0.5}, {"metric": "param_sparsity"}]
    a = fake_sweep(tmp_path, "demp", DEMP)
    b = fake_sweep(tmp_path, "strict", SNAP, objectives=strict)
    c = compare_sweeps([a, b])
    assert c.reference == [0.1, 0.0]
    assert c.entries[1].own_hypervolume == pytest.approx(hypervolume(SNAP, DIRS, [0.5, 0.0]))
    assert c.entries[1].frontier.hypervolume == pytest.approx(
        hypervolume(SNAP, DIRS, [0.1, 0.0]))
    given = compare_sweeps([a, b], reference=[0.7, 0.3])
    assert [e.frontier.hypervolume for e in given.entries] == pytest.approx(
        [hypervolume(DEMP, DIRS, [0.7, 0.3]), hypervolume(SNAP, DIRS, [0.7, 0.3])])


def test_mismatched_objectives_or_reference_are_errors(tmp_path):
    a = fake_sweep(tmp_path, "demp", DEMP)
    other = [{"metric": "val_acc"}, {"metric": "neural_sparsity"}]
    b = fake_sweep(tmp_path, "neural", SNAP, objectives=other)
    with pytest.raises(ConfigError, match=r"neural: objectives maximize val_acc, maximize "
                       r"neural_sparsity differ from .*demp's"):
        compare_sweeps([a, b])
    with pytest.raises(ConfigError, match=r"^--reference: 3 values for 2 objectives"):
        compare_sweeps([a], reference=[0.1, 0.0, 1.0])
    with pytest.raises(ConfigError, match="nowhere: no such directory"):
        compare_sweeps([a, tmp_path / "nowhere"])


def test_compare_command_prints_the_same_hypervolumes_and_writes_one_plot(tmp_path, capsys):
    a = fake_sweep(tmp_path, "demp", DEMP)
    b = fake_sweep(tmp_path, "snap", SNAP, method="snap")
    png = tmp_path / "out" / "cmp.png"
    assert run_cli(["compare", str(a), str(b), "--output", str(png), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert doc["reference_point"] == [0.1, 0.0]
    for s, d in zip(doc["sweeps"], (a, b)):
        assert s["hypervolume"] == pytest.approx(load_sweep(d).frontier.hypervolume, rel=1e-12)
        assert s["hypervolume"] == s["own_hypervolume"]
    assert [len(s["frontier"]) for s in doc["sweeps"]] == [4, 4]
    assert [s["method"] for s in doc["sweeps"]] == ["demp", "snap"]

    assert run_cli(["compare", str(a), str(b), "--output", str(png), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["sweep"], r["val_acc"]) for r in rows][:3] == [
        ("demp", "0.95"), ("demp", "0.93"), ("demp", "0.9")]
    assert [r["on_union_frontier"] for r in rows] == [  # DemP's 0.5 and SNAP's 0.91 lose
        "True", "True", "True", "False", "True", "False", "True", "True"]

    assert run_cli(["compare", str(a), str(b), "--output", str(png),
                    "--reference", "0.5,0.2"]) == 0
    out = capsys.readouterr().out
    hv = hypervolume(SNAP, DIRS, [0.5, 0.2]) / hypervolume(DEMP, DIRS, [0.5, 0.2])
    assert "val_acc=0.5, param_sparsity=0.2" in out and f"{hv:.3f}" in out

    # a bad sweep directory is one error line naming it, exit status 2
    assert run_cli(["compare", str(a), str(tmp_path / "nowhere"), "--output", str(png)]) == 2
    assert f"error: sweep directory: {tmp_path / 'nowhere'}: no such directory" in \
        capsys.readouterr().err


# ------------------------------------------------------------------------------ end to end


def test_method_is_searchable_in_a_real_sweep(tmp_path, ray_address):
    """One trial per method (grid over `method`) through Ray workers: each trial ran its
    method (configs cross as dicts and are re-validated), and the frontier reads them all."""
    from demp.sweep import run_sweep

    spec = validate_spec({
        "name": "methods", "output_root": str(tmp_path), "trials": 3, "max_concurrent": 2,
        "base": dict(BASE, optimizer={"lr": 0.03}, baseline={"density": 0.25,
                                                              "score_batches": 2}),
        "space": {"method": {"choices": ["demp", "snap", "early_crop_s"]}},
        "sampler": {"name": "grid", "seed": 0}, "wandb": {"mode": "disabled"}})
    outcome = run_sweep(spec)
    records = {r.params["method"]: r for r in outcome.records}
    assert set(records) == {"demp", "snap", "early_crop_s"}
    assert all(r.status == "complete" for r in records.values())
    for method in ("snap", "early_crop_s"):  # 32 units at density 0.25 → 8 kept
        m = records[method].metrics
        assert m["live_units/fc0"] + m["live_units/fc1"] == 8
        assert m["neural_sparsity"] == pytest.approx(0.75)
    assert records["demp"].metrics["neural_sparsity"] < 0.75
    c = compare_sweeps([outcome.paths.root])
    assert c.entries[0].method == "searched: demp | snap | early_crop_s"
    assert c.entries[0].frontier.hypervolume == pytest.approx(outcome.frontier.hypervolume)


def test_shipped_comparison_specs_differ_only_in_method_and_space():
    from demp.spec import load_spec

    root = Path(__file__).resolve().parents[1] / "sweeps"
    specs = {n: load_spec(root / f"digits-compare-{n}.yaml")
             for n in ("demp", "earlycrop", "slimming")}
    assert {n: s.base.method for n, s in specs.items()} == {
        "demp": "demp", "earlycrop": "early_crop_s", "slimming": "slimming"}
    same = ("model", "data", "optimizer", "lr_schedule", "epochs", "max_steps", "seed",
            "eval_interval", "label_smoothing")
    first = specs["demp"]
    for s in specs.values():
        assert {k: getattr(s.base, k) for k in same} == {k: getattr(first.base, k) for k in same}
        assert (s.trials, s.sampler, s.objectives, s.reference_point(), s.max_concurrent) == (
            first.trials, first.sampler, first.objectives, first.reference_point(),
            first.max_concurrent)
    # slimming fine-tunes inside the same 20 epochs
    assert specs["slimming"].base.baseline.slimming.finetune_epochs < first.base.epochs


def test_unequal_budgets_are_flagged_and_equal_trials_counts_the_same_number(tmp_path, capsys):
    a = fake_sweep(tmp_path, "a", DEMP)                # 5 trials
    b = fake_sweep(tmp_path, "b", SNAP)                # 4 trials
    for path, steps in ((a, 40), (b, 80)):
        log = SweepPaths(path).trials
        lines = [json.loads(ln) for ln in log.read_text().splitlines()]
        for row in lines:
            row["metrics"]["total_steps"] = steps
        log.write_text("".join(json.dumps(row) + "\n" for row in lines))
    c = compare_sweeps([a, b])
    from demp.results import budget_warnings

    warnings = budget_warnings(c)
    assert "unequal planned trials: a 5, b 4; more trials find more of the frontier" in warnings
    assert any(w.startswith("unequal finished trials: a 5, b 4") for w in warnings)
    assert any(w.startswith("unequal training steps per trial: a 40, b 80") for w in warnings)
    # --equal-trials: each after the first 4 finished trials, in the order they finished
    even = compare_sweeps([a, b], equal_trials=True)
    assert even.equal_trials == 4
    first4 = DEMP[:4]
    assert even.entries[0].frontier.hypervolume == pytest.approx(
        hypervolume(first4, DIRS, even.reference))
    assert even.entries[1].frontier.hypervolume == pytest.approx(
        hypervolume(SNAP, DIRS, even.reference))
    assert not any(w.startswith("unequal finished trials") for w in budget_warnings(even))

    # the CLI prints the warnings and writes the plot beside the sweeps by default
    capsys.readouterr()
    assert run_cli(["compare", str(a), str(b), "--equal-trials", "--format", "json"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["equal_trials"] == 4 and [s["trials"]["counted"] for s in doc["sweeps"]] == [4, 4]
    assert [s["steps_per_trial"] for s in doc["sweeps"]] == [[40], [80]]
    assert "warning: unequal training steps per trial" in " ".join(out.err.split())
    assert (tmp_path / "compare-a-vs-b.png").is_file()


def with_replicates(root: Path, seeds: list[list[tuple[float, float]]]) -> None:
    """replicates.jsonl for a fake sweep: seeds[i] holds trial i's further (acc, sparsity)."""
    paths = SweepPaths(root)
    trials = TrialLog(paths.trials).records()
    log = TrialLog(paths.replicates)
    for t, extra in zip(trials, seeds):
        for k, (acc, sp) in enumerate(extra, start=1):
            log.append(TrialRecord(trial_id=f"{t.trial_id}-r{k}", status="complete",
                                   params={**t.params, "seed": k}, group=t.trial_id,
                                   replicate=k, seed=k,
                                   metrics={"val_acc": acc, "param_sparsity": sp}))


def test_compare_reports_bootstrap_intervals_probabilities_and_best_at_sparsity(tmp_path,
                                                                              capsys):
    good = fake_sweep(tmp_path, "good", [(0.95, 0.5), (0.90, 0.8)])
    with_replicates(good, [[(0.94, 0.5), (0.96, 0.5)], [(0.91, 0.8), (0.89, 0.8)]])
    poor = fake_sweep(tmp_path, "poor", [(0.70, 0.5), (0.60, 0.8)])
    with_replicates(poor, [[(0.72, 0.5), (0.68, 0.5)], [(0.61, 0.8), (0.59, 0.8)]])
    capsys.readouterr()
    assert run_cli(["compare", str(good), str(poor), "--at-sparsity", "0.5,0.8,0.9",
                    "--draws", "500", "--format", "json"]) == 0
    u = json.loads(capsys.readouterr().out)["uncertainty"]
    g, p = u["sweeps"]
    assert g["seeds"] == p["seeds"] == 3
    ref = [0.1, 0.0]
    assert g["hypervolume_of_means"] == pytest.approx(hypervolume([(0.95, 0.5), (0.90, 0.8)],
                                                                  DIRS, ref))
    lo, hi = g["hypervolume_interval"]
    assert lo < g["hypervolume_of_means"] < hi
    assert u["probability_greater"]["good"]["poor"] == 1.0
    assert u["probability_greater"]["poor"]["good"] == 0.0
    best = {b["sparsity"]: b for b in g["best_at_sparsity"]}
    assert best[0.5]["accuracy_mean"] == pytest.approx(0.95)
    assert best[0.8]["accuracy_mean"] == pytest.approx(0.90) and best[0.8]["seeds"] == 3
    assert best[0.9]["group"] is None
    lo, hi = best[0.8]["accuracy_interval"]
    half = 4.303 * 0.01 / 3 ** 0.5   # t(0.975, 2) * sd / sqrt(3)
    assert (lo, hi) == pytest.approx((0.90 - half, 0.90 + half))
    # the table says when there is nothing to bootstrap
    lonely = fake_sweep(tmp_path, "lonely", [(0.9, 0.5)])
    assert run_cli(["compare", str(good), str(lonely), "--draws", "50"]) == 0
    assert "1 (no interval)" in capsys.readouterr().out
