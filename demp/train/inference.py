"""A trained model that takes raw inputs: ``load_export(dir).predict(X)``.

The network of a checkpoint (``load_model``) sees what the trainer fed it: inputs scaled and
normalized with the statistics of the training split. Given anything else (digits as
``load_digits()`` returns them, a uint8 CIFAR image) it is quietly wrong — on digits ~0.72
accuracy on raw pixels and ~0.24 on pixels / 16, against 0.99 normalized. So a model that leaves
the trainer carries that normalization inside it: ``ExportedModel`` holds the pruned network and
the checkpoint's ``preprocessing`` (``demp.data.describe_preprocessing``: raw inputs, scale by
dtype, per-channel mean and std, also written to an export's ``trial.json``) and applies it in
``forward``. It accepts the shapes a dataset's own loader gives (``(N, 64)``, ``(N, 8, 8)`` and
``(N, 1, 8, 8)`` for digits; channels-last ``(N, 32, 32, 3)`` uint8 or channels-first floats in
0..1 for CIFAR), as tensors or NumPy arrays.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from demp.config import TrainConfig
from demp.data import preprocessing_for
from demp.models import PrunableNet
from demp.train import checkpoint as ckpt


class ExportedModel(nn.Module):
    """The pruned network with its input preprocessing inside: ``model(raw) -> logits``."""

    def __init__(self, net: PrunableNet, preprocessing: dict[str, Any], num_classes: int,
                 config: TrainConfig | None = None) -> None:
        super().__init__()
        self.net = net
        self.num_classes = num_classes
        self.preprocessing = dict(preprocessing)
        self.config = config
        self.trial: dict[str, Any] | None = None  # an export's trial.json, when there is one
        self.input_shape = tuple(int(v) for v in preprocessing["input_shape"])
        self.float_scale = float(preprocessing["scale"]["float"])
        self.integer_scale = float(preprocessing["scale"]["integer"])
        mean = torch.tensor(preprocessing["mean"], dtype=torch.float32)
        std = torch.tensor(preprocessing["std"], dtype=torch.float32)
        view = (1, -1, *([1] * (len(self.input_shape) - 1)))
        self.register_buffer("mean", mean.view(view) if mean.numel() > 1 else mean.view(()))
        self.register_buffer("std", std.view(view) if std.numel() > 1 else std.view(()))

    def prepare(self, x: Tensor | np.ndarray | Any) -> Tensor:
        """Raw inputs → what the network was trained on (the trainer's own formula)."""
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
        scale = self.float_scale if t.is_floating_point() else self.integer_scale
        t = self._shaped(t).to(self.mean.device)
        return (t.float() * scale - self.mean) / self.std

    def _shaped(self, t: Tensor) -> Tensor:
        shape = self.input_shape
        if t.dim() >= 1 and tuple(t.shape[1:]) == shape:
            return t
        if len(shape) == 3 and t.dim() == 4 and tuple(t.shape[1:]) == (*shape[1:], shape[0]):
            return t.permute(0, 3, 1, 2)  # channels-last, as NumPy / PIL images come
        if t.dim() >= 2 and math.prod(t.shape[1:]) == math.prod(shape) and (
                t.dim() == 2 or shape[0] == 1):
            return t.reshape(t.shape[0], *shape)  # flat rows, or single-channel (N, H, W)
        raise ValueError(f"expected a batch of inputs shaped (N, {', '.join(map(str, shape))}) "
                         f"({self.preprocessing['input']}); got shape {tuple(t.shape)}")

    def forward(self, x: Tensor | np.ndarray) -> Tensor:
        return self.net(self.prepare(x))

    @torch.no_grad()
    def predict_proba(self, x: Tensor | np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities for a batch of raw inputs, in eval mode, as a NumPy array."""
        was_training = self.training
        self.eval()
        try:
            t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
            out = [torch.softmax(self(t[i:i + batch_size]).float(), dim=1).cpu()
                   for i in range(0, len(t), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, self.num_classes), np.float32)

    def predict(self, x: Tensor | np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Predicted class indices for a batch of raw inputs, as a NumPy array."""
        return self.predict_proba(x, batch_size).argmax(axis=1)


def load_export(directory: str | Path) -> ExportedModel:
    """The model of an export (``demp sweep export``) or any checkpoint directory (a run's
    ``model/`` or ``checkpoint/``), ready for raw inputs, on CPU in eval mode.

    Checkpoints written before they carried ``preprocessing`` get it computed from their
    config (``demp.data.preprocessing_for``), which is what the trainer used.
    """
    data = ckpt.read(directory)
    net, cfg = ckpt.model_of(data)
    model = ExportedModel(net, data.get("preprocessing") or preprocessing_for(cfg.data),
                          int(data["num_classes"]), cfg)
    trial = Path(directory) / "trial.json"
    if Path(directory).is_dir() and trial.is_file():
        model.trial = json.loads(trial.read_text())
    return model.eval()


__all__ = ["ExportedModel", "load_export"]
