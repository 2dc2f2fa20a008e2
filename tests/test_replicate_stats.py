"""Replicate statistics: the spread of a configuration over seeds, the frontier of means with
"not separable" marks, and the bootstrap interval of a hypervolume, checked against closed forms
on synthetic points."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from demp.results.bootstrap import (
    best_at_sparsity, hypervolume_draws, percentile_interval, probability_greater,
)
from demp.results.records import TrialRecord
from demp.results.replicates import Spread, group_stats, replicated_frontier, t975

M = ["val_acc", "param_sparsity"]
D = ["maximize", "maximize"]


def rec(tid: str, acc: float, sp: float, group: str | None = None, seed: int | None = None,
        replicate: int | None = None) -> TrialRecord:
    return TrialRecord(trial_id=tid, status="complete", params={"lam": tid},
                       metrics={"val_acc": acc, "param_sparsity": sp}, group=group, seed=seed,
                       replicate=replicate)


def config(name: str, values: list[tuple[float, float]]) -> tuple[TrialRecord, list[TrialRecord]]:
    """A search trial and its replicates (seeds 1, 2, ...)."""
    first = rec(name, *values[0])
    return first, [rec(f"{name}r{i}", a, s, group=name, seed=i, replicate=i)
                   for i, (a, s) in enumerate(values[1:], start=1)]


def test_t_quantiles_and_spread():
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert t975(40) == pytest.approx(2.0211, abs=1e-3)
    assert t975(120) == pytest.approx(1.9799, abs=1e-3)
    s = Spread([0.90, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92) and s.sd == pytest.approx(0.02)
    half = 4.303 * 0.02 / math.sqrt(3)
    assert s.interval == pytest.approx((0.92 - half, 0.92 + half))
    one = Spread([0.5])
    assert math.isnan(one.sd) and one.interval == (0.5, 0.5)


def test_groups_frontier_of_means_and_not_separable():
    a, ar = config("a", [(0.90, 0.50), (0.92, 0.52), (0.94, 0.48)])      # on the frontier
    b, br = config("b", [(0.89, 0.49), (0.93, 0.47), (0.91, 0.51)])      # dominated, overlaps a
    c, cr = config("c", [(0.50, 0.10), (0.51, 0.11), (0.52, 0.09)])      # dominated, far away
    groups = group_stats([a, b, c], [*ar, *br, *cr], M, base_seed=0)
    assert [g.group for g in groups] == ["a", "b", "c"]
    assert [g.seeds for g in groups] == [[0, 1, 2]] * 3
    assert groups[0].spreads["val_acc"].mean == pytest.approx(0.92)
    members = replicated_frontier(groups, M, D)
    assert [g.group for g in members] == ["a"]
    assert groups[1].not_separable and not groups[2].not_separable


def test_bootstrap_interval_matches_the_closed_form_of_two_seeds():
    """One configuration, sparsity 1 on both seeds, accuracy 0.6 and 0.8: the hypervolume over
    reference (0, 0) is the mean accuracy, whose bootstrap distribution is 0.6, 0.7, 0.8 with
    probabilities 1/4, 1/2, 1/4 — so the 95 % interval is exactly [0.6, 0.8], and against a
    sweep whose hypervolume is 0.7, P(greater) = 1/4 + 1/2 · 1/2 = 1/2."""
    a, ar = config("a", [(0.6, 1.0), (0.8, 1.0)])
    groups = group_stats([a], ar, M)
    draws = hypervolume_draws(groups, M, D, [0.0, 0.0], draws=20000, seed=1)
    values, freq = np.unique(np.round(draws, 12), return_counts=True)
    assert values.tolist() == [0.6, 0.7, 0.8]
    assert (freq / len(draws)).tolist() == pytest.approx([0.25, 0.5, 0.25], abs=0.015)
    assert percentile_interval(draws) == pytest.approx((0.6, 0.8))
    assert probability_greater(draws, np.full(100, 0.7)) == pytest.approx(0.5, abs=0.015)
    assert probability_greater(draws, np.full(10, 0.5)) == 1.0


def test_bootstrap_interval_matches_the_normal_closed_form_of_many_seeds():
    """40 seeds: the bootstrap sd of a mean is the plug-in sd / sqrt(n), and the percentile
    interval approaches mean ± 1.96 of it."""
    rng = np.random.default_rng(7)
    accs = list(0.8 + 0.05 * rng.standard_normal(40))
    a, ar = config("a", [(x, 1.0) for x in accs])
    draws = hypervolume_draws(group_stats([a], ar, M), M, D, [0.0, 0.0], draws=20000, seed=2)
    se = statistics.pstdev(accs) / math.sqrt(len(accs))
    assert draws.std() == pytest.approx(se, rel=0.03)
    lo, hi = percentile_interval(draws)
    mean = statistics.fmean(accs)
    assert lo == pytest.approx(mean - 1.96 * se, abs=0.1 * se)
    assert hi == pytest.approx(mean + 1.96 * se, abs=0.1 * se)


def test_without_replicates_the_interval_has_zero_width_and_best_at_sparsity():
    a = rec("a", 0.95, 0.5)
    b = rec("b", 0.90, 0.85)
    groups = group_stats([a, b], [], M)
    draws = hypervolume_draws(groups, M, D, [0.1, 0.0], draws=50)
    assert np.ptp(draws) == 0.0
    best = best_at_sparsity(groups, "val_acc", "param_sparsity", [0.4, 0.8, 0.95])
    assert [(x.group, x.mean) for x in best[:2]] == [("a", 0.95), ("b", 0.90)]
    assert best[2].group is None and math.isnan(best[2].mean)


def test_single_seed_configurations_stay_out_of_a_replicated_frontier(tmp_path):
    """A lucky one-seed configuration must not sit on a frontier of three-seed means."""
    from demp.results.replicated import replicated_document

    a, ar = config("a", [(0.95, 0.50), (0.93, 0.50), (0.91, 0.50)])   # mean 0.93
    lucky = rec("lucky", 0.94, 0.50)                                   # one seed, above the mean
    groups = group_stats([a, lucky], ar, M)
    doc = replicated_document(groups, M, D, [0.1, 0.0], "s")
    rows = {r["group"]: r for r in doc["rows"]}
    assert rows["a"]["on_frontier"] and rows["a"]["replicated"]
    assert not rows["lucky"]["on_frontier"] and not rows["lucky"]["replicated"]
    assert doc["configurations"] == 1 and doc["not_replicated"] == 1
    assert doc["hypervolume_of_means"] == pytest.approx((0.93 - 0.1) * 0.5)


def test_the_report_shows_the_frontier_over_seeds(tmp_path):
    """A sweep with replicates gets a section with the error-bar figure and a sortable table."""
    from demp.results import TrialLog, load_sweep
    from demp.results.report_replicates import replicates_section
    from demp.spec import SweepPaths, dump_spec, validate_spec

    spec = validate_spec({"name": "r", "output_root": str(tmp_path), "trials": 2,
                          "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0}}})
    paths = SweepPaths.for_spec(tmp_path, "r")
    paths.root.mkdir(parents=True)
    paths.spec.write_text(dump_spec(spec))
    a, ar = config("a", [(0.90, 0.50), (0.92, 0.52), (0.94, 0.48)])
    for r in [a]:
        TrialLog(paths.trials).append(r)
    assert replicates_section(load_sweep(paths.root)) == []
    for r in ar:
        TrialLog(paths.replicates).append(r)
    html = "\n".join(replicates_section(load_sweep(paths.root)))
    assert 'id="replicates-table"' in html and "data:image/png;base64," in html
    assert "val_acc 95% low" in html and "0.92" in html


def test_replicate_jobs_are_the_missing_configuration_seed_pairs(tmp_path):
    """What `status` counts as pending and the runner runs: frontier (or all complete)
    configurations × seeds s+1 … s+K−1, minus what replicates.jsonl holds."""
    from demp.results import TrialLog, load_sweep
    from demp.results.replicates import replicate_jobs
    from demp.spec import SweepPaths, dump_spec, validate_spec

    spec = validate_spec({"name": "j", "output_root": str(tmp_path), "trials": 3,
                          "base": {"seed": 4},
                          "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0}},
                          "replicates": {"seeds": 3, "stage": "frontier"}})
    paths = SweepPaths.for_spec(tmp_path, "j")
    paths.root.mkdir(parents=True)
    paths.spec.write_text(dump_spec(spec))
    for r in (rec("a", 0.95, 0.5), rec("b", 0.90, 0.8), rec("c", 0.80, 0.4)):  # c dominated
        TrialLog(paths.trials).append(r)
    TrialLog(paths.replicates).append(rec("ar1", 0.94, 0.5, group="a", seed=5, replicate=1))
    jobs = replicate_jobs(spec, load_sweep(paths.root), 3, "frontier")
    assert sorted((j["group"], j["replicate"], j["seed"]) for j in jobs) == [
        ("a", 2, 6), ("b", 1, 5), ("b", 2, 6)]
    assert all(j["params"]["seed"] == j["seed"] for j in jobs)
    assert len(replicate_jobs(spec, load_sweep(paths.root), 3, "all")) == 5
