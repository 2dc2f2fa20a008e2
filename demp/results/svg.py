"""The report's interactive plots as inline SVG: frontier, hypervolume, schedules, heat maps.

Every drawn trial carries ``data-trial="<id>"``; the page's script (``demp.results.report_page``)
looks the id up in the report's JSON data for its hover read-out. The frontier draws the same
``FrontierPoints`` as ``frontier.png`` with the same geometry (``demp.results.scatter``): the
staircase, the fitted y range, collapsed trials at the bottom edge, test accuracy as hollow
markers, the chance line, the dense point, λ labels where they do not crowd.

Colours are matplotlib's (tab:red frontier, grey dominated, tab:purple collapsed, tab:blue
dense), so the SVG and the PNGs beside it read the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from demp.results.history import TrialHistory
from demp.results.plot import label
from demp.results.scatter import FrontierPoints, Mark, lam_label, spaced_labels
from demp.results.schedule_curves import ScheduleCurves
from demp.results.svg_axes import Panel, esc, num, path_d, value_range

RED, GREY, PURPLE, BLUE, CHANCE = "#d62728", "#b3b3b3", "#9467bd", "#1f77b4", "#595959"
CYCLE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
         "#bcbd22", "#17becf"]


def _svg(width: int, height: int, body: str, cls: str, extra: str = "") -> str:
    return (f'<svg class="plot {cls}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}"{extra}>{body}</svg>')


def _tri(x: float, y: float, r: float = 5.0) -> str:
    """A downward triangle with its tip at (x, y): a point below the axis, at its edge."""
    return f"{num(x - r)},{num(y - 1.7 * r)} {num(x + r)},{num(y - 1.7 * r)} {num(x)},{num(y)}"


def frontier_svg(pts: FrontierPoints, width: int = 760, height: int = 460) -> str:
    """The frontier scatter (empty string when no trial has both coordinates)."""
    xlim, ylim = pts.xlim(), pts.ylim()
    if xlim is None or ylim is None:
        return ""
    p = Panel.make(70, 26, width - 90, height - 76, xlim, ylim)
    out = [p.frame(label(pts.x_metric), label(pts.y_metric))]
    body = []
    lo = ylim[0]
    if pts.chance is not None and ylim[0] <= pts.chance <= ylim[1]:
        cy = num(p.y(pts.chance))
        body.append(f'<line class="chance" x1="{num(p.left)}" y1="{cy}" x2="{num(p.right)}" '
                    f'y2="{cy}"/><text class="note" x="{num(p.right - 4)}" y="{num(float(cy) - 4)}"'
                    f' text-anchor="end">chance {pts.chance:.3g}</text>')
    elif pts.chance is not None:
        out.append(f'<text class="note" x="{num(p.left + 6)}" y="{num(p.bottom - 6)}">'
                   f"chance {pts.chance:.3g}: below the axis</text>")
    grey_low, collapsed_low = pts.below(lo)
    for m in pts.dominated:
        if m.y >= lo:
            body.append(_dot(m, p, 4, GREY, "dominated"))
    steps = pts.steps
    if steps:
        body.append(f'<path class="stairs" d="{path_d([(p.x(x), p.y(y)) for x, y in steps])}"/>')
    for m in pts.frontier:
        if m.test is not None:
            body.append(f'<line class="test-link" x1="{num(p.x(m.x))}" y1="{num(p.y(m.y))}" '
                        f'x2="{num(p.x(m.x))}" y2="{num(p.y(m.test))}"/>'
                        f'<circle class="test" data-trial="{esc(m.trial_id)}" cx="{num(p.x(m.x))}"'
                        f' cy="{num(p.y(m.test))}" r="3.5"/>')
    for m in pts.frontier:
        body.append(_dot(m, p, 5, RED, "front"))
    for m in pts.collapsed:
        if m.y >= lo:
            body.append(f'<polygon class="collapsed" data-trial="{esc(m.trial_id)}" '
                        f'points="{_tri(p.x(m.x), p.y(m.y))}"/>')
    if pts.dense is not None:
        d = pts.dense
        x, y = p.x(d.x), p.y(d.y)
        body.append(f'<polygon class="dense" data-trial="{esc(d.trial_id)}" points="'
                    f'{num(x)},{num(y - 6)} {num(x + 6)},{num(y)} {num(x)},{num(y + 6)} '
                    f'{num(x - 6)},{num(y)}"/><text class="note" x="{num(x + 8)}" '
                    f'y="{num(y + 4)}">dense</text>')
    marks = [m for m in pts.frontier if m.lam is not None]
    for i in spaced_labels([(m.x, m.y) for m in marks], xlim, ylim):
        m = marks[i]
        body.append(f'<text class="lam" x="{num(p.x(m.x) + 6)}" y="{num(p.y(m.y) - 6)}">'
                    f"{esc(lam_label(m.lam))}</text>")
    out.append(f'<g>{"".join(body)}</g>')
    for m in grey_low:
        out.append(f'<polygon class="dominated low" data-trial="{esc(m.trial_id)}" '
                   f'points="{_tri(p.x(m.x), p.bottom, 4)}"/>')
    for m in collapsed_low:
        out.append(f'<polygon class="collapsed low" data-trial="{esc(m.trial_id)}" '
                   f'points="{_tri(p.x(m.x), p.bottom)}"/>')
    if pts.collapsed:
        n = len(pts.collapsed)
        out.append(f'<text class="note collapsed-note" x="{num(p.right - 6)}" '
                   f'y="{num(p.bottom - 12)}" text-anchor="end">{n} collapsed '
                   f'trial{"s" if n != 1 else ""} below chance ▼</text>')
    return _svg(width, height, "".join(out), "frontier")


def _dot(m: Mark, p: Panel, r: float, colour: str, cls: str) -> str:
    return (f'<circle class="{cls}" data-trial="{esc(m.trial_id)}" cx="{num(p.x(m.x))}" '
            f'cy="{num(p.y(m.y))}" r="{r}" fill="{colour}"/>')


def hypervolume_svg(history: Sequence[tuple[str, float]], width: int = 380,
                    height: int = 300) -> str:
    """Hypervolume after each finished trial; each point is that trial."""
    if not history:
        return ""
    n = len(history)
    p = Panel.make(70, 26, width - 90, height - 76, (0.5, n + 0.5),
                   value_range([h for _, h in history], False))
    pts = [(p.x(i + 1), p.y(h)) for i, (_, h) in enumerate(history)]
    dots = "".join(f'<circle class="hv" data-trial="{esc(t)}" cx="{num(x)}" cy="{num(y)}" '
                   f'r="3"/>' for (t, _), (x, y) in zip(history, pts))
    return _svg(width, height, p.frame("finished trials", "hypervolume", x_integer=True)
                + f'<path class="hv-line" d="{path_d(pts)}"/>' + dots, "hypervolume")


SCHEDULE_PANELS = (("lam", "λ_t (regularization)", True), ("sigma", "σ_t (noise std)", True),
                   ("lr", "learning rate", False))


def schedules_svg(curves: Mapping[str, ScheduleCurves], highlight: Sequence[str],
                  width: int = 1160, height: int = 300) -> str:
    """λ_t, σ_t and lr over steps, one path per trial (``highlight``: frontier trials, in
    colour and drawn last). Each panel's ``data-*`` attributes map a pixel back to a step, which
    the page's script uses to read the hovered trial's exact value at that step."""
    if not curves:
        return ""
    colours = {t: CYCLE[i % len(CYCLE)] for i, t in enumerate(t for t in highlight
                                                              if t in curves)}
    order = [t for t in curves if t not in colours] + [t for t in colours]
    total = max(c.steps[-1] for c in curves.values() if c.steps)
    pw = (width - 40) / len(SCHEDULE_PANELS)
    out = []
    for k, (key, name, log) in enumerate(SCHEDULE_PANELS):
        values = [v for c in curves.values() for v in getattr(c, key)]
        log = log and any(v > 0 for v in values)
        p = Panel.make(70 + k * pw, 26, pw - 90, height - 76, (0, total),
                       value_range(values, log), log)
        paths = []
        for t in order:
            c = curves[t]
            pts = [(p.x(s), p.y(v)) if (v > 0 or not log) else None
                   for s, v in zip(c.steps, getattr(c, key))]
            style = (f'style="stroke:{colours[t]}" class="curve front"' if t in colours
                     else 'class="curve"')
            paths.append(f'<path {style} data-trial="{esc(t)}" d="{path_d(pts)}"/>')
        out.append(f'<g class="panel" data-key="{key}" data-px0="{num(p.left)}" '
                   f'data-px1="{num(p.right)}" data-s1="{total}" data-py0="{num(p.bottom)}" '
                   f'data-py1="{num(p.top)}" data-v0="{p.y.lo!r}" data-v1="{p.y.hi!r}" '
                   f'data-log="{int(log)}">{p.frame("training step", "", name, x_integer=True)}'
                   f'{"".join(paths)}</g>')
    return _svg(width, height, "".join(out), "schedules")


def heatmap_svg(history: TrialHistory, png_uri: str, cell: tuple[int, int]) -> str:
    """One trial's live-fraction grid (the PNG) framed by its layer names and steps; the
    image's position is in ``data-*`` so the page's script can name the hovered cell."""
    groups, steps = history.groups(), history.steps
    lm = 12 + 6.5 * max(len(g) for g in groups)
    w, h = cell[0] * len(steps), cell[1] * len(groups)
    width, height = int(lm + w + 12), int(h + 40)
    rows = "".join(f'<text class="tick" x="{num(lm - 5)}" y="{num(4 + (i + 0.5) * cell[1])}" '
                   f'text-anchor="end" dominant-baseline="middle">{esc(g)}</text>'
                   for i, g in enumerate(groups))
    stride = max(1, math.ceil(36 / cell[0]))   # a step label needs about 36 px
    cols = "".join(f'<text class="tick" x="{num(lm + (j + 0.5) * cell[0])}" y="{num(h + 18)}" '
                   f'text-anchor="middle">{steps[j]}</text>'
                   for j in range(0, len(steps), stride))
    return _svg(width, height,
                f'<image href="{png_uri}" x="{num(lm)}" y="4" width="{w}" height="{h}" '
                f'preserveAspectRatio="none"/>{rows}{cols}'
                f'<text class="axis" x="{num(lm + w / 2)}" y="{height - 4}" '
                f'text-anchor="middle">training step</text>', "heatmap",
                f' data-trial="{esc(history.trial_id)}" data-x="{num(lm)}" data-y="4" '
                f'data-w="{w}" data-h="{h}"')


__all__ = ["frontier_svg", "heatmap_svg", "hypervolume_svg", "schedules_svg"]
