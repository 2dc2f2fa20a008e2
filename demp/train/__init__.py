"""The DemP trainer: pure PyTorch, imports neither Ray nor W&B.

``Trainer`` is the loop; what a pruning method does arrives as a ``TrainingStrategy`` and what
observes it (Ray, W&B, progress bars, files) as ``Callback``s. Build a trainer for a config with
``demp.methods.build_trainer``. One module per job:

- ``trainer``     the loop: steps, evaluations, checkpoints; ``apply_surgery``, ``emit_prune``
- ``optim``       PyTorch's AdamW / Adam / SGD without the ``torch._dynamo`` import
- ``strategy``    the hooks a pruning method gets
- ``callbacks``   the hooks an observer gets
- ``schedules``   λ_t / σ_t and learning-rate schedules as pure functions of the step
- ``regularize``  L1 / L2 on normalization scales (or all weights)
- ``noise``       asymmetric noise on live parameters
- ``death``       dead-unit detection
- ``surgery``     physical removal of units, optimizer-state slicing
- ``controller``  target-sparsity mode: λ adapted online, removal capped
- ``metrics``     sparsities, parameter counts, FLOPs
- ``checkpoint``  architecture-carrying checkpoints, exact resume
- ``cadence``     when a run writes a checkpoint (torch-free: the sweep's driver asks it too)
- ``inference``   ``load_export``: a checkpoint's model with its input normalization, for raw data
- ``rundir``      the files of a run in ``output_dir``; one run per directory
- ``progress``    the progress bar and summary table of ``demp train``

The names below load their module on first use (PEP 562), so that importing one torch-free
submodule (``callbacks``, ``cadence``, ``api``), as the sweep's driver does, does not import torch
and the trainer with it: that import cost every ``demp sweep run`` ≈ 1.5 s before Ray started
(issue #17).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from demp.train.cadence import checkpoint_due
    from demp.train.callbacks import Callback, CallbackList
    from demp.train.checkpoint import load_model
    from demp.train.inference import ExportedModel, load_export
    from demp.train.rundir import JsonlLog
    from demp.train.strategy import TrainingStrategy
    from demp.train.trainer import Trainer, TrainingDiverged

_HOME = {"Callback": "callbacks", "CallbackList": "callbacks", "checkpoint_due": "cadence",
         "load_model": "checkpoint", "ExportedModel": "inference", "load_export": "inference",
         "JsonlLog": "rundir", "TrainingStrategy": "strategy", "Trainer": "trainer",
         "TrainingDiverged": "trainer"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = ["Callback", "CallbackList", "ExportedModel", "JsonlLog", "Trainer",
           "TrainingDiverged", "TrainingStrategy", "checkpoint_due", "load_export", "load_model"]
