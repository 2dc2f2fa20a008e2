"""Datasets: deterministic disjoint splits, batches as a function of the step, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from demp.config import DataConfig, TrainConfig, validate
from demp.data import build_data, pad_crop_flip
from demp.methods import build_trainer


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.flatten(1)}


def test_digits_splits_are_disjoint_fixed_and_complete():
    a = build_data(DataConfig(name="digits", val_fraction=0.1))
    b = build_data(DataConfig(name="digits", val_fraction=0.1))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val.x, b.val.x)
    n_train, n_val, n_test = len(a.train_y), len(a.val), len(a.test)
    assert n_train + n_val + n_test == 1797
    assert n_test == round(1797 * 0.2)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    # digits has a few duplicate images; the index split itself must be disjoint, so compare
    # counts of distinct rows against the union
    union = _rows(a.train_x) | _rows(a.val.x) | _rows(a.test.x)
    assert len(union) >= len(_rows(a.train_x)) + len(_rows(a.val.x)) - 5


def test_batches_are_a_function_of_seed_and_step():
    d = build_data(DataConfig(name="digits", batch_size=32))
    x1, y1 = d.train_batch(37, seed=3)
    d.train_batch(0, seed=3)
    x2, y2 = d.train_batch(37, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = d.train_batch(37, seed=4)
    assert not torch.equal(x1, x3)
    # one epoch visits each sample at most once
    seen = torch.cat([d.train_batch(s, seed=0)[1] for s in range(d.steps_per_epoch)])
    assert len(seen) == d.steps_per_epoch * 32


def test_death_samples_are_unaugmented_training_samples():
    d = build_data(DataConfig(name="digits", eval_batch_size=100))
    xs = torch.cat(list(d.death_samples(250)))
    assert xs.shape == (250, 1, 8, 8)
    torch.testing.assert_close(xs, d.norm(d.train_x[:250]))
    assert sum(len(x) for x in d.death_samples(10**6)) == len(d.train_y)


def test_pad_crop_flip_is_a_shift_or_mirror_of_the_image():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    out = pad_crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        found = False
        for dy in range(5):
            for dx in range(5):
                crop = padded[i, :, dy:dy + 8, dx:dx + 8]
                if torch.equal(out[i], crop) or torch.equal(out[i], crop.flip(-1)):
                    found = True
        assert found


def test_synthetic_data_shapes():
    d = build_data(DataConfig(name="synthetic", synthetic={"shape": [3, 16, 16], "num_classes": 5,
                                                           "train_size": 64, "test_size": 20}))
    assert d.input_shape == (3, 16, 16) and d.num_classes == 5
    assert len(d.val) == 10 and len(d.test) == 10 and len(d.train_y) == 64


def test_imagefolder_data_trains(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
                    folder / f"{i}.png")
    cfg = validate(TrainConfig, {
        "model": {"name": "resnet18_imagenet", "width": 0.0625},
        "data": {"name": "imagenet", "data_dir": str(tmp_path), "batch_size": 4,
                 "eval_batch_size": 8, "val_fraction": 0.25},
        "max_steps": 2, "threads": 1, "demp": {"death": {"prune_interval": 1, "samples": 4}}})
    summary = build_trainer(cfg).fit()
    assert summary["step"] == 2
    assert 0.0 <= summary["test_acc"] <= 1.0


def test_missing_cifar_names_the_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.data_dir"):
        build_data(DataConfig(name="cifar10", data_dir=tmp_path))


def test_shipped_digits_equal_scikit_learns_data_and_split():
    """digits.npz is load_digits() exactly, and the splits built from it are the ones built from
    scikit-learn's arrays (the data and split every earlier sweep used)."""
    from sklearn.datasets import load_digits

    from demp import data as data_module

    ref = load_digits()
    images, target = data_module.digits_arrays()
    assert images.shape == ref.images.shape == (1797, 8, 8)
    assert np.array_equal(images.astype(np.float64), ref.images)
    assert np.array_equal(target.astype(np.int64), ref.target)

    cfg = DataConfig(name="digits", val_fraction=0.2, split_seed=3)
    shipped = build_data(cfg)
    original = data_module.digits_arrays
    try:
        data_module.digits_arrays = lambda: (ref.images, ref.target)
        from_sklearn = build_data(cfg)
    finally:
        data_module.digits_arrays = original
    for a, b in ((shipped.train_x, from_sklearn.train_x), (shipped.train_y, from_sklearn.train_y),
                 (shipped.val.x, from_sklearn.val.x), (shipped.test.y, from_sklearn.test.y),
                 (shipped.norm.mean, from_sklearn.norm.mean), (shipped.norm.std, from_sklearn.norm.std)):
        assert torch.equal(a, b)
