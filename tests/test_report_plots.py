"""The frontier plot's geometry, collapsed trials, the dense point, and the interactive report of a
100-trial sweep (written by ``synthetic_sweep``, no Ray, no browser; the browser test is in
``test_sweep_report.py``)."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from demp.config import TrainConfig
from demp.results import (
    TrialRecord, chance_accuracy, compute_frontier, frontier_figure, frontier_points,
    is_collapsed, is_dense, load_sweep, split_collapsed, staircase, sweep_collapsed,
    sweep_frontier_points, trial_history, write_report,
)
from demp.results.scatter import spaced_labels, y_limits
from demp.train.schedules import demp_schedule, lr_factor
from synthetic_sweep import COLLAPSED, FAILED, STEPS_PER_EPOCH, TOTAL, TRUNCATED, synthetic_sweep

OBJ, DIRS = ["val_acc", "param_sparsity"], ["maximize", "maximize"]


def rec(tid: str, acc: float, sp: float, status: str = "complete", **kw: Any) -> TrialRecord:
    return TrialRecord(tid, status, metrics={"val_acc": acc, "param_sparsity": sp,
                                             "test_acc": acc - 0.01, "step": 10}, **kw)


# ------------------------------------------------------------------------------ geometry


def test_staircase_steps_down_at_each_point_never_across():
    # (sparsity, accuracy), both maximized, given out of order and with a dominated point
    pts = [(0.8, 0.90), (0.2, 0.98), (0.5, 0.95), (0.4, 0.93)]
    assert staircase(pts, ["maximize", "maximize"]) == [
        (0.2, 0.98), (0.2, 0.95), (0.5, 0.95), (0.5, 0.90), (0.8, 0.90)]
    # x minimized (FLOPs): the better point is on the left, the step is taken at the larger x
    assert staircase([(100.0, 0.9), (50.0, 0.8)], ["minimize", "maximize"]) == [
        (50.0, 0.8), (100.0, 0.8), (100.0, 0.9)]
    assert staircase([(0.3, 0.9)], ["maximize", "maximize"]) == [(0.3, 0.9)]
    assert staircase([], ["maximize", "maximize"]) == []


def test_y_limits_fit_the_frontier_not_a_collapsed_outlier():
    lo, hi = y_limits([0.96, 0.98, 0.91], [0.95, 0.89, 0.07], chance=0.1)
    span = 0.98 - 0.89
    assert lo == pytest.approx(0.89 - 0.06 * span) and hi == pytest.approx(0.98 + 0.06 * span)
    # the chance line joins the range only when it is within one frontier span of it
    lo, hi = y_limits([0.3, 0.5], [0.05], chance=0.1)
    assert lo < 0.1 < 0.3 and lo > 0.05
    assert y_limits([], []) is None


def test_lambda_labels_keep_their_distance():
    pts = [(0.10, 0.95), (0.11, 0.95), (0.50, 0.90), (0.90, 0.80)]
    assert spaced_labels(pts, (0.0, 1.0), (0.8, 1.0)) == [0, 2, 3]


# ------------------------------------------------------------------------------ collapsed


def test_collapsed_trials_are_complete_ones_below_chance():
    records = [rec("a", 0.95, 0.2), rec("b", 0.07, 0.99), rec("c", 0.05, 0.5, "truncated"),
               rec("d", float("nan"), 0.1, "failed"), rec("e", 0.1, 0.9)]
    assert [is_collapsed(r, 0.1) for r in records] == [False, True, False, False, False]
    kept, collapsed = split_collapsed(records, 0.1)
    assert [r.trial_id for r in collapsed] == ["b"]
    assert [r.trial_id for r in kept] == ["a", "c", "d", "e"]
    assert split_collapsed(records, None) == (records, [])


def test_collapsed_frontier_member_is_drawn_apart_not_on_the_staircase(tmp_path):
    records = [rec("a", 0.98, 0.2, params={"demp.regularizer.peak": 0.01}),
               rec("b", 0.95, 0.6, params={"demp.regularizer.peak": 0.3}),
               rec("c", 0.90, 0.4), rec("x", 0.07, 0.99, params={"demp.regularizer.peak": 3.0})]
    front = compute_frontier(records, OBJ, DIRS, [0.1, 0.0])
    assert front.on_frontier("x")   # non-dominated: the Pareto analysis itself keeps it
    pts = frontier_points(front, chance=0.1)
    assert [m.trial_id for m in pts.frontier] == ["a", "b"]          # sorted by sparsity
    assert [m.trial_id for m in pts.collapsed] == ["x"]
    assert [m.trial_id for m in pts.dominated] == ["c"]
    assert [m.test for m in pts.frontier] == [pytest.approx(0.97), pytest.approx(0.94)]
    assert [m.lam for m in pts.frontier] == [0.01, 0.3]
    assert pts.steps == [(0.2, 0.98), (0.2, 0.95), (0.6, 0.95)]
    lo, hi = pts.ylim()
    assert 0.07 < lo < 0.90 and hi > 0.98
    assert pts.below(lo) == ([], pts.collapsed)
    # the PNG draws the same: its y range, its staircase, its chance line stays off the axis
    ax = frontier_figure(front, points=pts).axes[0]
    assert ax.get_ylim() == pytest.approx((lo, hi))
    assert ax.lines[0].get_xydata().tolist() == [list(p) for p in pts.steps]
    assert not any(line.get_linestyle() == "--" for line in ax.lines)


def test_dense_runs_are_recognised_from_their_config():
    def cfg(**demp: Any) -> TrainConfig:
        return TrainConfig.model_validate({"model": {"name": "mlp"}, "data": {"name": "digits"},
                                           "demp": demp})

    assert is_dense(cfg(regularizer={"peak": 0.0}, noise={"peak": 0.0}))
    assert is_dense(cfg(regularizer={"enabled": False}, noise={"enabled": False}))
    assert is_dense(cfg(enabled=False))
    assert not is_dense(cfg(regularizer={"peak": 1e-3}, noise={"peak": 0.0}))
    assert not is_dense(cfg(regularizer={"peak": 0.0}))              # noise at its default
    no_noise = cfg(regularizer={"peak": 0.0}).model_copy(update={"method": "demp_no_noise"})
    assert is_dense(no_noise)                                       # the preset turns noise off
    snap = cfg().model_copy(update={"method": "snap"})
    assert not is_dense(snap)                                       # baselines prune


# ------------------------------------------------------------------------- the 100-trial report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = synthetic_sweep(tmp_path_factory.mktemp("synthetic"), trials=100)
    html = write_report(root)
    text = html.read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/json" id="demp-data">(.*?)</script>', text,
                     re.S)
    assert blob is not None
    return {"root": root, "html": html, "text": text, "data": json.loads(blob.group(1)),
            "outcome": load_sweep(root)}


def test_sweep_points_find_chance_collapsed_and_dense(report):
    o = report["outcome"]
    assert chance_accuracy(o.spec) == 0.1
    assert [r.trial_id for r in sweep_collapsed(o.spec, o.records)] == list(COLLAPSED)
    pts = sweep_frontier_points(o.spec, o.frontier, o.records)
    assert pts.chance == 0.1 and pts.dense is not None and pts.dense.trial_id == "t00000"
    assert {m.trial_id for m in pts.collapsed} == set(COLLAPSED)
    assert not {m.trial_id for m in pts.frontier} & set(COLLAPSED)


def test_report_data_holds_every_trial_with_its_params_and_metrics(report):
    o, data = report["outcome"], report["data"]
    by_id = {t["id"]: t for t in data["trials"]}
    assert list(by_id) == [r.trial_id for r in o.records] and len(by_id) == 100
    for r in o.records:
        t = by_id[r.trial_id]
        assert t["status"] == r.status and t["number"] == r.number
        assert t["params"] == r.params
        for m in ("val_acc", "param_sparsity", "test_acc", "step"):
            want = r.metrics[m]
            assert t["metrics"][m] == (None if want != want else want)   # NaN → null
        assert t["collapsed"] == (r.trial_id in COLLAPSED)
    assert by_id["t00000"]["dense"] and "dense reference (no λ, no σ)" in by_id["t00000"]["notes"]
    assert by_id[FAILED]["status"] == "failed" and by_id[TRUNCATED]["status"] == "truncated"
    members = {r.trial_id for r in o.frontier.members} - set(COLLAPSED)
    assert {t for t, v in by_id.items() if v["frontier"]} == members


def test_report_draws_every_complete_trial_and_carries_its_script(report):
    text, o = report["text"], report["outcome"]
    frontier_svg = re.search(r'<svg class="plot frontier".*?</svg>', text, re.S).group(0)
    drawn = set(re.findall(r'data-trial="([^"]+)"', frontier_svg))
    assert drawn == {r.trial_id for r in o.records if r.status == "complete"}
    assert 'class="stairs"' in frontier_svg and "2 collapsed trials below chance" in frontier_svg
    assert re.search(r'<polygon class="collapsed low" data-trial="t00003"', frontier_svg)
    assert "function sortTable(" in text and 'addEventListener("click"' in text
    assert text.count('<table class="sortable"') == 3     # frontier, collapsed, all trials
    collapsed_table = re.search(r'<table class="sortable" id="collapsed-table">.*?</table>', text,
                                re.S).group(0)
    assert re.findall(r'<tr data-trial="([^"]+)"', collapsed_table) == list(COLLAPSED)
    frontier_table = re.search(r'id="frontier-table">.*?</table>', text, re.S).group(0)
    assert not set(re.findall(r'data-trial="([^"]+)"', frontier_table)) & set(COLLAPSED)
    # numbers sort by their raw value, not by their four shown digits
    r = o.records[1]
    assert f'data-v="{r.metrics["val_acc"]!r}">{r.metrics["val_acc"]:.4g}</td>' in text
    # one self-contained file: nothing fetched, every script inline
    assert not re.search(r"https?://", text)
    assert all(not re.search(r"\bsrc\s*=", tag) for tag in re.findall(r"<script[^>]*>", text))


def test_schedules_in_the_report_are_the_schedule_functions_of_each_config(report):
    o, data = report["outcome"], report["data"]
    by_id = {t["id"]: t for t in data["trials"]}
    for r in o.records:
        c = by_id[r.trial_id]["schedules"]
        assert c is not None, r.trial_id
        shape = r.params["demp.schedule.shape"]
        span_fraction = r.params["demp.schedule.span_fraction"]
        span = span_fraction * TOTAL
        assert c["steps"][0] == 0 and c["steps"][-1] == TOTAL
        assert {math.floor(span), math.ceil(span)} <= set(c["steps"])   # the span's end is drawn
        for i, step in enumerate(c["steps"]):
            lam = demp_schedule(_sched(shape, span_fraction), r.params["demp.regularizer.peak"],
                                step, TOTAL)
            sigma = demp_schedule(_sched(shape, span_fraction), r.params["demp.noise.peak"],
                                  step, TOTAL)
            lr = r.params["optimizer.lr"] * lr_factor(_lr(), step, TOTAL, STEPS_PER_EPOCH)
            assert (c["lam"][i], c["sigma"][i], c["lr"][i]) == (lam, sigma, lr)
    # and each is drawn: one path per trial in each of the three panels
    svg = re.search(r'<svg class="plot schedules".*?</svg>', report["text"], re.S).group(0)
    assert len(re.findall(r"<path [^>]*data-trial=", svg)) == 3 * 100


def _sched(shape: str, span_fraction: float) -> Any:
    from demp.config import ScheduleConfig

    return ScheduleConfig(shape=shape, span_fraction=span_fraction)


def _lr() -> Any:
    from demp.config import LRScheduleConfig

    return LRScheduleConfig()


def test_heat_maps_are_the_reported_evaluations_and_files_beside_the_page(report):
    o, text, data = report["outcome"], report["text"], report["data"]
    by_id = {t["id"]: t for t in data["trials"]}
    images = dict(re.findall(r'<svg class="plot heatmap"[^>]*data-trial="([^"]+)".*?'
                             r'<image href="data:image/png;base64,([^"]+)"', text, re.S))
    assert set(images) == {r.trial_id for r in o.records}
    for r in o.records[:10]:
        h = trial_history(o.paths, r)
        heat = by_id[r.trial_id]["heat"]
        assert heat["steps"] == h.steps and heat["groups"] == ["fc0", "fc1"]
        assert [row[-1] for row in heat["live"]] == [r.metrics["live_units/fc0"],
                                                     r.metrics["live_units/fc1"]]
        png = base64.b64decode(images[r.trial_id])
        assert (report["html"].parent / f"heatmap-{r.trial_id}.png").read_bytes() == png
    for name in ("frontier.png", "schedules.png"):
        assert (report["html"].parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markup_in_a_parameter_stays_text(tmp_path: Path):
    root = synthetic_sweep(tmp_path, trials=4)
    lines = (root / "trials.jsonl").read_text().splitlines()
    first = json.loads(lines[1])
    first["reason"] = "</script><b>x</b>"
    (root / "trials.jsonl").write_text("\n".join([lines[0], json.dumps(first), *lines[2:]]) + "\n")
    text = write_report(root).read_text(encoding="utf-8")
    assert "</script><b>x</b>" not in text
    blob = re.search(r'id="demp-data">(.*?)</script>', text, re.S).group(1)
    assert json.loads(blob)["trials"][1]["reason"] == "</script><b>x</b>"
