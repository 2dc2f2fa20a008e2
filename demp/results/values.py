"""How a reported metric value is judged and shown: the one ``is_finite`` and the one ``fmt``.

Reported values arrive as whatever Ray, JSON or the trainer made of them (floats, NumPy scalars,
strings, ``None``), so both accept anything.
"""

from __future__ import annotations

import math
from typing import Any


def is_finite(value: Any) -> bool:
    """Whether ``value`` is a finite number (``None``, text and NaN are not)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any) -> str:
    """A table cell: floats with 4 significant digits (``nan`` as such), ``None`` empty."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


__all__ = ["fmt", "is_finite"]
