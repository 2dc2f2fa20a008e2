"""Axes for the report's inline SVG plots: scales, ticks, frames, text, numbers.

The report draws its interactive plots as SVG written here in Python rather than by a script in
the page: the page then shows every plot even with scripts off, a test can read what was drawn,
and the page's script only adds hover read-outs and table sorting. Tick positions come from
matplotlib's locators (``MaxNLocator``, ``LogLocator``), the ones the PNGs use, so both have the
same ticks.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass


def num(v: float) -> str:
    """An SVG coordinate: one decimal, no "-0.0"."""
    s = f"{v:.1f}"
    return "0.0" if s == "-0.0" else s


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def tick_text(v: float, log: bool = False) -> str:
    if log:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.4g}"


@dataclass(frozen=True)
class Scale:
    """Data interval ``[lo, hi]`` onto the pixel interval ``[a, b]`` (linear or log10)."""

    lo: float
    hi: float
    a: float
    b: float
    log: bool = False

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def __call__(self, v: float) -> float:
        t0, t1 = self._t(self.lo), self._t(self.hi)
        frac = (self._t(v) - t0) / (t1 - t0) if t1 != t0 else 0.5
        return self.a + frac * (self.b - self.a)

    def ticks(self, n: int = 6, integer: bool = False) -> list[float]:
        from matplotlib.ticker import LogLocator, MaxNLocator

        loc = LogLocator(numticks=n) if self.log else MaxNLocator(nbins=n, integer=integer)
        lo, hi = min(self.lo, self.hi), max(self.lo, self.hi)
        t0, t1 = self._t(lo), self._t(hi)
        eps = 1e-9 * (t1 - t0 or 1.0)
        ticks = [float(t) for t in loc.tick_values(lo, hi) if t > 0 or not self.log]
        return [t for t in ticks if t0 - eps <= self._t(t) <= t1 + eps]


def value_range(values: Sequence[float], log: bool, pad: float = 0.05) -> tuple[float, float]:
    """A padded range of the finite (for log: positive) ``values``; a flat series gets ±5 %."""
    vs = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not vs:
        return (1e-6, 1.0) if log else (0.0, 1.0)
    lo, hi = min(vs), max(vs)
    if log:
        lo_t, hi_t = math.log10(lo), math.log10(hi)
        extra = pad * (hi_t - lo_t) if hi_t > lo_t else 0.5
        return 10 ** (lo_t - extra), 10 ** (hi_t + extra)
    extra = pad * (hi - lo) if hi > lo else 0.05 * (abs(lo) or 1.0)
    return lo - extra, hi + extra


@dataclass(frozen=True)
class Panel:
    """One plotting area: its frame in pixels and its two scales."""

    left: float
    top: float
    width: float
    height: float
    x: Scale
    y: Scale

    @classmethod
    def make(cls, left: float, top: float, width: float, height: float,
             xlim: tuple[float, float], ylim: tuple[float, float], ylog: bool = False) -> "Panel":
        return cls(left, top, width, height, Scale(xlim[0], xlim[1], left, left + width),
                   Scale(ylim[0], ylim[1], top + height, top, ylog))

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width

    def frame(self, xlabel: str, ylabel: str, title: str = "", x_integer: bool = False) -> str:
        """Grid lines, ticks with their values, the frame, axis labels and title."""
        out = []
        for t in self.x.ticks(integer=x_integer):
            px = num(self.x(t))
            out.append(f'<line class="grid" x1="{px}" y1="{num(self.top)}" x2="{px}" '
                       f'y2="{num(self.bottom)}"/><text class="tick" x="{px}" '
                       f'y="{num(self.bottom + 14)}" text-anchor="middle">'
                       f"{esc(tick_text(t))}</text>")
        for t in self.y.ticks():
            py = num(self.y(t))
            out.append(f'<line class="grid" x1="{num(self.left)}" y1="{py}" '
                       f'x2="{num(self.right)}" y2="{py}"/><text class="tick" '
                       f'x="{num(self.left - 5)}" y="{py}" text-anchor="end" '
                       f'dominant-baseline="middle">{esc(tick_text(t, self.y.log))}</text>')
        out.append(f'<rect class="frame" x="{num(self.left)}" y="{num(self.top)}" '
                   f'width="{num(self.width)}" height="{num(self.height)}"/>')
        out.append(f'<text class="axis" x="{num(self.left + self.width / 2)}" '
                   f'y="{num(self.bottom + 32)}" text-anchor="middle">{esc(xlabel)}</text>')
        cy = self.top + self.height / 2
        out.append(f'<text class="axis" x="{num(self.left - 48)}" y="{num(cy)}" '
                   f'text-anchor="middle" transform="rotate(-90 {num(self.left - 48)} '
                   f'{num(cy)})">{esc(ylabel)}</text>')
        if title:
            out.append(f'<text class="title" x="{num(self.left + self.width / 2)}" '
                       f'y="{num(self.top - 8)}" text-anchor="middle">{esc(title)}</text>')
        return "".join(out)


def path_d(points: Sequence[tuple[float, float] | None]) -> str:
    """An SVG path through pixel points; a ``None`` breaks the line (a value a log axis cannot
    show)."""
    parts, pen = [], "M"
    for p in points:
        if p is None:
            pen = "M"
            continue
        parts.append(f"{pen}{num(p[0])} {num(p[1])}")
        pen = "L"
    return "".join(parts)


__all__ = ["Panel", "Scale", "esc", "num", "path_d", "tick_text", "value_range"]
