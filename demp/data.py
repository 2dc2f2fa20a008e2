"""Datasets: digits (embedded), CIFAR-10/100, an ImageNet folder, synthetic tensors.

Digits is scikit-learn's ``load_digits`` (1,797 8×8 images, values 0..16), shipped as
``demp/data_files/digits.npz`` (uint8, 45 kB) and read with numpy: importing
``sklearn.datasets`` took ≈ 2 s of every fresh trial worker (issue #17).
``tests/test_data.py`` checks the file equals scikit-learn's data.

Batches are a pure function of (seed, step): the epoch's permutation comes from a generator seeded
by (seed, epoch) and augmentation from one seeded by (seed, step). That is what makes a resumed run
continue exactly where it stopped without carrying loader state in checkpoints.

Each dataset also says what its *raw* inputs are and how the trainer normalizes them
(``Data.preprocessing()``, plain data): checkpoints carry it, so a trained model can be used on
data as the dataset's own loader gives it (``demp.train.load_export``) without this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from demp.config import DataConfig

_MIX = 1_000_003


def _generator(seed: int, *salt: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    value = seed
    for s in salt:
        value = (value * _MIX + s) % (2**62)
    g.manual_seed(value)
    return g


class Split(Protocol):
    """An evaluation split: iterate (x, y) batches on the target device."""

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]: ...

    def __len__(self) -> int: ...


@dataclass
class TensorSplit:
    x: Tensor
    y: Tensor
    batch_size: int
    transform: "Normalizer"

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, len(self.y), self.batch_size):
            yield self.transform(self.x[i : i + self.batch_size]), self.y[i : i + self.batch_size]

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Normalizer:
    """uint8 or float images → normalized float, on the tensors' device."""

    mean: Tensor
    std: Tensor
    scale: float = 1.0

    def __call__(self, x: Tensor) -> Tensor:
        return (x.float() * self.scale - self.mean) / self.std


# A dataset's raw inputs, for a model used outside the trainer: the factor that brings a float
# and an integer (uint8) input into the units mean and std are in, and the words for them.
RAW_INPUTS: dict[str, tuple[float, float, str]] = {
    "digits": (1 / 16, 1 / 16, "pixel values 0..16 as sklearn.datasets.load_digits() gives them: "
               "images (N, 8, 8), data (N, 64) or (N, 1, 8, 8)"),
    "cifar10": (1.0, 1 / 255, "RGB images, uint8 0..255 as torchvision's CIFAR10(...).data holds "
                "them (N, 32, 32, 3), or floats 0..1 as transforms.ToTensor() gives them "
                "(N, 3, 32, 32)"),
    "cifar100": (1.0, 1 / 255, "RGB images, uint8 0..255 as torchvision's CIFAR100(...).data "
                 "holds them (N, 32, 32, 3), or floats 0..1 as transforms.ToTensor() gives them "
                 "(N, 3, 32, 32)"),
    "imagenet": (1.0, 1 / 255, "RGB images resized to 256 and center-cropped to 224 (the "
                 "trainer's evaluation transform; not done by the model), floats 0..1 as "
                 "transforms.ToTensor() gives them (N, 3, 224, 224), or uint8 0..255"),
    "synthetic": (1.0, 1.0, "the generated tensors as they are (no normalization)"),
}
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def describe_preprocessing(name: str, mean: Tensor, std: Tensor,
                           input_shape: tuple[int, ...]) -> dict[str, Any]:
    """What a model trained on dataset ``name`` expects, as plain data (checkpoints, JSON):
    ``(x * scale[dtype] - mean) / std`` per channel, on raw inputs as ``input`` says."""
    float_scale, uint8_scale, words = RAW_INPUTS[name]
    return {"dataset": name, "input": words, "input_shape": list(input_shape),
            "scale": {"float": float_scale, "integer": uint8_scale},
            "mean": [float(v) for v in mean.flatten().tolist()],
            "std": [float(v) for v in std.flatten().tolist()],
            "formula": "(x * scale - mean) / std; scale by the input's dtype (float or integer, "
                       "uint8 images are integers), mean and std per channel (one value: all "
                       "channels)"}


class Data:
    """Train batches by step, val/test splits, and the un-augmented samples for death checks."""

    def __init__(
        self,
        cfg: DataConfig,
        train_x: Tensor,
        train_y: Tensor,
        val: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor],
        num_classes: int,
        normalizer: Normalizer,
        augment: str | None,
        device: torch.device,
    ) -> None:
        self.cfg = cfg
        self.device = device
        self.train_x, self.train_y = train_x.to(device), train_y.to(device)
        self.norm = Normalizer(normalizer.mean.to(device), normalizer.std.to(device), normalizer.scale)
        self.val = TensorSplit(val[0].to(device), val[1].to(device), cfg.eval_batch_size, self.norm)
        self.test = TensorSplit(test[0].to(device), test[1].to(device), cfg.eval_batch_size, self.norm)
        self.num_classes = num_classes
        self.input_shape = tuple(train_x.shape[1:])
        self.augment = augment if cfg.augment else None
        self.batch_size = min(cfg.batch_size, len(self.train_y))
        self.steps_per_epoch = max(1, len(self.train_y) // self.batch_size)

    @property
    def train_size(self) -> int:
        return len(self.train_y)

    def preprocessing(self) -> dict[str, Any]:
        """Raw inputs and their normalization (``describe_preprocessing``), as checkpoints hold
        it: what the trainer does to every batch before the model sees it."""
        return describe_preprocessing(self.cfg.name, self.norm.mean, self.norm.std,
                                      self.input_shape)

    def train_batch(self, step: int, seed: int) -> tuple[Tensor, Tensor]:
        """Batch number ``step`` of the run with ``seed`` (drop-last, reshuffled every epoch)."""
        epoch, i = divmod(step, self.steps_per_epoch)
        if i == 0 or getattr(self, "_perm_epoch", None) != (seed, epoch):
            g = _generator(seed, 1, epoch)
            self._perm = torch.randperm(self.train_size, generator=g).to(self.device)
            self._perm_epoch = (seed, epoch)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size]
        x, y = self.train_x[idx], self.train_y[idx]
        if self.augment == "pad_crop_flip":
            x = pad_crop_flip(x, _generator(seed, 2, step, device=self.device))
        return self.norm(x), y

    def death_samples(self, n: int) -> Iterator[Tensor]:
        """The first ``n`` un-augmented training samples (all if fewer), in eval batches."""
        n = min(n, self.train_size)
        for i in range(0, n, self.cfg.eval_batch_size):
            yield self.norm(self.train_x[i : min(n, i + self.cfg.eval_batch_size)])


def pad_crop_flip(x: Tensor, g: torch.Generator, pad: int = 4) -> Tensor:
    """Random 4-pixel pad-and-crop and horizontal flip, batched on the tensors' device."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=x.device)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=x.device)
    flip = torch.rand(n, generator=g, device=x.device) < 0.5
    rows = dy[:, None] + torch.arange(h, device=x.device)[None, :]
    cols = dx[:, None] + torch.arange(w, device=x.device)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def _split(n: int, fraction: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    perm = torch.randperm(n, generator=g)
    k = int(round(n * fraction))
    return perm[k:], perm[:k]


DIGITS_FILE = Path(__file__).parent / "data_files" / "digits.npz"


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 8, 8) and targets, both uint8."""
    with np.load(DIGITS_FILE) as f:
        return f["images"], f["target"]


def _digits(cfg: DataConfig, device: torch.device) -> Data:
    images, target = digits_arrays()
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8), values 0..16
    y = torch.tensor(target, dtype=torch.long)
    g = _generator(cfg.split_seed, 7)
    train_idx, test_idx = _split(len(y), 0.2, g)
    fit_idx, val_idx = _split(len(train_idx), cfg.val_fraction, g)
    fit_idx, val_idx = train_idx[fit_idx], train_idx[val_idx]
    fx = x[fit_idx] / 16.0
    norm = Normalizer(fx.mean().reshape(1, 1, 1, 1), fx.std().reshape(1, 1, 1, 1), 1 / 16.0)
    return Data(cfg, x[fit_idx], y[fit_idx], (x[val_idx], y[val_idx]), (x[test_idx], y[test_idx]),
                10, norm, None, device)


_CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def _cifar(cfg: DataConfig, device: torch.device) -> Data:
    from torchvision import datasets

    root = Path(cfg.data_dir or "data")
    cls = datasets.CIFAR10 if cfg.name == "cifar10" else datasets.CIFAR100
    try:
        train = cls(str(root), train=True, download=cfg.download)
        test = cls(str(root), train=False, download=cfg.download)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"data.data_dir: {cfg.name} not found under {root} ({err}); "
            "set data.download=true or point data.data_dir at it"
        ) from None
    x = torch.from_numpy(train.data).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    y = torch.tensor(train.targets, dtype=torch.long)
    fit_idx, val_idx = _split(len(y), cfg.val_fraction, _generator(cfg.split_seed, 7))
    tx = torch.from_numpy(test.data).permute(0, 3, 1, 2).contiguous()
    ty = torch.tensor(test.targets, dtype=torch.long)
    mean, std = _CIFAR_STATS[cfg.name]
    norm = Normalizer(torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1), 1 / 255)
    return Data(cfg, x[fit_idx], y[fit_idx], (x[val_idx], y[val_idx]), (tx, ty),
                10 if cfg.name == "cifar10" else 100, norm, "pad_crop_flip", device)


def _synthetic(cfg: DataConfig, device: torch.device) -> Data:
    s = cfg.synthetic
    g = _generator(cfg.split_seed, 11)
    n = s.train_size + s.test_size
    x = torch.randn((n, *s.shape), generator=g)
    y = torch.randint(0, s.num_classes, (n,), generator=g)
    fit, rest = x[: s.train_size], x[s.train_size :]
    fy, ry = y[: s.train_size], y[s.train_size :]
    half = len(ry) // 2
    identity = Normalizer(torch.zeros(1), torch.ones(1))
    return Data(cfg, fit, fy, (rest[:half], ry[:half]), (rest[half:], ry[half:]), s.num_classes,
                identity, None, device)


class ImageFolderData(Data):
    """ImageNet-style folders (train/ and val/); decoded by workers, not held in memory."""

    def __init__(self, cfg: DataConfig, device: torch.device) -> None:
        from torchvision import datasets, transforms

        root = Path(cfg.data_dir or "data/imagenet")
        if not (root / "train").is_dir() or not (root / "val").is_dir():
            raise FileNotFoundError(f"data.data_dir: expected {root}/train and {root}/val folders")
        mean, std = _IMAGENET_STATS
        aug = [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()]
        plain = [transforms.Resize(256), transforms.CenterCrop(224)]
        tail = [transforms.ToTensor(), transforms.Normalize(mean, std)]
        self.cfg, self.device = cfg, device
        self._train_aug = datasets.ImageFolder(str(root / "train"),
                                               transforms.Compose((aug if cfg.augment else plain) + tail))
        self._train_plain = datasets.ImageFolder(str(root / "train"), transforms.Compose(plain + tail))
        val_full = datasets.ImageFolder(str(root / "val"), transforms.Compose(plain + tail))
        n = len(self._train_aug)
        fit_idx, val_idx = _split(n, cfg.val_fraction, _generator(cfg.split_seed, 7))
        self._fit_idx = fit_idx
        self.val = _LoaderSplit(torch.utils.data.Subset(self._train_plain, val_idx.tolist()), cfg, device)
        self.test = _LoaderSplit(val_full, cfg, device)
        self.num_classes = len(self._train_aug.classes)
        self.input_shape = (3, 224, 224)
        self.augment = None
        self.batch_size = min(cfg.batch_size, len(fit_idx))
        self.steps_per_epoch = max(1, len(fit_idx) // self.batch_size)
        self._iter: Iterator | None = None
        self._next_step = -1

    @property
    def train_size(self) -> int:
        return len(self._fit_idx)

    def preprocessing(self) -> dict[str, Any]:
        """The evaluation transform's normalization (the loaders apply it, not ``norm``)."""
        return preprocessing_for(self.cfg)

    def train_batch(self, step: int, seed: int) -> tuple[Tensor, Tensor]:
        if self._iter is None or step != self._next_step:
            self._iter = self._batches_from(step, seed)
        self._next_step = step + 1
        x, y = next(self._iter)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _batches_from(self, step: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, i = divmod(step, self.steps_per_epoch)
        while True:
            perm = self._fit_idx[torch.randperm(self.train_size, generator=_generator(seed, 1, epoch))]
            batches = [perm[j * self.batch_size : (j + 1) * self.batch_size].tolist()
                       for j in range(i, self.steps_per_epoch)]
            loader = torch.utils.data.DataLoader(
                self._train_aug, batch_sampler=batches, num_workers=self.cfg.num_workers,
                pin_memory=self.device.type == "cuda", persistent_workers=False)
            yield from loader
            epoch, i = epoch + 1, 0

    def death_samples(self, n: int) -> Iterator[Tensor]:
        idx = self._fit_idx[: min(n, self.train_size)].tolist()
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self._train_plain, idx), batch_size=self.cfg.eval_batch_size,
            num_workers=self.cfg.num_workers)
        for x, _ in loader:
            yield x.to(self.device)


class _LoaderSplit:
    def __init__(self, dataset: torch.utils.data.Dataset, cfg: DataConfig, device: torch.device):
        self.dataset, self.cfg, self.device = dataset, cfg, device

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=self.cfg.eval_batch_size,
                                             num_workers=self.cfg.num_workers)
        for x, y in loader:
            yield x.to(self.device), y.to(self.device)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


def build_data(cfg: DataConfig, device: torch.device | str = "cpu") -> Data:
    device = torch.device(device)
    if cfg.name == "digits":
        return _digits(cfg, device)
    if cfg.name in ("cifar10", "cifar100"):
        return _cifar(cfg, device)
    if cfg.name == "synthetic":
        return _synthetic(cfg, device)
    if cfg.name == "imagenet":
        return ImageFolderData(cfg, device)
    raise ValueError(f"data.name: unknown dataset {cfg.name!r}")


def preprocessing_for(cfg: DataConfig) -> dict[str, Any]:
    """``Data.preprocessing()`` for ``cfg`` without reading CIFAR or ImageNet files (their
    statistics are constants); digits and synthetic data are built, which is quick. For
    checkpoints written before they carried it."""
    if cfg.name in _CIFAR_STATS or cfg.name == "imagenet":
        mean, std = _CIFAR_STATS.get(cfg.name, _IMAGENET_STATS)
        shape = (3, 224, 224) if cfg.name == "imagenet" else (3, 32, 32)
        return describe_preprocessing(cfg.name, torch.tensor(mean), torch.tensor(std), shape)
    return build_data(cfg).preprocessing()


def steps_for(epochs: float, steps_per_epoch: int) -> int:
    return max(1, math.ceil(epochs * steps_per_epoch))
