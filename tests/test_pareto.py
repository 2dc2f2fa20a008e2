"""Value tests for demp.pareto against brute-force definitions written in original units."""

from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demp import pareto
from demp.pareto import (
    crowding_distance,
    default_reference,
    dominates,
    hypervolume,
    hypervolume_history,
    non_dominated_sort,
    pareto_mask,
    to_minimization,
)

SETTINGS = settings(max_examples=150, deadline=None)


# --------------------------------------------------------------------------------------------
# Brute-force references (deliberately independent of to_minimization)
# --------------------------------------------------------------------------------------------


def _better_eq(x: float, y: float, direction: str) -> bool:
    return x >= y if direction == "maximize" else x <= y


def _bf_dominates(a, b, directions) -> bool:
    weak = all(_better_eq(x, y, d) for x, y, d in zip(a, b, directions))
    strict = any(x != y for x, y in zip(a, b))
    return weak and strict


def _bf_hypervolume(points: np.ndarray, directions, reference) -> float:
    """Count cells of the coordinate-compressed grid whose far corner some point dominates."""
    pts = np.asarray(points, dtype=float).reshape(-1, len(directions))
    axes = []
    for k, d in enumerate(directions):
        r = reference[k]
        # Keep only coordinates on the improving side of the reference; others bound no cell.
        side = pts[:, k][pts[:, k] > r] if d == "maximize" else pts[:, k][pts[:, k] < r]
        axes.append(np.unique(np.concatenate(([r], side))))
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        lo = [axes[k][c] for k, c in enumerate(cell)]
        hi = [axes[k][c + 1] for k, c in enumerate(cell)]
        # Far corner = the cell corner farthest from the reference.
        far = [hi[k] if d == "maximize" else lo[k] for k, d in enumerate(directions)]
        if any(all(_better_eq(p[k], far[k], d) for k, d in enumerate(directions)) for p in pts):
            total += math.prod(h - lo_ for h, lo_ in zip(hi, lo))
    return total


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

_direction = st.sampled_from(["maximize", "minimize"])


@st.composite
def point_sets(draw, n_objectives: int, max_points: int = 25, min_points: int = 0):
    """Random (points, directions, reference); integer grids make ties and duplicates common."""
    m = n_objectives
    directions = draw(st.lists(_direction, min_size=m, max_size=m))
    n = draw(st.integers(min_points, max_points))
    if draw(st.booleans()):
        value = st.integers(-3, 3).map(float)
    else:
        value = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
    flat = draw(st.lists(value, min_size=n * m, max_size=n * m))
    points = np.array(flat, dtype=float).reshape(n, m)
    reference = draw(st.lists(value, min_size=m, max_size=m))
    for k, d in enumerate(directions):
        # Often put the reference at the worst point value so most points count and some tie it.
        if n and draw(st.booleans()):
            reference[k] = points[:, k].min() if d == "maximize" else points[:, k].max()
    return points, directions, reference


# --------------------------------------------------------------------------------------------
# Conversion and validation
# --------------------------------------------------------------------------------------------


def test_to_minimization_negates_maximized_columns():
    out = to_minimization([[0.9, 3.0], [0.5, 1.0]], ["maximize", "minimize"])
    np.testing.assert_array_equal(out, [[-0.9, 3.0], [-0.5, 1.0]])


def test_to_minimization_empty_and_single_objective_shapes():
    assert to_minimization([], ["maximize", "minimize"]).shape == (0, 2)
    np.testing.assert_array_equal(to_minimization([1.0, 2.0], ["maximize"]), [[-1.0], [-2.0]])


@pytest.mark.parametrize(
    ("points", "directions", "match"),
    [
        ([[1.0, 2.0]], ["maximize", "max"], "directions\\[1\\]"),
        ([[1.0, 2.0]], ["maximize"], "1 direction"),
        ([[1.0, 2.0]], ["maximize", "minimize", "minimize"], "3 direction"),
        ([1.0, 2.0], ["maximize", "minimize"], "2-D"),
        ([[1.0, np.nan]], ["maximize", "minimize"], "finite"),
        ([[1.0, np.inf]], ["maximize", "minimize"], "finite"),
        ([[1.0]], "maximize", "bare string"),
        ([[1.0]], [], "at least one"),
    ],
)
def test_to_minimization_errors(points, directions, match):
    with pytest.raises(ValueError, match=match):
        to_minimization(points, directions)


def test_public_functions_validate():
    with pytest.raises(ValueError, match="directions"):
        non_dominated_sort([[1.0, 2.0]], ["maximise", "minimize"])
    with pytest.raises(ValueError, match="direction"):
        crowding_distance([[1.0, 2.0]], ["maximize"])
    with pytest.raises(ValueError, match="direction"):
        pareto_mask([[1.0, 2.0]], ["up", "down"])
    with pytest.raises(ValueError, match="reference"):
        hypervolume([[1.0, 2.0]], ["maximize", "maximize"], [0.0])
    with pytest.raises(ValueError, match="reference"):
        hypervolume([[1.0, 2.0]], ["maximize", "maximize"], [0.0, np.nan])
    with pytest.raises(ValueError, match="direction"):
        dominates([1.0, 2.0], [1.0], ["maximize", "maximize"])


# --------------------------------------------------------------------------------------------
# Dominance and sorting
# --------------------------------------------------------------------------------------------


def test_dominates_hand_cases():
    mm = ["maximize", "minimize"]
    assert dominates([0.9, 1.0], [0.8, 2.0], mm)
    assert dominates([0.9, 1.0], [0.9, 2.0], mm)
    assert not dominates([0.9, 1.0], [0.9, 1.0], mm)  # identical: no dominance
    assert not dominates([0.9, 3.0], [0.8, 2.0], mm)  # trade-off
    assert dominates([0.8, 2.0], [0.9, 3.0], ["minimize", "minimize"])


def test_non_dominated_sort_hand_case():
    # maximize accuracy, maximize sparsity
    pts = [[0.9, 0.1], [0.5, 0.5], [0.4, 0.4], [0.9, 0.1], [0.3, 0.1], [0.2, 0.05]]
    fronts = non_dominated_sort(pts, ["maximize", "maximize"])
    assert [f.tolist() for f in fronts] == [[0, 1, 3], [2], [4], [5]]
    np.testing.assert_array_equal(
        pareto_mask(pts, ["maximize", "maximize"]), [True, True, False, True, False, False]
    )


def test_non_dominated_sort_edge_cases():
    assert non_dominated_sort(np.empty((0, 2)), ["maximize", "minimize"]) == []
    assert pareto_mask(np.empty((0, 3)), ["minimize"] * 3).shape == (0,)
    fronts = non_dominated_sort([[3.0], [1.0], [3.0], [2.0]], ["maximize"])
    assert [f.tolist() for f in fronts] == [[0, 2], [3], [1]]
    fronts = non_dominated_sort([[1.0, 1.0]] * 4, ["maximize", "minimize"])
    assert [f.tolist() for f in fronts] == [[0, 1, 2, 3]]


@pytest.mark.parametrize("m", [2, 3])
@SETTINGS
@given(data=st.data())
def test_non_dominated_sort_matches_brute_force(m, data):
    points, directions, _ = data.draw(point_sets(m))
    n = len(points)
    fronts = non_dominated_sort(points, directions)
    flat = np.concatenate(fronts) if fronts else np.empty(0, dtype=int)
    assert sorted(flat.tolist()) == list(range(n))  # a partition of all rows
    assert all(len(f) > 0 for f in fronts)
    rank = np.empty(n, dtype=int)
    for k, front in enumerate(fronts):
        rank[front] = k
    for k, front in enumerate(fronts):
        later = [j for j in range(n) if rank[j] >= k]
        for i in front:
            assert not any(_bf_dominates(points[j], points[i], directions) for j in later)
            if k > 0:
                assert any(_bf_dominates(points[j], points[i], directions) for j in fronts[k - 1])
    mask = pareto_mask(points, directions)
    expected = [not any(_bf_dominates(q, p, directions) for q in points) for p in points]
    assert mask.tolist() == expected


# --------------------------------------------------------------------------------------------
# Crowding distance
# --------------------------------------------------------------------------------------------


def test_crowding_distance_hand_front():
    # minimize/minimize front; both ranges are 10.
    pts = [[0.0, 10.0], [1.0, 6.0], [4.0, 2.0], [10.0, 0.0]]
    cd = crowding_distance(pts, ["minimize", "minimize"])
    assert cd[0] == np.inf and cd[3] == np.inf
    assert cd[1] == pytest.approx((4 - 0) / 10 + (10 - 2) / 10)  # 1.2
    assert cd[2] == pytest.approx((10 - 1) / 10 + (6 - 0) / 10)  # 1.5
    # Direction does not change the distance; row order does not change it either here.
    np.testing.assert_allclose(crowding_distance(pts, ["maximize", "minimize"]), cd)
    np.testing.assert_allclose(crowding_distance(pts[::-1], ["minimize", "minimize"]), cd[::-1])


def test_crowding_distance_normalizes_and_skips_zero_range():
    # Second objective is constant: contributes nothing (not even infinite boundaries).
    cd = crowding_distance([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]], ["maximize", "maximize"])
    assert cd.tolist() == [np.inf, pytest.approx(1.0), np.inf]
    # Scaling one objective does not change the result (normalized by range).
    a = crowding_distance([[0, 3], [1, 2], [2, 1], [5, 0]], ["minimize", "minimize"])
    b = crowding_distance([[0, 300], [1, 200], [2, 100], [5, 0]], ["minimize", "minimize"])
    np.testing.assert_allclose(a, b)


def test_crowding_distance_edge_cases():
    assert crowding_distance(np.empty((0, 2)), ["minimize", "minimize"]).shape == (0,)
    assert crowding_distance([[1.0, 2.0]], ["minimize", "minimize"]).tolist() == [0.0]
    assert crowding_distance([[1.0, 2.0]] * 3, ["minimize", "maximize"]).tolist() == [0.0] * 3
    assert crowding_distance([[1.0, 2.0], [2.0, 1.0]], ["minimize"] * 2).tolist() == [np.inf] * 2


# --------------------------------------------------------------------------------------------
# Hypervolume
# --------------------------------------------------------------------------------------------


def test_hypervolume_hand_cases():
    mm = ["maximize", "maximize"]
    assert hypervolume([[0.9, 0.1], [0.5, 0.5]], mm, (0.0, 0.0)) == pytest.approx(0.29)
    # Dominated points, duplicates and points not beating the reference add nothing.
    extra = [[0.9, 0.1], [0.5, 0.5], [0.4, 0.4], [0.9, 0.1], [0.95, 0.0], [-0.1, 0.9]]
    assert hypervolume(extra, mm, (0.0, 0.0)) == pytest.approx(0.29)
    # Accuracy with chance reference 0.1 (10 classes), sparsity reference 0.
    assert hypervolume([[0.9, 0.5]], mm, default_reference(
        [("val_acc", "maximize"), ("sparsity", "maximize")], 10)) == pytest.approx(0.8 * 0.5)
    # Mixed directions: maximize accuracy, minimize flops with a stated reference of 10 flops.
    pts = [[0.8, 2.0], [0.6, 1.0]]
    expected = (0.8 - 0.0) * (10 - 2) + (0.6 - 0.0) * (2 - 1)
    assert hypervolume(pts, ["maximize", "minimize"], (0.0, 10.0)) == pytest.approx(expected)
    # 1 objective: distance from the reference to the best value.
    assert hypervolume([[0.3], [0.7]], ["maximize"], [0.1]) == pytest.approx(0.6)
    assert hypervolume(np.empty((0, 2)), mm, (0.0, 0.0)) == 0.0


def test_hypervolume_hand_cases_3d():
    mmm = ["maximize"] * 3
    pts = [[1.0, 1.0, 0.5], [0.5, 0.5, 1.0]]
    assert hypervolume(pts, mmm, (0, 0, 0)) == pytest.approx(0.5 + 0.25 - 0.125)
    assert pareto._hypervolume_hso(-np.array(pts), np.zeros(3)) == pytest.approx(0.625)
    # A point tying the reference in one objective has zero volume.
    assert hypervolume([[1.0, 1.0, 0.0]], mmm, (0, 0, 0)) == 0.0
    # 4-D unit hypercube corner.
    assert hypervolume([[0.5, 0.5, 0.5, 0.5]], ["minimize"] * 4, [1, 1, 1, 1]) == 0.0625


def test_optuna_hypervolume_is_used_when_available(monkeypatch):
    optuna_hv = pareto._optuna_hypervolume()
    assert optuna_hv is not None, "optuna is installed, its hypervolume should be importable"
    calls = []
    monkeypatch.setattr(
        pareto, "_optuna_hypervolume", lambda: lambda l, r: calls.append(1) or optuna_hv(l, r)
    )
    hypervolume([[1.0, 1.0, 0.5], [0.5, 0.5, 1.0]], ["maximize"] * 3, (0, 0, 0))
    assert calls == [1]


@pytest.mark.parametrize("m", [2, 3])
@SETTINGS
@given(data=st.data())
def test_hypervolume_matches_brute_force(m, data):
    points, directions, reference = data.draw(point_sets(m, max_points=12 if m == 3 else 25))
    assert _close(hypervolume(points, directions, reference),
                  _bf_hypervolume(points, directions, reference))


@contextlib.contextmanager
def _without_optuna():
    """Force the pure-numpy HSO path, as if optuna's hypervolume were not importable.

    A context manager rather than a fixture: hypothesis re-runs the test body per example.
    """
    original = pareto._optuna_hypervolume
    pareto._optuna_hypervolume = lambda: None
    try:
        yield
    finally:
        pareto._optuna_hypervolume = original


@pytest.mark.parametrize("m", [3, 4])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_hso_fallback_matches_brute_force(m, data):
    points, directions, reference = data.draw(point_sets(m, max_points=8))
    with _without_optuna():
        got = hypervolume(points, directions, reference)
    assert _close(got, _bf_hypervolume(points, directions, reference))


@pytest.mark.parametrize("m", [2, 3])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_hypervolume_history(m, data):
    points, directions, reference = data.draw(point_sets(m, max_points=15))
    history = hypervolume_history(points, directions, reference)
    assert len(history) == len(points)
    assert all(b >= a for a, b in zip(history, history[1:]))
    for i in range(len(points)):
        assert _close(history[i], hypervolume(points[: i + 1], directions, reference))
    if len(points):
        assert _close(history[-1], hypervolume(points, directions, reference))


def test_hypervolume_history_hand_case():
    mm = ["maximize", "maximize"]
    pts = [[0.5, 0.5], [0.4, 0.4], [0.9, 0.1], [-1.0, 2.0], [0.9, 0.1]]
    history = hypervolume_history(pts, mm, (0.0, 0.0))
    assert history == pytest.approx([0.25, 0.25, 0.29, 0.29, 0.29])
    assert hypervolume_history([], mm, (0.0, 0.0)) == []


# --------------------------------------------------------------------------------------------
# Default reference
# --------------------------------------------------------------------------------------------


def test_default_reference_values():
    objs = [("val_acc", "maximize"), ("sparsity", "maximize"), ("test_accuracy", "maximize")]
    assert default_reference(objs, 10) == [0.1, 0.0, 0.1]
    assert default_reference([("param_sparsity", "maximize")], 100) == [0.0]


@pytest.mark.parametrize(
    ("objectives", "num_classes", "match"),
    [
        ([("val_acc", "maximize"), ("flops", "minimize")], 10, "'flops'"),
        ([("train_time", "minimize")], 10, "'train_time'"),
        ([("val_acc", "minimize")], 10, "'val_acc'"),
        ([("loss", "maximize")], 10, "'loss'"),
        ([("val_acc", "maximise")], 10, "direction"),
        ([("val_acc", "maximize")], 1, "num_classes"),
    ],
)
def test_default_reference_errors(objectives, num_classes, match):
    with pytest.raises(ValueError, match=match):
        default_reference(objectives, num_classes)
