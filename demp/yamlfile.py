"""YAML that people wrote: a config file or a ``--set`` value, read into plain data or refused.

PyYAML's own error (``yaml.YAMLError``) covers only part of what a hostile or broken file does:
bytes that are not UTF-8 raise ``UnicodeDecodeError``, a few hundred levels of nesting raise
``RecursionError``, an integer literal longer than Python converts (4300 digits) raises
``ValueError``. And what loads can still be pathological for everything that walks it later
(pydantic, an error message's ``repr``): aliases can expand a small file into billions of values,
or make a list contain itself. Every such case here becomes a ``YamlProblem`` that names the file,
or the field path where the structure goes wrong, and says what to do instead; ``demp.config``
turns it into the ``ConfigError`` the CLI reports. This module imports nothing of ``demp``.

Text is UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order mark, the encodings
the YAML specification requires readers to detect.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml


MAX_FILE_BYTES = 4 * 1024 * 1024   # a spec or config is a few kilobytes
MAX_DEPTH = 64                     # the deepest real config is ~6 levels
MAX_VALUES = 100_000               # values after expanding aliases
MAX_FLOW_DEPTH = 200               # brackets: PyYAML's scanner slows quadratically, then recurses



class YamlProblem(ValueError):
    """Text that is not usable YAML for a config; the message starts with where."""


_BOMS = ((codecs.BOM_UTF32_LE, None), (codecs.BOM_UTF32_BE, None),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(data: bytes, where: str) -> str:
    """``data`` as text: UTF-8, or UTF-8 / UTF-16 announced by a byte-order mark."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            if codec is None:
                raise YamlProblem(f"{where}: is UTF-32 text, which YAML readers need not "
                                  f"support; save it as UTF-8")
            try:
                return data.decode(codec)
            except UnicodeDecodeError as err:
                raise YamlProblem(f"{where}: starts with a {codec} byte-order mark but byte "
                                  f"{err.start} cannot be decoded; save it as UTF-8") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise YamlProblem(f"{where}: is not UTF-8 text (byte 0x{data[err.start]:02x} at line "
                          f"{line}, column {column}); save it as UTF-8") from None


def parse_yaml(text: str, where: str, prefix: str = "") -> Any:
    """``yaml.safe_load`` that only ever raises ``YamlProblem``; the result is checked by
    ``check_shape``. ``where`` names the text (a file, ``--set key``), ``prefix`` the field
    path of its value (``key`` for ``--set key=...``)."""
    if text.count("[") + text.count("{") > MAX_FLOW_DEPTH and _flow_depth(text) > MAX_FLOW_DEPTH:
        raise YamlProblem(f"{where}: nested more than {MAX_FLOW_DEPTH} brackets deep (a config is "
                          f"a few levels deep; at most {MAX_DEPTH})")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise YamlProblem(f"{where}: not valid YAML: {_one_line(err)}") from None
    except RecursionError:
        raise YamlProblem(f"{where}: nested too deeply for the YAML parser (a config is a few "
                          f"levels deep; at most {MAX_DEPTH})") from None
    except ValueError as err:  # an integer literal beyond Python's conversion limit, ...
        raise YamlProblem(f"{where}: not valid YAML: {_one_line(err)}") from None
    check_shape(data, where, prefix)
    return data


def load_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is ``{}``)."""
    p = Path(path)
    where = str(p)
    try:
        if p.is_dir():
            raise YamlProblem(f"{where}: is a directory, not a config file")
        if not p.is_file():
            raise YamlProblem(f"{where}: no such config file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlProblem(f"{where}: is {size} bytes; a config or spec is at most "
                              f"{MAX_FILE_BYTES // (1024 * 1024)} MiB of YAML")
        data = p.read_bytes()
    except YamlProblem:
        raise
    except (OSError, ValueError) as err:  # permissions, a NUL byte in the path, ...
        raise YamlProblem(f"{where}: cannot be read ({_os_reason(err)})") from None
    loaded = parse_yaml(decode_text(data, where), where)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise YamlProblem(f"{where}: the top level must be a mapping, got "
                          f"{type(loaded).__name__}")
    return loaded


def check_shape(data: Any, where: str, prefix: str = "") -> None:
    """Refuse structures nested deeper than ``MAX_DEPTH``, expanding (through aliases) to more
    than ``MAX_VALUES`` values, or containing themselves; the error names the field path.

    Iterative, and each shared node is counted once per reference without being walked again,
    so an alias bomb is measured in time linear in the file, not in its expansion.
    """
    if not isinstance(data, (dict, list)):
        return
    sizes: dict[int, int] = {}        # id of a finished container -> its expanded value count
    on_path: set[int] = set()
    stack: list[tuple[Any, list[str], Any, list[int]]] = []

    def push(node: Any, path: list[str]) -> None:
        items = iter(node.items()) if isinstance(node, dict) else iter(enumerate(node))
        on_path.add(id(node))
        stack.append((node, path, items, [1]))

    push(data, [prefix] if prefix else [])
    while stack:
        node, path, items, total = stack[-1]
        step = next(items, None)
        if step is None:
            stack.pop()
            on_path.discard(id(node))
            sizes[id(node)] = total[0]
            if stack:
                stack[-1][3][0] += total[0]
                if stack[-1][3][0] > MAX_VALUES:
                    _too_many(where, stack[-1][1])
            continue
        key, child = step
        child_path = [*path, str(key)]
        if not isinstance(child, (dict, list)):
            total[0] += 1
        elif id(child) in on_path:
            raise YamlProblem(f"{_at(where, child_path)}: contains itself (a YAML alias inside "
                              f"its own anchor)")
        elif id(child) in sizes:
            total[0] += sizes[id(child)]
        elif len(stack) >= MAX_DEPTH:
            raise YamlProblem(f"{_at(where, child_path)}: nested more than {MAX_DEPTH} levels "
                              f"deep (a config is a few levels deep)")
        else:
            push(child, child_path)
        if total[0] > MAX_VALUES:
            _too_many(where, path)


def _flow_depth(text: str) -> int:
    """The deepest nesting of flow brackets outside quoted scalars (and comments)."""
    depth = deepest = 0
    quote = ""
    comment = False
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            comment = True
    return deepest


def _too_many(where: str, path: list[str]) -> None:
    raise YamlProblem(f"{_at(where, path)}: expands to more than {MAX_VALUES} values (YAML "
                      f"aliases repeating a structure); write the values out instead")


def _at(where: str, path: list[str]) -> str:
    return ".".join(path) if path else where


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())[:400]


def _os_reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "YamlProblem", "check_shape",
           "decode_text", "load_mapping", "parse_yaml"]
