"""Dotted paths into nested config dicts: ``demp.regularizer.peak`` names ``data["demp"]
["regularizer"]["peak"]``.

The one implementation behind ``--set`` overrides (trainer configs and sweep specs), sampled
trial parameters on top of a base config, method presets, and every read of a plain config dict
(the scheduler reads a trial's prune interval from one). A path is a dotted string or a list of
segments; a numeric segment indexes a list (``objectives.0.reference``). Setting creates missing
sections, and a section that holds ``None`` (``demp.target: null``) counts as missing. This
module sits below everything else in ``demp`` and imports nothing of it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

Path = str | Sequence[str]
_MISSING = object()


class PathError(ValueError):
    """A path that runs into a value where it needs a section, or past the end of a list.

    ``at`` is the dotted path of the node that stopped it, ``key`` the segment that could not be
    followed, ``reason`` ``"not_section"`` or ``"no_item"``; callers word it for their users.
    """

    def __init__(self, at: str, key: str, reason: str) -> None:
        self.at, self.key, self.reason = at, key, reason
        what = "is not a section" if reason == "not_section" else f"has no item {key}"
        super().__init__(f"{at}: {what}")


def split(path: Path) -> list[str]:
    """The segments of ``path`` (``"a.b"`` or ``["a", "b"]``)."""
    return path.split(".") if isinstance(path, str) else list(path)


def get(data: Any, path: Path, default: Any = _MISSING) -> Any:
    """The value at ``path``; ``default`` if some segment is missing (``KeyError`` without one).

    A ``None`` section on the way counts as missing too.
    """
    node = data
    for key in split(path):
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif default is not _MISSING:
            return default
        else:
            raise KeyError(".".join(split(path)))
        if node is None and default is not _MISSING:
            return default
    return node


def set_value(data: dict[str, Any], path: Path, value: Any) -> None:
    """``data[a][b]... = value`` for ``path`` = ``a.b...``, creating missing (or ``None``)
    sections; a numeric segment indexes an existing list. Raises ``PathError``."""
    parts = split(path)
    node: Any = data
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise PathError(".".join(parts[:i]), key, "no_item")
            if last:
                node[int(key)] = value
                return
            nxt = node[int(key)]
            if nxt is None:
                nxt = node[int(key)] = {}
        elif isinstance(node, dict):
            if last:
                node[key] = value
                return
            nxt = node.get(key)
            if nxt is None:
                nxt = node[key] = {}
        else:
            raise PathError(".".join(parts[:i]), key, "not_section")
        if not isinstance(nxt, (dict, list)):
            raise PathError(".".join(parts[: i + 1]), parts[i + 1], "not_section")
        node = nxt


def with_values(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each ``path: value`` of ``values`` set (``base`` unchanged)."""
    data = copy.deepcopy(dict(base))
    for path, value in values.items():
        set_value(data, path, value)
    return data


__all__ = ["PathError", "get", "set_value", "split", "with_values"]
