"""Whether a path can be (or become) a directory this process writes into, asked before a run.

A run that cannot create its output directory fails late and obscurely: ``NotADirectoryError``
from deep inside Ray or torch when ``output_root`` is a file, lies under a file, or is
``/dev/null``; ``PermissionError`` or ``EROFS`` when it is not writable; ``ValueError`` for a NUL
byte; ``ENAMETOOLONG``. ``directory_problem`` says which, in one phrase, without creating
anything, so validation can refuse the path with its field name. This module imports nothing of
``demp``.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_NAME_MAX = 255


def directory_problem(path: str | os.PathLike[str], *, check_access: bool = True) -> str | None:
    """Why ``path`` cannot be used as an output directory, or None when it can.

    An existing directory must be writable; a path that does not exist yet must lie under an
    existing, writable directory with nothing but directories in between. ``check_access=False``
    skips the permission checks (a cluster path validated from a laptop, where only the nodes
    can write it) but still refuses a file in the way.
    """
    text = os.fspath(path)
    if "\x00" in text:
        return "contains a NUL byte"
    if not text:
        return "is empty"
    long = [part for part in Path(text).parts if len(os.fsencode(part)) > _NAME_MAX]
    if long:
        return f"has a component longer than {_NAME_MAX} bytes ({long[0][:40]}...)"
    target = Path(text).absolute()
    node = target
    while True:
        try:
            st = os.stat(node)
        except FileNotFoundError:
            if node.parent == node:
                return "has no existing parent directory"
            node = node.parent
            continue
        except NotADirectoryError:
            node = node.parent  # a file further up: found on the way up
            continue
        except OSError as err:
            return _os_problem(node, err)
        break
    if not _is_dir(st):
        what = "is" if node == target else f"lies under {node}, which is"
        return f"{what} {_kind(st)}, not a directory"
    if check_access and not os.access(node, os.W_OK | os.X_OK):
        where = "" if node == target else f" ({node}, where it would be created)"
        return f"is not writable by this user{where}"
    try:
        path_max = os.pathconf(node, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        path_max = 4096
    if len(os.fsencode(str(target))) >= path_max:
        return "is longer than the system allows for a path"
    return None


def _is_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode)


def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a directory"


def _os_problem(node: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return f"runs into a symbolic-link loop at {node}"
    if err.errno == errno.ENAMETOOLONG:
        return "is longer than the system allows for a path"
    if err.errno == errno.EACCES:
        return f"cannot be inspected: permission denied at {node}"
    return f"cannot be inspected at {node} ({err.strerror or err})"


__all__ = ["directory_problem"]
