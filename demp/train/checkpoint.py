"""Checkpoints that carry the architecture: a pruned network loads from plain data.

A checkpoint is one ``checkpoint.pt`` holding only tensors, numbers, strings, lists and dicts, so
``torch.load(weights_only=True)`` reads it: the validated config (as a dict), the live unit ids of
every group (the widths and index maps of the pruned net), the state dicts of model, optimizer and
LR schedule, the step, and the RNG states. Loading rebuilds the full-width model from the config,
cuts it down to the saved unit ids, then loads the weights. Since checkpoints also carry the
dataset's ``preprocessing`` (raw inputs and their normalization, plain data), the model of a
checkpoint can be used on raw data alone (``demp.train.inference``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from demp.config import TrainConfig, validate
from demp.models import PrunableNet, build_model
from demp.train.surgery import restrict_to

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT_VERSION = 1


def architecture_state(model: PrunableNet) -> dict[str, Any]:
    return {
        "unit_ids": {g: ids.tolist() for g, ids in model.unit_ids.items()},
        "placeholders": sorted(model.placeholder_groups),
    }


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory: str | Path, payload: dict[str, Any]) -> str:
    """Write ``payload`` atomically to ``directory/checkpoint.pt`` (a crash leaves the old one)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (CHECKPOINT_FILE + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, d / CHECKPOINT_FILE)
    return str(d)


def read(directory: str | Path) -> dict[str, Any]:
    p = Path(directory)
    if p.is_dir():
        p = p / CHECKPOINT_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    data = torch.load(p, map_location="cpu", weights_only=True)
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{p}: unsupported checkpoint format {data.get('format')!r}")
    return data


def rebuild_model(cfg: TrainConfig, arch: dict[str, Any], input_shape: tuple[int, ...],
                  num_classes: int) -> PrunableNet:
    """The pruned network described by ``arch``, with freshly initialized weights."""
    model = build_model(cfg.model, input_shape, num_classes)
    restrict_to(model, arch["unit_ids"], arch.get("placeholders", []))
    return model


def model_of(data: dict[str, Any]) -> tuple[PrunableNet, TrainConfig]:
    """The trained (pruned) model a read checkpoint holds and its config, on CPU in eval mode."""
    cfg = validate(TrainConfig, data["config"])
    model = rebuild_model(cfg, data["architecture"], tuple(data["input_shape"]),
                          int(data["num_classes"]))
    model.load_state_dict(data["model"])
    return model.eval(), cfg


def load_model(directory: str | Path) -> tuple[PrunableNet, TrainConfig]:
    """The trained (pruned) model of a checkpoint and its config, on CPU in eval mode.

    The network takes what the trainer feeds it: *normalized* inputs (``Data.norm``). For raw
    inputs (an export used on its own) load it with ``demp.train.load_export`` instead.
    """
    return model_of(read(directory))
