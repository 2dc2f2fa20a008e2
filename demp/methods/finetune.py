"""Fine-tuning a trained, pruned network with pruning frozen: ``demp train --finetune DIR``.

A DemP run ends with a pruned network, and the usual next step is a few more epochs with the
architecture fixed, to recover what the penalty and the noise cost in accuracy. Continuing the
run (``--resume``) is not that: the λ / σ schedules would be re-stretched over the new length and
death checks would keep removing units. A fine-tune instead

- starts from the checkpoint's network (architecture and weights) at step 0 of its own run, so
  the epochs or steps it is given are the fine-tune's alone, with a fresh LR schedule over them;
- runs with every DemP part off (``method: demp``, ``demp.enabled: false``: λ = σ = 0 at every
  step, no death check, no removal) and no baseline, so the live units stay as exported;
- uses a fresh optimizer, unless asked to keep the checkpoint's optimizer moments;
- keeps the source's data split, so its test accuracy is comparable to the run it came from.

The config of the fine-tune is the source's own (from its checkpoint) unless one is given, with
``--set`` overrides on top; overrides of the pruning settings are refused rather than silently
dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from demp import dotted
from demp.config import TrainConfig, apply_overrides, parse_override, validate
from demp.errors import ConfigError
from demp.methods.compose import build_trainer
from demp.train.callbacks import Callback
from demp.train.checkpoint import read
from demp.train.trainer import Trainer

# What a fine-tune sets, whatever the source ran: plain training, nothing pruned.
FROZEN: dict[str, Any] = {"method": "demp", "demp.enabled": False}
# Overrides that would mean pruning again; refused with --finetune.
_PRUNING_PATHS = ("method", "demp", "baseline")


def source_config(source: str | Path) -> dict[str, Any]:
    """The config the checkpoint in ``source`` was trained with, as a plain dict."""
    return dict(read(source)["config"])


def finetune_config(base: dict[str, Any], overrides: Sequence[str] = (), *,
                    output_dir: str | Path | None = None) -> TrainConfig:
    """The fine-tune's config: ``base`` (a source's config) with ``overrides`` (``--set``
    strings) and ``FROZEN`` applied, validated.

    ``epochs`` given without ``max_steps`` clears the source's ``max_steps`` (which would
    otherwise win over it), so the length asked for is the length trained. The source's
    ``output_dir`` is dropped: a fine-tune writes where ``output_dir`` says (or the caller's
    default), never into the run it came from.
    """
    paths = [".".join(parse_override(text)[0]) for text in overrides]
    pruning = [p for p in paths if p.split(".")[0] in _PRUNING_PATHS]
    if pruning:
        raise ConfigError(f"--set {pruning[0]}: a fine-tune trains with pruning, regularization "
                          f"and noise off and the architecture as it is; to prune further, "
                          f"continue the run with --resume instead")
    data = copy.deepcopy(base)
    data["output_dir"] = None if output_dir is None else str(output_dir)
    apply_overrides(data, list(overrides))
    if "epochs" in paths and "max_steps" not in paths:
        data["max_steps"] = None
    for path, value in FROZEN.items():
        dotted.set_value(data, path, value)
    return validate(TrainConfig, data)


def build_finetuner(source: str | Path, overrides: Sequence[str] = (), *,
                    output_dir: str | Path | None = None,
                    callbacks: list[Callback] | None = None,
                    keep_optimizer: bool = False) -> Trainer:
    """A trainer that fine-tunes the network of the checkpoint (or export) in ``source`` with
    its own config, ``overrides`` and pruning frozen; ``.fit()`` runs it."""
    cfg = finetune_config(source_config(source), overrides, output_dir=output_dir)
    return build_trainer(cfg, callbacks=callbacks, init_from=source,
                         keep_optimizer=keep_optimizer)


__all__ = ["FROZEN", "build_finetuner", "finetune_config", "source_config"]
