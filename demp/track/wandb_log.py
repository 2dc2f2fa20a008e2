"""Reading W&B runs back from disk: the ``.wandb`` transaction log of a run directory.

Offline runs keep everything they logged in ``<dir>/wandb/offline-run-*/run-<id>.wandb`` until
``wandb sync`` uploads it; online runs keep the same file beside the upload. ``read_offline_run``
turns it into an ``OfflineRun`` (config, history rows, summary, metric definitions, exit code)
without network or an account: the tests check what the callbacks logged with it, and it is
handy for debugging a run that never reached the server.

A ``.wandb`` file is a LevelDB-style log: a 7-byte header (":W&B", magic 0xBEE1, version 0),
then 32 KiB blocks of chunks, each with a 7-byte header (CRC-32 of type byte + data, length,
type FULL / FIRST / MIDDLE / LAST); each record is a serialized ``wandb_internal_pb2.Record``.
wandb 0.31 writes it from Go and ships no Python reader, hence this one.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demp.track.keys import STEP_KEY

_BLOCK = 32768
_HEADER = struct.Struct("<IHB")
_FILE_HEADER = struct.Struct("<4sHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def iter_transaction_log(path: str | os.PathLike[str]) -> Iterator[Any]:
    """The ``wandb_internal_pb2.Record``s of a ``.wandb`` file, in order.

    Stops quietly at a torn tail (a run killed mid-write); raises ``ValueError`` on a bad file
    header or a checksum mismatch before the tail.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    ident, magic, version = _FILE_HEADER.unpack_from(data, 0)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise ValueError(f"{path}: not a W&B transaction log (header {data[:7]!r})")
    pos, pending = _FILE_HEADER.size, bytearray()
    while True:
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER.size:  # trailer padding
            pos += left
            continue
        if pos + _HEADER.size > len(data):
            return
        crc, length, kind = _HEADER.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += left
            continue
        start, end = pos + _HEADER.size, pos + _HEADER.size + length
        if end > len(data):
            return
        chunk = data[start:end]
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            if end >= len(data):
                return
            raise ValueError(f"{path}: checksum mismatch at byte {pos}")
        pos = end
        if kind == _FULL:
            payload = bytes(chunk)
        elif kind == _FIRST:
            pending = bytearray(chunk)
            continue
        elif kind == _MIDDLE:
            pending += chunk
            continue
        elif kind == _LAST:
            payload, pending = bytes(pending + chunk), bytearray()
        else:
            raise ValueError(f"{path}: unknown chunk type {kind} at byte {pos}")
        record = pb.Record()
        record.ParseFromString(payload)
        yield record


def transaction_log_complete(path: str | os.PathLike[str]) -> bool:
    """Whether a ``.wandb`` file ends with its run's exit record (the writer is done)."""
    try:
        last = None
        for last in iter_transaction_log(path):
            pass
        return last is not None and last.WhichOneof("record_type") == "exit"
    except (OSError, ValueError, struct.error):
        return False


def wait_for_transaction_log(path: str | os.PathLike[str], timeout: float = 10.0) -> bool:
    """Poll until ``transaction_log_complete(path)``; False if it is not within ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not transaction_log_complete(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(0.2, delay * 2)
    return True


def _item_path(item: Any) -> list[str]:
    return [item.key] if item.key else list(item.nested_key)


def _set_item(target: dict[str, Any], item: Any) -> None:
    """Apply one update item; a nested key (media / table references) builds nested dicts."""
    *parents, last = _item_path(item)
    for p in parents:
        target = target.setdefault(p, {})
    target[last] = json.loads(item.value_json)


def _remove_item(target: dict[str, Any], item: Any) -> None:
    *parents, last = _item_path(item)
    for p in parents:
        target = target.get(p, {})
    target.pop(last, None)


@dataclass
class OfflineRun:
    """What a run directory's transaction log says: config, history rows, summary, metadata."""

    path: Path
    run_id: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metric_defs: list[dict[str, Any]] = field(default_factory=list)
    offline: bool = False
    exit_code: int | None = None

    def rows_with(self, key: str) -> list[dict[str, Any]]:
        return [r for r in self.history if key in r]

    def series(self, key: str, step_key: str = STEP_KEY) -> list[tuple[Any, Any]]:
        """``(step, value)`` for every history row that has ``key``."""
        return [(r.get(step_key), r[key]) for r in self.history if key in r]

    def load_file(self, ref: Mapping[str, Any]) -> Path:
        """The local file of a media / table value (``{"_type": ..., "path": ...}``)."""
        return self.path / "files" / str(ref["path"])

    def table(self, key: str) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows of the last table logged under ``key``."""
        refs = [r[key] for r in self.history if key in r]
        if not refs:
            raise KeyError(f"no table {key!r} in {self.path}")
        doc = json.loads(self.load_file(refs[-1]).read_text())
        return list(doc["columns"]), [list(row) for row in doc["data"]]


def find_offline_runs(root: str | os.PathLike[str], run_id: str | None = None) -> list[Path]:
    """Run directories (``*/wandb/offline-run-*``, ``run-*``) under ``root``, oldest first."""
    out = []
    for f in Path(root).rglob("run-*.wandb"):
        if run_id is None or f.name == f"run-{run_id}.wandb":
            out.append(f.parent)
    return sorted(out, key=lambda p: p.name)


def read_offline_run(run_dir: str | os.PathLike[str]) -> OfflineRun:
    """Parse the ``run-<id>.wandb`` file of one run directory."""
    run_dir = Path(run_dir)
    files = sorted(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no run-*.wandb transaction log")
    out = OfflineRun(path=run_dir, offline=run_dir.name.startswith("offline-run-"))
    for rec in iter_transaction_log(files[0]):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            out.run_id, out.project, out.entity = r.run_id, r.project, r.entity
            out.group, out.job_type, out.name = r.run_group, r.job_type, r.display_name
            out.tags = list(r.tags)
            for item in r.config.update:
                _set_item(out.config, item)
        elif kind == "config":
            for item in rec.config.update:
                _set_item(out.config, item)
            for item in rec.config.remove:
                _remove_item(out.config, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in rec.history.item:
                _set_item(row, item)
            out.history.append(row)
        elif kind == "summary":
            for item in rec.summary.update:
                _set_item(out.summary, item)
            for item in rec.summary.remove:
                _remove_item(out.summary, item)
        elif kind == "metric":
            m = rec.metric
            out.metric_defs.append({"name": m.name, "glob_name": m.glob_name,
                                    "step_metric": m.step_metric})
        elif kind == "exit":
            out.exit_code = rec.exit.exit_code
    out.config.pop("_wandb", None)
    return out
