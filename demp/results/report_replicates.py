"""The report's section on replicates: the frontier of means over seeds with its error bars, and
a sortable table of each configuration's mean, sd and 95 % interval per objective
(``demp.results.replicated``). Absent when the sweep has no replicates."""

from __future__ import annotations

import base64
import html
from typing import Any

from demp.results.plot import png_bytes
from demp.results.replicated import replicated_document, replicated_figure, replicated_groups
from demp.results.report_page import table_html


def replicates_section(outcome: Any) -> list[str]:
    """HTML parts (heading, figure, table) for a sweep with replicates, else nothing."""
    if not outcome.replicates:
        return []
    spec = outcome.spec
    doc = replicated_document(replicated_groups(outcome), spec.metrics, spec.directions,
                              spec.reference_point(), spec.name)
    png = base64.b64encode(png_bytes(replicated_figure(doc))).decode("ascii")
    lo, hi = doc["hypervolume_interval"] or (float("nan"), float("nan"))
    rows, cols = [], ["config", "seeds", "frontier", "not separable"]
    for r in doc["rows"]:
        if not r["replicated"]:
            continue
        row: dict[str, Any] = {"config": r["group"], "seeds": r["seeds"],
                               "frontier": "yes" if r["on_frontier"] else "",
                               "not separable": "yes" if r["not_separable"] else ""}
        for m in spec.metrics:
            for key, label in ((f"{m}_mean", f"{m} mean"), (f"{m}_sd", f"{m} sd"),
                               (f"{m}_ci_low", f"{m} 95% low"),
                               (f"{m}_ci_high", f"{m} 95% high")):
                row[label] = r[key]
                if label not in cols:
                    cols.append(label)
        rows.append(row)
    skipped = doc["not_replicated"]
    return [
        "<h2>Replicates: the frontier over seeds</h2>",
        f'<p class="meta">{doc["configurations"]} configurations re-run on further seeds; '
        f"hypervolume of their means {doc['hypervolume_of_means']:.4f} (95 % bootstrap interval "
        f"{lo:.4f}–{hi:.4f}). Error bars: 95 % t-intervals of each mean; hollow points cannot be "
        f"told from a configuration that dominates them."
        + (f" {skipped} configuration(s) with one seed are left out." if skipped else "")
        + "</p>",
        f'<figure><img alt="frontier of means with error bars" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(spec.name)}: frontier of means over seeds.</figcaption>"
        "</figure>",
        table_html(rows, cols, {"config", "frontier", "not separable"},
                   table_id="replicates-table"),
    ]


__all__ = ["replicates_section"]
