"""What the frontier scatter shows, as data: the points, the staircase, the axis range, labels.

Two renderers draw the frontier: matplotlib for ``frontier.png`` and the W&B sweep run
(``demp.results.plot``), inline SVG for the interactive report (``demp.results.svg``). Both draw
a ``FrontierPoints`` and take its geometry from here, so the PNG and the page agree on every
choice:

- **staircase** (``staircase``): a frontier point dominates the region on its worse side in both
  objectives, so the attainable boundary between two neighbours is a step, never the straight
  segment that would claim an accuracy at a sparsity no trial reached;
- **y range** (``y_limits``): fitted to the frontier, its test accuracies, the dominated points
  near it and the chance line when it is close, not stretched to 0 by one collapsed trial;
- **collapsed trials** (``demp.results.collapse``) are split out and drawn apart, at the bottom
  edge of the axes with a count;
- **λ labels** (``spaced_labels``): on frontier points only, and only where a label keeps its
  distance from the ones already placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from demp.results.collapse import chance_accuracy, is_accuracy, split_collapsed
from demp.results.frontier import Frontier
from demp.results.records import TrialRecord
from demp.results.trial_config import dense_record
from demp.results.values import is_finite
from demp.spec.schema import SweepSpec

Point = tuple[float, float]
LAMBDA_PARAM = "demp.regularizer.peak"   # the sampled peak λ a frontier point is labelled with


@dataclass(frozen=True)
class Mark:
    """One trial in the scatter: ``x`` / ``y`` as plotted, ``test`` the test value of the same
    metric (frontier points), ``lam`` its sampled peak λ (None when λ is not searched)."""

    trial_id: str
    x: float
    y: float
    test: float | None = None
    lam: float | None = None


@dataclass
class FrontierPoints:
    """Everything one frontier scatter draws. ``frontier`` is sorted by x; ``directions`` are
    those of the x and y metrics (``None`` for x when it is not an objective, e.g. the step)."""

    x_metric: str
    y_metric: str
    directions: tuple[str | None, str]
    frontier: list[Mark] = field(default_factory=list)
    dominated: list[Mark] = field(default_factory=list)
    collapsed: list[Mark] = field(default_factory=list)
    chance: float | None = None
    dense: Mark | None = None

    @property
    def steps(self) -> list[Point]:
        """The staircase through the frontier (none when x is not an objective)."""
        if self.directions[0] is None:
            return []
        return staircase([(m.x, m.y) for m in self.frontier], self.directions)

    def ylim(self) -> tuple[float, float] | None:
        ys = [m.y for m in self.frontier] + [m.test for m in self.frontier if m.test is not None]
        if self.dense is not None:
            ys.append(self.dense.y)
        return y_limits(ys, [m.y for m in self.dominated], self.chance)

    def xlim(self) -> tuple[float, float] | None:
        """Every drawn point's x, the collapsed ones at the bottom edge included."""
        xs = [m.x for m in (*self.frontier, *self.dominated, *self.collapsed)]
        return x_limits(xs + ([self.dense.x] if self.dense is not None else []))

    def below(self, lo: float) -> tuple[list[Mark], list[Mark]]:
        """(dominated, collapsed) points under the axis' lower limit, drawn at its edge."""
        return [m for m in self.dominated if m.y < lo], [m for m in self.collapsed if m.y < lo]

    @property
    def test_label(self) -> str:
        return test_metric(self.y_metric) or "test"


# ------------------------------------------------------------------------------ geometry


def staircase(points: Sequence[Point], directions: Sequence[str | None]) -> list[Point]:
    """Vertices of the attainment boundary of ``points`` in order of increasing x.

    Points dominated in these two objectives are left out (with more than two objectives a
    frontier member can look dominated in the projection). Between neighbours a and b the line
    goes from a to (a.x, b.y) to b: at an x strictly between them the best value any trial
    reached is b's, so the boundary holds b's y up to a.x. For two maximized objectives:
    ``[(0.1, 0.9), (0.5, 0.8)]`` → ``[(0.1, 0.9), (0.1, 0.8), (0.5, 0.8)]``.
    """
    sx = 1.0 if directions[0] == "maximize" else -1.0
    sy = 1.0 if directions[1] == "maximize" else -1.0
    pts = sorted({(sx * x, sy * y) for x, y in points}, key=lambda p: (-p[0], -p[1]))
    front: list[Point] = []
    for x, y in pts:  # descending x: a point stays if it beats every point to its right in y
        if not front or y > front[-1][1]:
            front.append((x, y))
    front.reverse()
    out: list[Point] = []
    for i, (x, y) in enumerate(front):
        if i:
            out.append((front[i - 1][0], y))
        out.append((x, y))
    path = [(sx * x, sy * y) for x, y in out]
    return path if sx > 0 else path[::-1]


def y_limits(front: Sequence[float], others: Sequence[float], chance: float | None = None,
             pad: float = 0.06, min_span: float = 0.02) -> tuple[float, float] | None:
    """The y range: the frontier's values (``front``: its points, their test values, the dense
    point) and the ``others`` above or less than one frontier span below them; the chance line
    only when it is within one span too. Nothing outside the range is ever drawn inside it:
    points below it go to the bottom edge. Padded by ``pad`` of the range on both sides. None
    when nothing is finite (the renderer then autoscales)."""
    core = [float(v) for v in front if is_finite(v)]
    rest = [float(v) for v in others if is_finite(v)]
    if not core:
        core, rest = rest, []
    if not core:
        return None
    lo, hi = min(core), max(core)
    span = max(hi - lo, min_span)
    near = [v for v in rest if v >= lo - span]   # above the frontier: only with > 2 objectives
    if chance is not None and lo - span <= chance <= hi + span:
        near.append(chance)
    lo, hi = min([lo, *near]), max([hi, *near])
    if hi - lo < min_span:
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    extra = pad * (hi - lo)
    return lo - extra, hi + extra


def x_limits(values: Sequence[float], pad: float = 0.05) -> tuple[float, float] | None:
    """The x range of ``values``, padded by ``pad`` of it (a lone value gets ±0.05)."""
    xs = [float(v) for v in values if is_finite(v)]
    if not xs:
        return None
    lo, hi = min(xs), max(xs)
    extra = pad * (hi - lo) if hi > lo else 0.05 * (abs(lo) or 1.0)
    return lo - extra, hi + extra


def spaced_labels(points: Sequence[Point], xlim: tuple[float, float],
                  ylim: tuple[float, float], min_gap: float = 0.08) -> list[int]:
    """Indices of ``points`` to label: greedily in order, a point is labelled when its label
    would sit at least ``min_gap`` (a fraction of the axes, in both directions) from every label
    already placed, so labels never pile up where frontier points crowd."""
    wx = (xlim[1] - xlim[0]) or 1.0
    wy = (ylim[1] - ylim[0]) or 1.0
    placed: list[Point] = []
    chosen = []
    for i, (x, y) in enumerate(points):
        u, v = (x - xlim[0]) / wx, (y - ylim[0]) / wy
        if all(abs(u - a) >= min_gap or abs(v - b) >= min_gap / 2 for a, b in placed):
            placed.append((u, v))
            chosen.append(i)
    return chosen


def lam_label(lam: float) -> str:
    return f"λ={lam:.2g}"


# ------------------------------------------------------------------------------ building


def axes_metrics(metrics: Sequence[str]) -> tuple[str, str]:
    """``(x, y)`` metrics of the scatter: sparsity on x, accuracy on y reads as "how much can be
    removed at what cost" (with one objective, x is the trial's step)."""
    return (metrics[1], metrics[0]) if len(metrics) > 1 else ("step", metrics[0])


def test_metric(metric: str) -> str | None:
    """The test-set twin of a validation metric (``val_acc`` → ``test_acc``), if it has one."""
    return "test_" + metric[4:] if metric.startswith("val_") else None


def _finite(value: Any) -> float | None:
    return float(value) if is_finite(value) else None


def _mark(r: TrialRecord, x_m: str, y_m: str, with_test: bool = False) -> Mark | None:
    x, y = _finite(r.metrics.get(x_m)), _finite(r.metrics.get(y_m))
    if x is None or y is None:
        return None
    t = test_metric(y_m)
    test = _finite(r.metrics.get(t)) if with_test and t else None
    return Mark(r.trial_id, x, y, test, _finite(r.params.get(LAMBDA_PARAM)))


def frontier_points(frontier: Frontier, chance: float | None = None,
                    dense: TrialRecord | Point | None = None) -> FrontierPoints:
    """The scatter of a sweep's frontier: members (less collapsed ones), the dominated complete
    trials, the collapsed ones (when ``chance`` is given and y is an accuracy) and the dense
    reference (a trial's record, or an ``(x, y)`` the caller measured)."""
    x_m, y_m = axes_metrics(frontier.metrics)
    dirs = frontier.directions
    directions = (dirs[1] if len(dirs) > 1 else None, dirs[0])
    if not is_accuracy(y_m, directions[1]):
        chance = None
    members = {r.trial_id for r in frontier.members}
    kept, collapsed = split_collapsed(frontier.complete, chance, y_m)

    def marks(records: Sequence[TrialRecord], with_test: bool = False) -> list[Mark]:
        return [m for r in records if (m := _mark(r, x_m, y_m, with_test)) is not None]

    front = sorted(marks([r for r in kept if r.trial_id in members], with_test=True),
                   key=lambda m: (m.x, -m.y))
    grey = marks([r for r in kept if r.trial_id not in members])
    if isinstance(dense, TrialRecord):
        dense_mark = _mark(dense, x_m, y_m)
    elif dense is not None:
        dense_mark = Mark("dense", float(dense[0]), float(dense[1]))
    else:
        dense_mark = None
    return FrontierPoints(x_m, y_m, directions, front, grey, marks(collapsed), chance,
                          dense_mark)


def sweep_frontier_points(spec: SweepSpec, frontier: Frontier,
                          records: Sequence[TrialRecord]) -> FrontierPoints:
    """``frontier_points`` with what the spec tells: chance accuracy of its dataset and its
    dense trial, if it ran one (``demp.results.trial_config.dense_record``)."""
    _, y_m = axes_metrics(frontier.metrics)
    return frontier_points(frontier, chance_accuracy(spec), dense_record(spec, records, y_m))


def points_from_xy(frontier: Sequence[tuple[Any, Any]], dominated: Sequence[tuple[Any, Any]],
                   x_metric: str, y_metric: str, *,
                   directions: tuple[str | None, str] | None = None,
                   collapsed: Sequence[tuple[Any, Any]] = (), chance: float | None = None,
                   test: Sequence[Any] | None = None, lam: Sequence[Any] | None = None,
                   dense: Point | None = None) -> FrontierPoints:
    """A ``FrontierPoints`` from plain ``(x, y)`` pairs (what the W&B sweep run has: rows);
    ``test`` / ``lam`` run parallel to ``frontier``. Non-numeric or non-finite pairs are left out.
    Without ``directions``, accuracies and sparsities are taken as maximized, anything else
    (FLOPs, time, loss) as minimized."""
    dirs = directions or (guess_direction(x_metric), guess_direction(y_metric))
    n = len(frontier)
    tests = list(test) if test is not None else [None] * n
    lams = list(lam) if lam is not None else [None] * n

    def marks(pairs: Sequence[tuple[Any, Any]], extra: Sequence[tuple[Any, Any]] | None = None
              ) -> list[Mark]:
        out = []
        for i, (x, y) in enumerate(pairs):
            fx, fy = _finite(x), _finite(y)
            if fx is not None and fy is not None:
                t, lm = extra[i] if extra is not None else (None, None)
                out.append(Mark(str(i), fx, fy, _finite(t), _finite(lm)))
        return out

    front = sorted(marks(frontier, list(zip(tests, lams))), key=lambda m: (m.x, -m.y))
    d = Mark("dense", float(dense[0]), float(dense[1])) if dense is not None else None
    return FrontierPoints(x_metric, y_metric, dirs, front, marks(dominated), marks(collapsed),
                          chance, d)


def guess_direction(metric: str) -> str:
    name = metric.lower()
    return "maximize" if ("acc" in name or "sparsity" in name) else "minimize"


def finite_or_none(value: Any) -> float | None:
    """A JSON-safe number: NaN and infinities (which JSON cannot hold) become None."""
    if isinstance(value, bool) or not is_finite(value):
        return None
    v = float(value)
    return int(v) if isinstance(value, int) else v


__all__ = ["LAMBDA_PARAM", "FrontierPoints", "Mark", "Point", "axes_metrics", "finite_or_none",
           "frontier_points", "guess_direction", "lam_label", "points_from_xy",
           "spaced_labels", "staircase", "sweep_frontier_points", "test_metric", "x_limits",
           "y_limits"]
