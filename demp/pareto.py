"""Multi-objective utilities for tracing accuracy–sparsity Pareto frontiers.

A DemP sweep trades accuracy against sparsity (and sometimes FLOPs or training time), so a single
"best trial" does not exist: what a sweep produces is a frontier. These helpers rank trials into
non-dominated fronts, spread selections along a front (crowding distance) and measure a whole
front with one number (hypervolume) so that sweeps can be compared and their progress plotted.

Every public function takes the objective values in their ORIGINAL units together with one
direction per objective ("maximize" or "minimize"). Internally everything is converted once to
minimization (maximized columns negated) so that each algorithm is written for one case only;
keeping the conversion in one validated place is what stops sign errors from creeping in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Direction",
    "crowding_distance",
    "default_reference",
    "dominates",
    "hypervolume",
    "hypervolume_history",
    "non_dominated_sort",
    "pareto_mask",
    "to_minimization",
]

Direction = Literal["maximize", "minimize"]
_DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]


# --------------------------------------------------------------------------------------------
# Validation and conversion
# --------------------------------------------------------------------------------------------


def _validate_directions(directions: Sequence[str]) -> list[str]:
    """Check ``directions`` up front so a typo fails loudly instead of silently flipping a sign."""
    if isinstance(directions, str):
        # A bare string is a Sequence[str] of characters; catching it gives a useful message.
        raise ValueError(
            f"directions must be a sequence of 'maximize'/'minimize', one per objective, "
            f"got the bare string {directions!r}; did you mean [{directions!r}]?"
        )
    dirs = list(directions)
    if not dirs:
        raise ValueError("directions must name at least one objective")
    for i, d in enumerate(dirs):
        if d not in _DIRECTIONS:
            raise ValueError(f"directions[{i}] must be 'maximize' or 'minimize', got {d!r}")
    return dirs


def _sign(directions: Sequence[str]) -> FloatArray:
    """+1 for minimized and -1 for maximized objectives: multiplying by it maps to minimization."""
    return np.array([-1.0 if d == "maximize" else 1.0 for d in directions])


def to_minimization(points: npt.ArrayLike, directions: Sequence[str]) -> FloatArray:
    """Return ``points`` as an ``(n, m)`` float array in which every objective is minimized.

    Maximized columns are negated, which preserves dominance and hypervolume, so all algorithms
    below only need a minimization version. Validation lives here because every public function
    goes through it: a bad direction, a column count that does not match the directions, or a
    NaN/inf (which would make dominance comparisons silently false) raise ``ValueError``.

    An empty input (``[]``) is read as zero points. A 1-D array is accepted only for a single
    objective (``n`` points with one value each); otherwise it would be ambiguous with one point.
    """
    dirs = _validate_directions(directions)
    m = len(dirs)
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1 and (arr.size == 0 or m == 1):
        arr = arr.reshape(-1, m)
    if arr.ndim != 2:
        raise ValueError(
            f"points must be a 2-D array of shape (n_points, {m}), got shape {arr.shape}"
        )
    if arr.shape[1] != m:
        raise ValueError(
            f"points have {arr.shape[1]} objective column(s) but {m} direction(s) were given "
            f"(points shape {arr.shape}, directions {dirs})"
        )
    if not np.all(np.isfinite(arr)):
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(arr))[:, 0]})
        raise ValueError(
            f"points must be finite; rows {bad[:10]}{'...' if len(bad) > 10 else ''} contain "
            f"NaN or inf (drop failed trials before computing Pareto quantities)"
        )
    return arr * _sign(dirs)


def _reference_to_minimization(
    reference: Sequence[float], directions: Sequence[str]
) -> FloatArray:
    """Validate a reference point given in original units and map it to minimization space."""
    dirs = _validate_directions(directions)
    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or ref.shape[0] != len(dirs):
        raise ValueError(
            f"reference must have one value per objective ({len(dirs)}), got shape {ref.shape}"
        )
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be finite, got {ref.tolist()}")
    return ref * _sign(dirs)


# --------------------------------------------------------------------------------------------
# Dominance and non-dominated sorting
# --------------------------------------------------------------------------------------------


def dominates(a: npt.ArrayLike, b: npt.ArrayLike, directions: Sequence[str]) -> bool:
    """True if ``a`` is at least as good as ``b`` everywhere and strictly better somewhere.

    This is the (Pareto) dominance relation all other functions are defined by; identical points
    do not dominate each other.
    """
    a_min = to_minimization(np.asarray(a, dtype=float).reshape(1, -1), directions)[0]
    b_min = to_minimization(np.asarray(b, dtype=float).reshape(1, -1), directions)[0]
    return bool(np.all(a_min <= b_min) and np.any(a_min < b_min))


def _dominance_matrix(loss: FloatArray) -> BoolArray:
    """``dom[i, j]`` is True iff row ``i`` dominates row ``j`` (minimization).

    Built one objective at a time so memory stays at a few ``n x n`` boolean matrices rather than
    ``n x n x m``.
    """
    n = loss.shape[0]
    all_le = np.ones((n, n), dtype=bool)
    any_lt = np.zeros((n, n), dtype=bool)
    for k in range(loss.shape[1]):
        col = loss[:, k]
        all_le &= col[:, None] <= col[None, :]
        any_lt |= col[:, None] < col[None, :]
    return all_le & any_lt


def non_dominated_sort(points: npt.ArrayLike, directions: Sequence[str]) -> list[IndexArray]:
    """Split the rows of ``points`` into non-dominated fronts (row indices, ascending).

    Front 0 is the Pareto set; front k holds the points that are non-dominated once fronts
    0..k-1 are removed, so every point of front k is dominated by some point of front k-1 and by
    none of fronts >= k. Identical points never dominate each other and therefore always share a
    front. Empty input gives ``[]``.

    The O(m n^2) peeling (Deb et al.'s fast non-dominated sort) is plenty for sweep-sized inputs
    (hundreds to a few thousand trials) and has no special cases that could mishandle ties.
    """
    loss = to_minimization(points, directions)
    n = loss.shape[0]
    if n == 0:
        return []
    dom = _dominance_matrix(loss)
    n_dominators = dom.sum(axis=0)
    assigned = np.zeros(n, dtype=bool)
    fronts: list[IndexArray] = []
    while not assigned.all():
        # Dominance is a strict partial order, so the remaining points always have a minimal one.
        front = np.flatnonzero((n_dominators == 0) & ~assigned).astype(np.intp)
        assigned[front] = True
        n_dominators = n_dominators - dom[front].sum(axis=0)
        fronts.append(front)
    return fronts


def pareto_mask(points: npt.ArrayLike, directions: Sequence[str]) -> BoolArray:
    """Boolean mask of the rows no other row dominates (front 0 of ``non_dominated_sort``)."""
    loss = to_minimization(points, directions)
    if loss.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return ~_dominance_matrix(loss).any(axis=0)


# --------------------------------------------------------------------------------------------
# Crowding distance
# --------------------------------------------------------------------------------------------


def crowding_distance(points: npt.ArrayLike, directions: Sequence[str]) -> FloatArray:
    """NSGA-II crowding distance of each row; call it on one front at a time.

    Per objective, the points are sorted and each interior point gets the gap between its two
    neighbours divided by the objective's range (so objectives in different units weigh the same);
    the two extreme points get ``inf`` so that the ends of a front are always kept. The per-
    objective terms are summed. An objective whose range is zero carries no information about
    spread, so it contributes 0 to every point -- including no ``inf`` for its "extremes", which
    would be chosen by index order among identical values. A single point, or a set of identical
    points, therefore gets 0. Ties are broken by row order (stable sort), as in the usual
    implementations. Directions only matter for validation: the distance is sign-invariant.
    """
    loss = to_minimization(points, directions)
    n, m = loss.shape
    distance = np.zeros(n, dtype=float)
    for k in range(m):
        order = np.argsort(loss[:, k], kind="stable")
        values = loss[order, k]
        span = values[-1] - values[0] if n else 0.0
        if span <= 0.0:
            continue
        distance[order[0]] = np.inf
        distance[order[-1]] = np.inf
        if n > 2:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


# --------------------------------------------------------------------------------------------
# Hypervolume
# --------------------------------------------------------------------------------------------


@functools.cache
def _optuna_hypervolume() -> Callable[..., float] | None:
    """Optuna's exact WFG hypervolume (``compute_hypervolume(loss_vals, reference_point)``).

    It is a private Optuna module, so it is imported lazily and optionally: any Optuna without it
    falls back to our own exact slicing implementation. It expects minimization losses that are
    all ``<= reference_point`` (it raises otherwise) -- ``_hypervolume_loss`` guarantees that.
    """
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError:
        return None
    return compute_hypervolume


def _hypervolume_2d(loss: FloatArray, ref: FloatArray) -> float:
    """Exact 2-D hypervolume by one sweep in x (O(n log n)); all rows must be < ``ref``.

    With rows sorted by x, a row that lowers the running minimum of y adds the horizontal strip
    between its y and the previous minimum, which is covered from its x up to ``ref[0]``: no
    earlier row reaches that low and it has the smallest x of the rows that do.
    """
    order = np.lexsort((loss[:, 1], loss[:, 0]))
    x = loss[order, 0]
    running_min_y = np.minimum.accumulate(loss[order, 1])
    previous_y = np.concatenate(([ref[1]], running_min_y[:-1]))
    return float(np.sum((ref[0] - x) * (previous_y - running_min_y)))


def _hypervolume_hso(loss: FloatArray, ref: FloatArray) -> float:
    """Exact hypervolume in any dimension by slicing along the last objective (HSO).

    Between consecutive values of the last objective, the dominated region is a slab whose cross-
    section is the (m-1)-D hypervolume of the points already reached. Exponential in m but exact
    and simple; only used when Optuna's implementation is unavailable. Rows must be < ``ref``.
    """
    n, m = loss.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - loss[:, 0].min())
    if m == 2:
        return _hypervolume_2d(loss, ref)
    loss = loss[np.argsort(loss[:, -1], kind="stable")]
    tops = np.concatenate((loss[1:, -1], ref[-1:]))
    total = 0.0
    for i in range(n):
        depth = tops[i] - loss[i, -1]
        if depth > 0.0:
            active = loss[: i + 1, :-1]
            active = active[~_dominance_matrix(active).any(axis=0)]
            total += depth * _hypervolume_hso(np.unique(active, axis=0), ref[:-1])
    return total


def _hypervolume_loss(loss: FloatArray, ref: FloatArray) -> float:
    """Hypervolume in minimization space, keeping only rows strictly better than ``ref``.

    Rows that tie the reference in some objective bound a zero-volume box and rows worse than it
    bound none, so dropping them changes nothing -- and it is what Optuna's routine requires.
    """
    loss = loss[np.all(loss < ref, axis=1)]
    if loss.shape[0] == 0:
        return 0.0
    m = loss.shape[1]
    if m == 1:
        return float(ref[0] - loss[:, 0].min())
    if m == 2:
        return _hypervolume_2d(loss, ref)
    optuna_hv = _optuna_hypervolume()
    if optuna_hv is not None:
        return float(optuna_hv(loss, ref))
    return _hypervolume_hso(loss, ref)


def hypervolume(
    points: npt.ArrayLike, directions: Sequence[str], reference: Sequence[float]
) -> float:
    """Exact volume of the region dominated by ``points`` and bounded by ``reference``.

    ``reference`` is in the same units and directions as the points, e.g. ``(1/num_classes, 0.0)``
    for (maximize accuracy, maximize sparsity): it states the worst outcome still worth counting,
    so a trial must beat it in EVERY objective to contribute. Hypervolume only compares sweeps
    that share a reference point (see ``default_reference``).

    Two objectives use an O(n log n) sweep; three or more use Optuna's exact WFG implementation
    when importable and our own exact slicing (HSO) otherwise.
    """
    loss = to_minimization(points, directions)
    ref = _reference_to_minimization(reference, directions)
    return _hypervolume_loss(loss, ref)


def hypervolume_history(
    points_in_finish_order: npt.ArrayLike,
    directions: Sequence[str],
    reference: Sequence[float],
) -> list[float]:
    """Hypervolume after each point is added, in the given (finish) order.

    This is the "is the sweep still improving?" curve. Only the current Pareto set is kept, and
    the volume is recomputed only when a new point is not weakly dominated by it (otherwise the
    volume cannot change), so the cost scales with the front size rather than the trial count.
    The true curve is non-decreasing; a running maximum guards the returned values against
    last-bit rounding differences between recomputations.
    """
    loss = to_minimization(points_in_finish_order, directions)
    ref = _reference_to_minimization(reference, directions)
    front = np.empty((0, loss.shape[1]), dtype=float)
    current = 0.0
    history: list[float] = []
    for q in loss:
        improves_reference = bool(np.all(q < ref))
        weakly_dominated = bool(np.any(np.all(front <= q, axis=1)))
        if improves_reference and not weakly_dominated:
            front = np.vstack((front[~np.all(q <= front, axis=1)], q))
            current = max(current, _hypervolume_loss(front, ref))
        history.append(current)
    return history


# --------------------------------------------------------------------------------------------
# Reference points
# --------------------------------------------------------------------------------------------


def default_reference(objectives: Sequence[tuple[str, str]], num_classes: int) -> list[float]:
    """A stated, reproducible reference point for common DemP objectives.

    Hypervolumes are only comparable under the same reference, so rather than deriving one from
    the data (which moves between sweeps) we use the natural "worthless" value of each metric:
    chance accuracy ``1/num_classes`` for maximized accuracy metrics (name contains "acc"; values
    are fractions in [0, 1]) and 0.0 for maximized sparsity metrics (name contains "sparsity").
    Minimized costs such as "flops" or "train_time" have no natural worst value, so they raise
    ``ValueError``: pass an explicit reference to ``hypervolume`` instead of guessing one.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be an integer, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(
            f"num_classes must be >= 2 for chance accuracy to mean anything, got {num_classes}"
        )
    reference: list[float] = []
    for metric, direction in objectives:
        _validate_directions([direction])
        name = metric.lower()
        is_acc, is_sparsity = "acc" in name, "sparsity" in name
        if is_acc and not is_sparsity and direction == "maximize":
            reference.append(1.0 / num_classes)
        elif is_sparsity and not is_acc and direction == "maximize":
            reference.append(0.0)
        else:
            raise ValueError(
                f"no default reference value for metric {metric!r} ({direction}); state the "
                f"reference point explicitly (e.g. hypervolume(..., reference=[...]))"
            )
    return reference
