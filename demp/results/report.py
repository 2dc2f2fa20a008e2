"""``demp sweep report DIR``: the sweep as one self-contained, interactive HTML page.

The page holds the frontier (inline SVG: the staircase through the frontier, test accuracy beside
validation accuracy, collapsed trials apart, chance line, dense point, λ labels) with the
hypervolume history, the schedules of every trial (λ_t, σ_t, lr over steps, computed from each
trial's config), one dead-neuron heat map per trial, and tables of the frontier, of the
collapsed trials and of all finished trials. Hovering a plot shows the trial under the pointer
(its metrics and parameters, the exact schedule value, the heat-map cell); clicking a table
header sorts the table. Style, script and data are inline (``demp.results.report_page``): the
file opens anywhere, offline, and can be mailed or attached as it is. ``frontier.png``,
``schedules.png`` and ``heatmap-<trial>.png`` are written beside it.

Sources, all in the sweep directory (so a report can be written next to a running sweep):

- ``spec.yaml`` / ``trials.jsonl``, through ``demp.results.load_sweep``: trials, frontier,
  hypervolume history; each trial's config is the spec's base with its parameters
  (``demp.results.trial_config``), from which its schedules are computed
  (``demp.results.schedule_curves``);
- each trial's per-evaluation records (heat maps), through ``demp.results.history.trial_history``,
  the one place that knows where those live.

Built for 100 trials in a few seconds: the heat maps are bare PNG grids framed in SVG
(``demp.results.figures.live_fraction_png``), not one matplotlib figure each.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demp.results.collapse import COLLAPSED_NOTE, is_collapsed
from demp.results.figures import (
    ScheduleSeries, live_fraction_grid, live_fraction_png, schedules_figure,
)
from demp.results.frontier import frontier_rows
from demp.results.history import DEAD_FRACTION, LIVE_UNITS, TrialHistory, trial_history
from demp.results.outcome import SweepOutcome, load_sweep
from demp.results.plot import frontier_figure, png_bytes
from demp.results.records import TrialRecord
from demp.results.report_replicates import replicates_section
from demp.results.report_page import SCRIPT, STYLE, data_json, table_html
from demp.results.scatter import FrontierPoints, finite_or_none, sweep_frontier_points
from demp.results.schedule_curves import ScheduleCurves, trial_schedules
from demp.results.svg import frontier_svg, heatmap_svg, hypervolume_svg, schedules_svg
from demp.results.values import fmt

REPORT_FILE = "index.html"
TIP_METRICS = ("val_acc", "test_acc", "param_sparsity", "neural_sparsity", "flops", "step",
               "total_steps", "train_time")
DENSE_NOTE = "dense reference (no λ, no σ)"


@dataclass
class HeatMap:
    """One trial's live-fraction grid: the PNG, its cell size, and the numbers behind it."""

    png: bytes
    cell: tuple[int, int]
    data: dict[str, Any]

    def data_uri(self) -> str:
        import base64

        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class ReportContent:
    """Everything the page shows, computed once from the sweep directory."""

    outcome: SweepOutcome
    points: FrontierPoints
    collapsed: set[str]
    dense: str | None
    histories: dict[str, TrialHistory]
    curves: dict[str, ScheduleCurves]
    heatmaps: dict[str, HeatMap] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        """Frontier trials as the tables list them: best first, collapsed ones apart."""
        return [r.trial_id for r in self.outcome.frontier.members
                if r.trial_id not in self.collapsed]


def heat_map(history: TrialHistory) -> HeatMap | None:
    """The grid of one trial (None before its first evaluation with unit counts)."""
    groups = history.groups()
    if not history.records or not groups:
        return None
    steps, dead = history.steps, history.per_group(DEAD_FRACTION)
    grid = live_fraction_grid(groups, dead)
    cell = (max(2, min(40, 480 // len(steps))), 14)
    live = history.per_group(LIVE_UNITS)
    data = {"steps": steps, "groups": groups,
            "live": [[finite_or_none(c.get(g)) for c in live] for g in groups],
            "frac": [[finite_or_none(round(v, 4)) for v in row] for row in grid]}
    return HeatMap(live_fraction_png(grid, cell), cell, data)


def build_content(outcome: SweepOutcome) -> ReportContent:
    spec, frontier, records = outcome.spec, outcome.frontier, outcome.records
    points = sweep_frontier_points(spec, frontier, records)
    collapsed = {m.trial_id for m in points.collapsed}
    if points.chance is not None:   # also trials off the plot (no sparsity reported)
        collapsed |= {r.trial_id for r in records if is_collapsed(r, points.chance,
                                                                   points.y_metric)}
    dense = points.dense.trial_id if points.dense is not None else None
    histories = {r.trial_id: trial_history(outcome.paths, r) for r in records}
    curves = {r.trial_id: c for r in records if (c := trial_schedules(spec, r)) is not None}
    content = ReportContent(outcome, points, collapsed, dense, histories, curves)
    for tid, h in histories.items():
        if (hm := heat_map(h)) is not None:
            content.heatmaps[tid] = hm
    return content


def png_files(content: ReportContent) -> dict[str, bytes]:
    """The PNGs written beside the page (file name → bytes)."""
    spec, frontier = content.outcome.spec, content.outcome.frontier
    files = {"frontier.png": png_bytes(frontier_figure(
        frontier, f"{spec.name}: accuracy–sparsity frontier", points=content.points))}
    members = set(content.members)
    series = [ScheduleSeries(t, c.steps, c.lam, c.sigma, c.lr, highlight=t in members)
              for t, c in content.curves.items()]
    if series:
        files["schedules.png"] = png_bytes(schedules_figure(series))
    for tid, hm in content.heatmaps.items():
        files[heatmap_name(tid)] = hm.png
    return files


def heatmap_name(trial_id: str) -> str:
    import re

    return "heatmap-" + re.sub(r"[^A-Za-z0-9._-]+", "_", trial_id) + ".png"


# ------------------------------------------------------------------------------ data


def _notes(r: TrialRecord, content: ReportContent) -> list[str]:
    notes = []
    if r.trial_id in content.members:
        notes.append("on the frontier")
    if r.trial_id in content.collapsed:
        notes.append(COLLAPSED_NOTE)
    if r.trial_id == content.dense:
        notes.append(DENSE_NOTE)
    if r.reason:
        notes.append(r.reason)
    return notes


def _scalar(value: Any) -> Any:
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (int, float)):
        return finite_or_none(value)
    return str(value)


def page_data(content: ReportContent) -> dict[str, Any]:
    """The page's JSON: every finished trial's status, parameters, scalar metrics, schedules
    and heat-map numbers (what the hover read-outs show)."""
    o = content.outcome
    members = set(content.members)
    trials = []
    for r in o.records:
        metrics = {k: finite_or_none(v) for k, v in r.metrics.items()
                   if "/" not in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
        curves = content.curves.get(r.trial_id)
        heat = content.heatmaps.get(r.trial_id)
        trials.append({
            "id": r.trial_id, "number": r.number, "status": r.status, "reason": r.reason,
            "notes": _notes(r, content), "frontier": r.trial_id in members,
            "collapsed": r.trial_id in content.collapsed, "dense": r.trial_id == content.dense,
            "params": {k: _scalar(v) for k, v in r.params.items()}, "metrics": metrics,
            "schedules": curves.as_dict() if curves is not None else None,
            "heat": heat.data if heat is not None else None})
    tip = list(dict.fromkeys([*o.frontier.metrics, *TIP_METRICS]))
    return {"sweep": o.spec.name, "objectives": o.frontier.metrics, "chance": content.points.chance,
            "tip_metrics": tip, "trials": trials}


# ------------------------------------------------------------------------------ HTML


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


KEY = ('<p class="meta key"><span><i style="background:#d62728"></i>frontier (staircase: what '
       'its trials reach)</span><span><i style="border:1.5px solid #d62728;background:none">'
       '</i>test accuracy of the same trial</span><span><i style="background:#b3b3b3"></i>'
       'dominated</span><span><i style="background:#9467bd;border-radius:0"></i>collapsed '
       '(below chance; ▼ at the edge)</span><span><i style="background:#1f77b4;'
       'border-radius:0"></i>dense reference</span><span>- - chance accuracy</span></p>')


def _header(content: ReportContent) -> list[str]:
    o = content.outcome
    spec, frontier, c = o.spec, o.frontier, o.counts
    objectives = ", ".join(f"{d} {m}" for m, d in zip(frontier.metrics, frontier.directions))
    ref = ", ".join(f"{m} = {v:g}" for m, v in zip(frontier.metrics, frontier.reference))
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    chance = content.points.chance
    extra = ""
    if chance is not None:
        extra += (f" · <b>{len(content.collapsed)}</b> collapsed (below chance accuracy "
                  f"{chance:.3g})")
    if content.dense is not None:
        extra += f" · dense reference: trial {html.escape(content.dense)}"
    return [
        f"<h1>{html.escape(spec.name)} — DemP sweep report</h1>",
        f'<p class="meta">{html.escape(spec.description)}</p>' if spec.description else "",
        f'<p class="meta"><b>{sum(c.values())}</b> of {spec.trials} planned trials finished: '
        f'<span class="complete">{c["complete"]} complete</span>, '
        f'<span class="truncated">{c["truncated"]} truncated</span>, '
        f'<span class="failed">{c["failed"]} failed</span> · frontier <b>{len(content.members)}'
        f"</b> trials · hypervolume <b>{frontier.hypervolume:.4f}</b> (reference "
        f"{html.escape(ref)}){extra} · objectives: {html.escape(objectives)} · sampler "
        f"{html.escape(spec.sampler.name)} (seed {spec.sampler.seed}) · generated "
        f"{html.escape(generated)}</p>",
    ]


def _columns(content: ReportContent) -> tuple[list[str], list[str]]:
    params: list[str] = []
    for r in content.outcome.records:
        params += [p for p in r.params if p not in params]
    metrics = list(dict.fromkeys([*content.outcome.frontier.metrics, "test_acc",
                                  "neural_sparsity", "step"]))
    return metrics, params


def _tables(content: ReportContent) -> list[str]:
    o = content.outcome
    metric_cols, params = _columns(content)
    parts = []
    members = set(content.members)
    rows = [row for row in frontier_rows(o.frontier) if row["trial_id"] in members]
    if rows:
        cols = ["trial_id", "optuna_trial", *metric_cols, *[p for p in params
                                                            if any(p in r for r in rows)]]
        parts.append(table_html(rows, cols, {"trial_id"}, table_id="frontier-table"))
    else:
        parts.append("<p>No complete trial above chance accuracy yet.</p>")
    by_id = {r.trial_id: r for r in o.records}
    if content.collapsed:
        parts.append(f"<h3>{html.escape(COLLAPSED_NOTE[0].upper() + COLLAPSED_NOTE[1:])}</h3>")
        parts.append(f'<p class="meta">Complete trials whose {html.escape(content.points.y_metric)}'
                     f" ended below chance ({content.points.chance:.3g}): kept off the plot's "
                     "range and out of the frontier table (they add no hypervolume).</p>")
        rows = [{**by_id[t].metrics, **by_id[t].params, "trial_id": t,
                 "optuna_trial": by_id[t].number} for t in by_id if t in content.collapsed]
        parts.append(table_html(rows, ["trial_id", "optuna_trial", *metric_cols, *params],
                                {"trial_id"}, table_id="collapsed-table"))
    return parts


def _all_trials(content: ReportContent) -> str:
    metric_cols, params = _columns(content)
    members = set(content.members)
    rows = [{**r.metrics, **r.params, "trial_id": r.trial_id, "optuna_trial": r.number,
             "status": r.status, "frontier": "yes" if r.trial_id in members else "",
             "note": "; ".join(n for n in _notes(r, content) if n not in ("on the frontier",
                                                                           r.reason)),
             "reason": r.reason} for r in content.outcome.records]
    cols = ["trial_id", "optuna_trial", "status", "frontier", *metric_cols, *params, "note",
            "reason"]

    def row_class(row: Mapping[str, Any]) -> str:
        cls = str(row["status"])
        if row["frontier"]:
            cls += " front"
        if row["trial_id"] in content.collapsed:
            cls += " collapsed-row"
        return cls

    return table_html(rows, cols, {"trial_id", "status", "note", "reason"}, row_class,
                      table_id="trials-table")


def _heatmaps(content: ReportContent) -> list[str]:
    o = content.outcome
    by_id = {r.trial_id: r for r in o.records}
    members = content.members
    order = members + [r.trial_id for r in o.records if r.trial_id not in members]
    parts = ['<div class="trials">']
    for tid in order:
        r = by_id[tid]
        values = " · ".join(f"{m} {fmt(r.metrics.get(m))}" for m in o.frontier.metrics)
        chosen = ", ".join(f"{p} = {fmt(v)}" for p, v in r.params.items())
        tag = "".join(f" · {n}" for n in _notes(r, content) if n != r.reason)
        reason = f" ({html.escape(r.reason)})" if r.reason else ""
        parts.append(f'<div class="trial" id="trial-{html.escape(tid, quote=True)}">'
                     f"<h3>{html.escape(tid)}{html.escape(tag)}</h3>"
                     f'<p class="meta"><span class="{r.status}">{r.status}</span>{reason} · '
                     f"{html.escape(values)} · {html.escape(chosen)}</p>")
        hm = content.heatmaps.get(tid)
        parts.append(heatmap_svg(content.histories[tid], hm.data_uri(), hm.cell) if hm
                     else "<p>No evaluation was reported.</p>")
        parts.append("</div>")
    parts.append("</div>")
    return parts


FRONTIER_CAPTION = ("Accuracy against sparsity; hover a point for its trial's metrics and "
                    "parameters, λ = its sampled peak regularization.")


def render_html(content: ReportContent) -> str:
    o = content.outcome
    front = frontier_svg(content.points)
    hv = hypervolume_svg(o.frontier.history)
    n = len(content.curves)
    scaled = any(c.lam_scaled for c in content.curves.values())
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(o.spec.name)} — DemP sweep report</title>",
        f"<style>{STYLE}</style></head><body>",
        *_header(content),
        "<h2>Frontier</h2>",
        ('<div class="figrow">' + _figure(front, FRONTIER_CAPTION)
         + _figure(hv, "Hypervolume after each finished trial.") + "</div>" + KEY)
        if front else "<p>No complete trials yet.</p>",
        *_tables(content),
        *replicates_section(o),
        "<h2>Schedules</h2>",
        _figure(schedules_svg(content.curves, content.members),
                f"λ_t, σ_t and the learning rate of {n} trials, computed from each trial's "
                "config with the trainer's schedule functions (frontier trials in colour); "
                "hover a line for its exact value at that step."
                + (" Target-sparsity trials scale λ's peak online: their λ_t is the unscaled "
                   "schedule." if scaled else "")) if n else "<p>No trial config to draw.</p>",
        "<h2>Dead neurons per trial</h2>",
        '<p class="meta">Frontier trials first, then the others in finish order. Colour: live '
        "fraction of the layer's initial units (viridis, 0 to 1); hover a cell for its live "
        "units.</p>",
        *_heatmaps(content),
        "<h2>All finished trials</h2>",
        '<p class="meta">Click a column header to sort.</p>',
        _all_trials(content),
        '<div id="tip" role="tooltip"></div>',
        f'<script type="application/json" id="demp-data">{data_json(page_data(content))}'
        "</script>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------------ entry point


def write_report(directory: str | Path, output: str | Path | None = None) -> Path:
    """Write the report of the sweep in ``directory``; returns the HTML file's path.

    ``output`` is the HTML file (default ``DIR/report/index.html``); the PNGs go in the same
    folder (``frontier.png``, ``schedules.png``, ``heatmap-<trial>.png``).
    """
    outcome = load_sweep(directory)
    target = Path(output) if output is not None else outcome.paths.report / REPORT_FILE
    content = build_content(outcome)
    target.parent.mkdir(parents=True, exist_ok=True)
    for name, png in png_files(content).items():
        (target.parent / name).write_bytes(png)
    page = render_html(content)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


__all__ = ["REPORT_FILE", "ReportContent", "build_content", "page_data", "render_html",
           "write_report"]
