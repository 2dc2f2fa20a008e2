"""The report page's parts that are not about a sweep: its style, its script, its tables.

The page is one file that works offline, so style and script are inline and hand-written, with
no library: the script is small and only adds behaviour to what the HTML already shows.

- **Hover read-outs**: any plot element with ``data-trial`` (frontier points, test markers, the
  dense point, collapsed markers, hypervolume points) shows that trial's status, metrics and
  parameters from the page's JSON data (``<script type="application/json" id="demp-data">``);
  on the schedules the curve under the pointer (else the nearest one within 12 px) gives its
  exact value at the nearest computed step; on a
  heat map the cell under the pointer gives its step, layer and live units. Hovering a table row
  highlights the trial in the plots.
- **Sorting**: clicking a header of a ``table.sortable`` sorts its rows by that column (again:
  the other way), numerically when every cell of the column is a number (cells carry their raw
  value in ``data-v``), else as text with numbers inside compared as numbers; empty cells last.
  ``sortTable`` is the routine the click calls.

Text from the sweep reaches the page only through ``textContent`` (never ``innerHTML``), so a
parameter value with markup in it stays text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from demp.results.values import fmt

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px;
  border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #555; margin: 0 0 12px; } .meta b { color: #1d1d1f; }
figure { margin: 8px 0 16px; } figcaption { color: #555; font-size: 12.5px; }
.figrow { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 12px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f5f5f7; } td.l, th.l { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 9px; }
th[aria-sort=descending]::after { content: " \\25BC"; font-size: 9px; }
tr.hl td { background: #fff4d6; }
.complete { color: #137333; } .truncated { color: #b06000; } .failed { color: #c5221f; }
.collapsed-row { color: #6a3d9a; } tr.front { font-weight: 600; } .scroll { overflow-x: auto; }
.trials { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr));
  gap: 4px 24px; } .trial { border-top: 1px solid #eee; padding-top: 2px; min-width: 0; }
.trial .meta { font-size: 12.5px; overflow-wrap: anywhere; }
svg.plot { max-width: 100%; height: auto; font: 11px system-ui, sans-serif; display: block; }
svg .grid { stroke: #e8e8e8; } svg .frame { fill: none; stroke: #888; }
svg .tick { fill: #444; font-size: 10px; } svg .axis { fill: #222; font-size: 12px; }
svg .title { fill: #222; font-size: 12px; } svg .note { fill: #555; font-size: 10.5px; }
svg .lam { fill: #444; font-size: 9.5px; } svg .chance { stroke: #595959; stroke-dasharray: 5 4; }
svg .stairs { fill: none; stroke: #d62728; stroke-width: 1.4; }
svg circle.front { stroke: #000; stroke-width: .6; }
svg .test { fill: none; stroke: #d62728; stroke-width: 1.2; }
svg .test-link { stroke: #d62728; stroke-width: .7; opacity: .7; }
svg .collapsed { fill: #9467bd; } svg .dominated.low { fill: #b3b3b3; }
svg .dense { fill: #1f77b4; stroke: #000; stroke-width: .6; }
svg .hv-line { fill: none; stroke: #1f77b4; stroke-width: 1.4; } svg .hv { fill: #1f77b4; }
svg .curve { fill: none; stroke: #c8c8c8; stroke-width: .8; }
svg .curve.front { stroke-width: 1.5; }
svg [data-trial].hl { stroke: #000; stroke-width: 2.5; }
svg.heatmap image { image-rendering: pixelated; }
.key span { display: inline-block; margin-right: 14px; } .key i { display: inline-block;
  width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; border-radius: 50%; }
#tip { position: fixed; display: none; z-index: 10; background: #fff; border: 1px solid #bbb;
  box-shadow: 0 2px 8px rgba(0,0,0,.15); padding: 6px 8px; font-size: 12px; max-width: 440px;
  pointer-events: none; }
#tip table { margin: 4px 0 0; font-size: 11.5px; } #tip td { border: none; padding: 0 8px 0 0;
  text-align: left; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("demp-data").textContent);
  var byId = {}, tip = document.getElementById("tip");
  data.trials.forEach(function (t) { byId[t.id] = t; });
  var NAMES = {lam: "\u03bb_t", sigma: "\u03c3_t", lr: "lr"};
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  }
  function show(ev, t, extra, brief) {
    tip.textContent = "";
    var head = document.createElement("b");
    head.textContent = "trial " + t.id + (t.number === null ? "" : " (#" + t.number + ")");
    tip.appendChild(head);
    var line = document.createElement("div");
    line.textContent = [t.status].concat(t.notes).join(" \u00b7 ");
    tip.appendChild(line);
    var table = document.createElement("table");
    function row(k, v) {
      var tr = table.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = fmt(v);
    }
    extra.forEach(function (kv) { row(kv[0], kv[1]); });
    if (!brief) {
      data.tip_metrics.forEach(function (m) { if (m in t.metrics) row(m, t.metrics[m]); });
      Object.keys(t.params).forEach(function (p) { row(p, t.params[p]); });
    }
    tip.appendChild(table);
    tip.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) {
      x = Math.max(0, ev.clientX - tip.offsetWidth - 14);
    }
    if (y + tip.offsetHeight > window.innerHeight) {
      y = Math.max(0, ev.clientY - tip.offsetHeight - 14);
    }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function hide() { tip.style.display = "none"; }
  function local(svg, ev) {
    var p = svg.createSVGPoint();
    p.x = ev.clientX; p.y = ev.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function nearest(steps, s) {
    var best = 0;
    for (var i = 1; i < steps.length; i++) {
      if (Math.abs(steps[i] - s) < Math.abs(steps[best] - s)) best = i;
    }
    return best;
  }
  function highlight(id, on) {
    each(document.querySelectorAll("svg [data-trial]"), function (el) {
      if (el.getAttribute("data-trial") === id) el.classList.toggle("hl", on);
    });
  }

  each(document.querySelectorAll("svg.frontier, svg.hypervolume"), function (svg) {
    svg.addEventListener("mousemove", function (ev) {
      var el = ev.target.closest("[data-trial]"), t = el && byId[el.getAttribute("data-trial")];
      if (t) show(ev, t, [], false); else hide();
    });
    svg.addEventListener("mouseleave", hide);
  });

  each(document.querySelectorAll("svg.schedules"), function (svg) {
    var current = null;
    svg.addEventListener("mousemove", function (ev) {
      var panel = ev.target.closest("g.panel"), found = null;
      if (panel) {
        var d = panel.dataset, p = local(svg, ev), key = d.key, log = d.log === "1";
        var step = (p.x - d.px0) / (d.px1 - d.px0) * d.s1, best = 12;
        var v0 = log ? Math.log10(d.v0) : +d.v0, v1 = log ? Math.log10(d.v1) : +d.v1;
        var on = ev.target.closest("path[data-trial]"), only = on && on.getAttribute("data-trial");
        data.trials.forEach(function (t) {
          var c = t.schedules;
          if (!c || (only && t.id !== only)) return;
          var i = nearest(c.steps, step), v = c[key][i];
          if (log && !(v > 0)) return;
          var py = +d.py0 + ((log ? Math.log10(v) : v) - v0) / (v1 - v0) * (d.py1 - d.py0);
          if (Math.abs(py - p.y) < best) { best = Math.abs(py - p.y); found = [t, i, key]; }
        });
      }
      var id = found ? found[0].id : null;
      if (id !== current) {
        if (current) highlight(current, false);
        if (id) highlight(id, true);
        current = id;
      }
      if (!found) { hide(); return; }
      var c = found[0].schedules;
      var i = found[1], key = found[2];
      show(ev, found[0], [["step", c.steps[i]], [NAMES[key], c[key][i]]], true);
    });
    svg.addEventListener("mouseleave", function () {
      if (current) highlight(current, false);
      current = null;
      hide();
    });
  });

  each(document.querySelectorAll("svg.heatmap"), function (svg) {
    svg.addEventListener("mousemove", function (ev) {
      var t = byId[svg.getAttribute("data-trial")], h = t && t.heat, d = svg.dataset;
      var p = local(svg, ev);
      if (!h) { hide(); return; }
      var j = Math.floor((p.x - d.x) / d.w * h.steps.length);
      var i = Math.floor((p.y - d.y) / d.h * h.groups.length);
      if (i < 0 || j < 0 || i >= h.groups.length || j >= h.steps.length) { hide(); return; }
      show(ev, t, [["step", h.steps[j]], ["layer", h.groups[i]], ["live units", h.live[i][j]],
                   ["live fraction", h.frac[i][j]]], true);
    });
    svg.addEventListener("mouseleave", hide);
  });

  function cellKey(row, col) {
    var c = row.cells[col], v = c.getAttribute("data-v");
    return v === null ? c.textContent.trim() : v;
  }
  function sortTable(table, col, descending) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (r) {
      var k = cellKey(r, col);
      return k === "" || isFinite(Number(k));
    });
    rows.sort(function (a, b) {
      var x = cellKey(a, col), y = cellKey(b, col);
      if (x === "" || y === "") return (x === "") - (y === "");
      var d = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, {numeric: true});
      return descending ? -d : d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    each(table.tHead.rows[0].cells, function (th, i) {
      if (i === col) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
  }
  each(document.querySelectorAll("table.sortable"), function (table) {
    each(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        sortTable(table, col, th.getAttribute("aria-sort") === "ascending");
      });
    });
    each(table.tBodies[0].rows, function (tr) {
      var id = tr.getAttribute("data-trial");
      if (!id) return;
      tr.addEventListener("mouseenter", function () {
        tr.classList.add("hl");
        highlight(id, true);
      });
      tr.addEventListener("mouseleave", function () {
        tr.classList.remove("hl");
        highlight(id, false);
      });
    });
  });
  window.dempReport = {sortTable: sortTable, trials: byId};
})();
"""


def data_json(data: Mapping[str, Any]) -> str:
    """The page's data as JSON safe inside ``<script>``: no ``<`` at all (``</script>`` or
    ``<!--`` in a parameter value cannot end the block), NaN and infinities as ``null`` (JSON
    has neither; the caller converts them, and ``allow_nan=False`` proves it did)."""
    return json.dumps(data, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def cell_value(value: Any) -> str | None:
    """A cell's sort key: the raw number (``repr``, so sorting sees every digit) or "" for a
    missing / non-finite number; None for text (sorted by what it shows)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ""
    return None


def table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], left: set[str],
               row_class: Callable[[Mapping[str, Any]], str] | None = None,
               table_id: str = "") -> str:
    """A sortable table; each row carries its ``trial_id`` as ``data-trial``."""
    ident = f' id="{html.escape(table_id, quote=True)}"' if table_id else ""
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(c)}</th>'
                   for c in columns)
    body = []
    for r in rows:
        cls = f' class="{html.escape(row_class(r), quote=True)}"' if row_class else ""
        tid = r.get("trial_id")
        attr = f' data-trial="{html.escape(str(tid), quote=True)}"' if tid is not None else ""
        cells = []
        for c in columns:
            v = r.get(c)
            key = cell_value(v)
            data_v = f' data-v="{html.escape(key, quote=True)}"' if key is not None else ""
            cells.append(f'<td class="{"l" if c in left else ""}"{data_v}>'
                         f"{html.escape(fmt(v))}</td>")
        body.append(f"<tr{cls}{attr}>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="sortable"{ident}><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>')


__all__ = ["SCRIPT", "STYLE", "cell_value", "data_json", "table_html"]
