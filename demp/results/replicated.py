"""The frontier over seeds, as files and a plot: ``frontier_replicates.csv`` / ``.json`` /
``.png`` beside the search's own frontier files.

One row per configuration (a search trial and its replicates, ``demp.results.replicates``): its
seeds, and for each objective the mean, sample sd and 95 % interval; whether it is on the
frontier of means; whether it is *not separable* from a configuration that dominates it. The plot
draws every configuration at its means with error bars in both directions (the 95 % intervals),
the frontier of means as a staircase, not-separable points hollow.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from demp.results.bootstrap import hypervolume_draws, percentile_interval
from demp.results.plot import axes_metrics, label, new_figure, save_png
from demp.results.records import jsonable
from demp.results.replicates import (
    GroupStats, group_stats, mean_hypervolume, replicated_frontier, replicated_only,
)


def replicated_document(groups: list[GroupStats], metrics: list[str], directions: list[str],
                        reference: list[float], name: str) -> dict[str, Any]:
    """What the CSV, JSON and plot show: per-configuration spreads, frontier of means, and the
    mean frontier's hypervolume with its bootstrap interval over seeds."""
    judged = replicated_only(groups)
    for g in groups:
        g.on_frontier = g.not_separable = False
    members = replicated_frontier(judged, metrics, directions)
    draws = hypervolume_draws(judged, metrics, directions, reference)
    counted = {g.group for g in judged}
    rows = []
    for g in sorted(groups, key=lambda g: (not g.on_frontier, g.group not in counted, g.group)):
        row: dict[str, Any] = {"group": g.group, "seeds": len(g.records),
                               "replicated": g.group in counted,
                               "on_frontier": g.on_frontier, "not_separable": g.not_separable}
        for m in metrics:
            s = g.spreads[m]
            lo, hi = s.interval
            row.update({f"{m}_mean": s.mean, f"{m}_sd": None if math.isnan(s.sd) else s.sd,
                        f"{m}_ci_low": lo, f"{m}_ci_high": hi})
        row["params"] = g.params
        row["seed_list"] = g.seeds
        rows.append(row)
    return {"sweep": name, "objectives": [{"metric": m, "direction": d}
                                          for m, d in zip(metrics, directions)],
            "reference_point": reference, "configurations": len(judged),
            "not_replicated": len(groups) - len(judged),
            "frontier_size": len(members),
            "hypervolume_of_means": mean_hypervolume(members, metrics, directions, reference),
            "hypervolume_interval": list(percentile_interval(draws)) if groups else None,
            "rows": rows}


def write_replicated_files(doc: dict[str, Any], csv_path: Path, json_path: Path,
                           png_path: Path) -> None:
    _atomic(json_path, json.dumps(doc, indent=2, default=jsonable) + "\n")
    flat = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()}
            for r in doc["rows"]]
    columns: list[str] = []
    for r in flat:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or ["group"])
    writer.writeheader()
    writer.writerows(flat)
    _atomic(csv_path, buf.getvalue())
    save_png(replicated_figure(doc), png_path)


def replicated_figure(doc: dict[str, Any]) -> Any:
    metrics = [o["metric"] for o in doc["objectives"]]
    x_m, y_m = axes_metrics(metrics)
    fig = new_figure(7, 5)
    ax = fig.add_subplot(1, 1, 1)
    for r in doc["rows"]:
        if f"{x_m}_mean" not in r or not r["replicated"]:
            continue
        x, y = r[f"{x_m}_mean"], r[f"{y_m}_mean"]
        xerr = [[x - r[f"{x_m}_ci_low"]], [r[f"{x_m}_ci_high"] - x]]
        yerr = [[y - r[f"{y_m}_ci_low"]], [r[f"{y_m}_ci_high"] - y]]
        colour = "tab:red" if r["on_frontier"] else "0.55"
        face = "none" if r["not_separable"] else colour
        ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=colour, mfc=face, ms=5,
                    elinewidth=0.8, capsize=2, zorder=3 if r["on_frontier"] else 2)
    front = sorted((r[f"{x_m}_mean"], r[f"{y_m}_mean"]) for r in doc["rows"]
                   if r["on_frontier"] and f"{x_m}_mean" in r)
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:red",
                lw=1.2, zorder=1)
    hv = doc["hypervolume_of_means"]
    ci = doc["hypervolume_interval"]
    ci_text = f" (95 % {ci[0]:.4f}–{ci[1]:.4f})" if ci else ""
    ax.set_title(f"{doc['sweep']}: frontier of means over seeds · HV {hv:.4f}{ci_text}\n"
                 f"error bars: 95 % intervals; hollow: not separable from a dominating point",
                 fontsize=9)
    ax.set_xlabel(label(x_m))
    ax.set_ylabel(label(y_m))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def replicated_groups(outcome: Any) -> list[GroupStats]:
    """The configurations of a loaded sweep (``SweepOutcome``) with their replicates."""
    spec = outcome.spec
    return group_stats(outcome.records, outcome.replicates, spec.metrics, spec.base.seed)


__all__ = ["replicated_document", "replicated_figure", "replicated_groups",
           "write_replicated_files"]
