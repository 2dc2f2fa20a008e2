"""``demp sweep report DIR``: the sweep as one self-contained HTML page, no account needed.

The page holds the frontier (scatter with the frontier highlighted, dominated trials grey) with
the hypervolume history, the schedules of every trial (λ_t, σ_t, lr over steps), and one
dead-neuron heat map per trial (live units of each layer at each evaluation), plus tables of the
frontier and of all finished trials. Every figure is an inline PNG (a base64 ``data:`` URI) and the
only style is an inline ``<style>``: the file opens anywhere, offline, and can be mailed or
attached as it is. The same figures are written as PNG files beside it.

Sources, all in the sweep directory (so a report can be written next to a running sweep):

- ``trials.jsonl`` / the spec, through ``demp.results.load_sweep``: trials, frontier,
  hypervolume history;
- every evaluation of each trial, through ``demp.results.history`` (the trial's own
  ``metrics.jsonl``, or Ray's ``result.json`` for older sweeps), flat keys (``lam``, ``sigma``,
  ``lr``, ``live_units/<group>``, ``dead_fraction/<group>``). A trial that was retried or
  resumed records some steps again; the last record of each step wins.

The frontier figure is ``demp.results.plot``'s (the one frontier plotter); heat maps and
schedules are ``demp.results.figures``' (the ones the W&B trial runs log).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demp.results.figures import ScheduleSeries, live_units_heatmap, schedules_figure
from demp.results.frontier import frontier_rows
from demp.results.history import read_trial_history, trial_directory
from demp.results.outcome import SweepOutcome, load_sweep
from demp.results.plot import frontier_figure, png_bytes
from demp.results.records import TrialRecord
from demp.results.values import fmt

REPORT_FILE = "index.html"
RESULT_FILE = "result.json"
# The per-group sections of the trainer's metrics record, as the sweep trial flattens them into
# what it reports to Ray: ``live_units/<group>``, ``dead_fraction/<group>``.
LIVE_UNITS = "live_units"
DEAD_FRACTION = "dead_fraction"


# ------------------------------------------------------------------------------ trial histories


@dataclass
class TrialHistory:
    """What one trial reported at each evaluation, by step (the last report of a step wins)."""

    trial_id: str
    records: list[dict[str, Any]] = field(default_factory=list)  # sorted by step

    @property
    def steps(self) -> list[int]:
        return [int(r["step"]) for r in self.records]

    def groups(self) -> list[str]:
        """Unit groups (layers) in first-seen order."""
        out: list[str] = []
        prefix = f"{LIVE_UNITS}/"
        for r in self.records:
            out += [k[len(prefix):] for k in r if k.startswith(prefix)
                    and k[len(prefix):] not in out]
        return out

    def per_group(self, prefix: str) -> list[dict[str, float]]:
        cut = len(prefix) + 1
        return [{k[cut:]: v for k, v in r.items() if k.startswith(prefix + "/")}
                for r in self.records]

    def series(self, key: str) -> list[float]:
        return [_num(r.get(key)) for r in self.records]


def trial_dir(outcome: SweepOutcome, record: TrialRecord) -> Path:
    """The Ray trial directory: the checkpoint's parent, else ``ray/trial_<id>``."""
    return trial_directory(outcome.paths, record)


def read_history(directory: Path, trial_id: str) -> TrialHistory:
    """The evaluations a trial recorded (``demp.results.history``), deduplicated by step."""
    return TrialHistory(trial_id, read_trial_history(directory))


# ------------------------------------------------------------------------------ figures


@dataclass
class ReportFigure:
    """One figure of the report: its PNG file name, caption and bytes."""

    name: str
    caption: str
    png: bytes

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def build_figures(outcome: SweepOutcome, histories: dict[str, TrialHistory]
                  ) -> tuple[ReportFigure, ReportFigure | None, dict[str, ReportFigure]]:
    """The frontier figure, the schedules figure and one heat map per trial with evaluations."""
    spec, frontier = outcome.spec, outcome.frontier
    front = ReportFigure(
        "frontier.png", "Accuracy–sparsity frontier (red, joined; dominated complete trials "
        "grey) and the hypervolume after each finished trial.",
        png_bytes(frontier_figure(frontier, f"{spec.name}: accuracy–sparsity frontier")))
    members = {r.trial_id for r in frontier.members}
    series = [ScheduleSeries(tid, h.steps, h.series("lam"), h.series("sigma"), h.series("lr"),
                             highlight=tid in members)
              for tid, h in histories.items() if h.records]
    schedules = None
    if series:
        schedules = ReportFigure("schedules.png", "Schedules of every trial at its evaluations: "
                           "λ_t (regularization), σ_t (noise std) and the learning rate; "
                           "frontier trials in colour.",
                           png_bytes(schedules_figure(series)))
    heatmaps = {}
    for tid, h in histories.items():
        groups = h.groups()
        if not h.records or not groups:
            continue
        fig = live_units_heatmap(h.steps, groups, h.per_group(LIVE_UNITS),
                                 h.per_group(DEAD_FRACTION),
                                 title=f"{tid}: live units per layer (fraction of initial)")
        heatmaps[tid] = ReportFigure(f"heatmap-{_safe(tid)}.png",
                               f"Trial {tid}: live fraction of each layer's units at each "
                               "evaluation (numbers: live units).", png_bytes(fig))
    return front, schedules, heatmaps


# ------------------------------------------------------------------------------ HTML

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px;
  border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #555; margin: 0 0 12px; } .meta b { color: #1d1d1f; }
figure { margin: 8px 0 16px; } figure img { max-width: 100%; height: auto;
  border: 1px solid #eee; } figcaption { color: #555; font-size: 12.5px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 12px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f5f5f7; } td.l, th.l { text-align: left; }
.complete { color: #137333; } .truncated { color: #b06000; } .failed { color: #c5221f; }
.front { font-weight: 600; } .scroll { overflow-x: auto; }
.trials { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr));
  gap: 4px 24px; } .trial { border-top: 1px solid #eee; padding-top: 2px; min-width: 0; }
.trial .meta { font-size: 12.5px; overflow-wrap: anywhere; }
"""


def _table(rows: list[dict[str, Any]], columns: list[str], left: set[str],
           row_class: Any = None) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(c)}</th>'
                   for c in columns)
    body = []
    for r in rows:
        cls = f' class="{row_class(r)}"' if row_class else ""
        cells = "".join(f'<td class="{"l" if c in left else ""}">{html.escape(fmt(r.get(c)))}'
                        f"</td>" for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _img(fig: ReportFigure) -> str:
    alt = html.escape(fig.name, quote=True)
    # onerror: an image that fails to decode is reported on the console (the browser test
    # asserts there is nothing on it); the page has no other script.
    return (f'<figure><img src="{fig.data_uri()}" alt="{alt}" '
            f'onerror="console.error(\'figure failed to load: {alt}\')">'
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")


def render_html(outcome: SweepOutcome, front: ReportFigure, schedules: ReportFigure | None,
                heatmaps: dict[str, ReportFigure]) -> str:
    spec, frontier, records = outcome.spec, outcome.frontier, outcome.records
    c = outcome.counts
    members = [r.trial_id for r in frontier.members]
    objectives = ", ".join(f"{d} {m}" for m, d in zip(frontier.metrics, frontier.directions))
    ref = ", ".join(f"{m} = {v:g}" for m, v in zip(frontier.metrics, frontier.reference))
    params: list[str] = []
    for r in records:
        params += [p for p in r.params if p not in params]
    metric_cols = list(dict.fromkeys([*frontier.metrics, "test_acc", "neural_sparsity", "step"]))
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(spec.name)} — DemP sweep report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(spec.name)} — DemP sweep report</h1>",
        f'<p class="meta">{html.escape(spec.description)}</p>' if spec.description else "",
        f'<p class="meta"><b>{sum(c.values())}</b> of {spec.trials} planned trials finished: '
        f'<span class="complete">{c["complete"]} complete</span>, '
        f'<span class="truncated">{c["truncated"]} truncated</span>, '
        f'<span class="failed">{c["failed"]} failed</span> · frontier <b>{len(members)}</b> '
        f"trials · hypervolume <b>{frontier.hypervolume:.4f}</b> (reference {html.escape(ref)})"
        f" · objectives: {html.escape(objectives)} · sampler {html.escape(spec.sampler.name)} "
        f"(seed {spec.sampler.seed}) · generated {html.escape(generated)}</p>",
        "<h2>Frontier</h2>",
        _img(front),
    ]
    if frontier.members:
        rows = frontier_rows(frontier)
        cols = ["trial_id", "optuna_trial", *metric_cols, *[p for p in params
                                                            if any(p in r for r in rows)]]
        parts.append(_table(rows, cols, {"trial_id"}))
    else:
        parts.append("<p>No complete trials yet.</p>")
    parts.append("<h2>Schedules</h2>")
    parts.append(_img(schedules) if schedules else "<p>No trial has reported yet.</p>")

    parts.append("<h2>Dead neurons per trial</h2>")
    parts.append('<p class="meta">Frontier trials first, then the others in finish order. '
                 "Colour: live fraction of the layer's initial units; numbers: live units.</p>")
    by_id = {r.trial_id: r for r in records}
    order = members + [r.trial_id for r in records if r.trial_id not in members]
    parts.append('<div class="trials">')
    for tid in order:
        r = by_id[tid]
        values = " · ".join(f"{m} {fmt(r.metrics.get(m))}" for m in frontier.metrics)
        chosen = ", ".join(f"{p} = {fmt(v)}" for p, v in r.params.items())
        tag = " · on the frontier" if tid in members else ""
        reason = f" ({html.escape(r.reason)})" if r.reason else ""
        parts.append(f'<div class="trial" id="trial-{html.escape(tid, quote=True)}">'
                     f"<h3>{html.escape(tid)}{html.escape(tag)}</h3>"
                     f'<p class="meta"><span class="{r.status}">{r.status}</span>{reason} · '
                     f"{html.escape(values)} · {html.escape(chosen)}</p>")
        parts.append(_img(heatmaps[tid]) if tid in heatmaps
                     else "<p>No evaluation was reported.</p>")
        parts.append("</div>")
    parts.append("</div>")

    parts.append("<h2>All finished trials</h2>")
    rows = [{**r.metrics, **r.params, "trial_id": r.trial_id, "optuna_trial": r.number,
             "status": r.status, "frontier": "yes" if r.trial_id in members else "",
             "reason": r.reason} for r in records]
    cols = ["trial_id", "optuna_trial", "status", "frontier", *metric_cols, *params, "reason"]
    parts.append(_table(rows, cols, {"trial_id", "status", "reason"},
                        row_class=lambda row: row["status"] + (
                            " front" if row["frontier"] else "")))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


# ------------------------------------------------------------------------------ entry point


def write_report(directory: str | Path, output: str | Path | None = None) -> Path:
    """Write the report of the sweep in ``directory``; returns the HTML file's path.

    ``output`` is the HTML file (default ``DIR/report/index.html``); the PNGs go in the same
    folder (``frontier.png``, ``schedules.png``, ``heatmap-<trial>.png``).
    """
    outcome = load_sweep(directory)
    target = Path(output) if output is not None else outcome.paths.report / REPORT_FILE
    histories = {r.trial_id: read_history(trial_dir(outcome, r), r.trial_id)
                 for r in outcome.records}
    front, schedules, heatmaps = build_figures(outcome, histories)
    target.parent.mkdir(parents=True, exist_ok=True)
    for fig in [front, *([schedules] if schedules else []), *heatmaps.values()]:
        (target.parent / fig.name).write_bytes(fig.png)
    page = render_html(outcome, front, schedules, heatmaps)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
