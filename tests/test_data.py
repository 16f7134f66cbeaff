"""minnas.data: shapes, stratified disjoint splits, seeding, noise, and a global RNG left alone."""

import os
import random

import numpy as np
import pytest
import sklearn.datasets
import torch

from minnas import data
from minnas.data import Splits, load_dataset, load_digits, load_mnist1d

torch.set_num_threads(1)


def class_counts(y, n_classes=10):
    return np.bincount(np.asarray(y), minlength=n_classes)


def assert_stratified(splits: Splits, class_fraction):
    """Every class count within one sample of n_split * fraction of that class."""
    for y in (splits.y_train, splits.y_val, splits.y_test):
        deviation = class_counts(y) - len(y) * np.asarray(class_fraction)
        assert np.abs(deviation).max() <= 1, deviation


def all_samples(splits: Splits):
    """Train, val and test samples together, as rows (label, inputs...) in sorted order:
    the multiset of samples, whatever the split."""
    X = torch.cat([splits.X_train, splits.X_val, splits.X_test]).flatten(1).numpy()
    y = torch.cat([splits.y_train, splits.y_val, splits.y_test]).numpy()
    return sorted_rows(X, y)


def sorted_rows(X, y):
    rows = np.column_stack([y, X])
    return rows[np.lexsort(rows.T[::-1])]


DIGITS = sklearn.datasets.load_digits()
DIGITS_FRACTION = class_counts(DIGITS.target) / len(DIGITS.target)


# ------------------------------------------------------------------------------- mnist1d
# First in this file: it must see the generation itself, so it clears the cache; the later
# tests reuse what it generated.
def test_load_mnist1d_leaves_global_rng_and_working_directory_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data._mnist1d_arrays.cache_clear()
    random.seed(123)
    np.random.seed(123)
    py_state, np_state = random.getstate(), np.random.get_state()
    load_mnist1d()
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert os.listdir(tmp_path) == []  # no pickle written (get_dataset() would write one)


@pytest.fixture(scope="module")
def mnist1d():
    return load_mnist1d()


def test_mnist1d_shapes_dtypes_and_default_sizes(mnist1d):
    assert (len(mnist1d.y_train), len(mnist1d.y_val), len(mnist1d.y_test)) == (3000, 1000, 1000)
    assert mnist1d.X_train.shape == (3000, 1, 40) and mnist1d.X_train.dtype == torch.float32
    assert mnist1d.y_test.dtype == torch.int64
    assert mnist1d.input_shape == (1, 40) and mnist1d.in_channels == 1 and mnist1d.dim == 1
    assert mnist1d.n_classes == 10
    assert_stratified(mnist1d, np.full(10, 0.1))  # 500 samples per class


def test_mnist1d_splits_are_disjoint(mnist1d):
    # MNIST-1D signals carry continuous noise, so distinct samples have distinct rows.
    X = torch.cat([mnist1d.X_train, mnist1d.X_val, mnist1d.X_test]).reshape(5000, -1)
    assert len(torch.unique(X, dim=0)) == 5000


def test_mnist1d_seed_chooses_the_split_not_the_data(mnist1d):
    other = load_mnist1d(seed=1)
    assert not torch.equal(other.X_test, mnist1d.X_test)
    np.testing.assert_array_equal(all_samples(other), all_samples(mnist1d))


def test_mnist1d_small_train_set_with_noise():
    s = load_mnist1d(n_train=200, noise=0.5, seed=3)
    assert len(s.y_train) == 200
    assert_stratified(s, np.full(10, 0.1))


# -------------------------------------------------------------------------------- digits
def test_digits_shapes_dtypes_range_and_default_sizes():
    s = load_digits()
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1077, 360, 360)
    assert s.X_val.shape == (360, 1, 8, 8) and s.X_val.dtype == torch.float32
    assert s.y_train.dtype == torch.int64
    assert s.input_shape == (1, 8, 8) and s.in_channels == 1 and s.dim == 2
    assert s.n_classes == 10
    X = torch.cat([s.X_train, s.X_val, s.X_test])
    assert X.min() == 0.0 and X.max() == 1.0  # pixels 0..16 divided by 16


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_digits_splits_partition_the_dataset(seed):
    # Same multiset of (label, image) as sklearn's: every sample in exactly one split.
    expected = sorted_rows(DIGITS.data / 16, DIGITS.target)
    np.testing.assert_allclose(all_samples(load_digits(seed=seed)), expected, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"n_train": 100}, {"n_train": 10, "n_val": 50,
                                                            "n_test": 500, "seed": 4}])
def test_digits_splits_are_stratified(kwargs):
    s = load_digits(**kwargs)
    assert_stratified(s, DIGITS_FRACTION)
    if "n_train" in kwargs:
        assert len(s.y_train) == kwargs["n_train"]


def test_same_seed_same_split_and_noise_different_seed_different_split():
    a, b, c = (load_digits(noise=0.2, seed=seed) for seed in (5, 5, 6))
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, f"X_{split}"), getattr(b, f"X_{split}"))
        assert torch.equal(getattr(a, f"y_{split}"), getattr(b, f"y_{split}"))
    assert not torch.equal(a.y_train, c.y_train)


def test_noise_has_the_requested_std_on_every_split_and_keeps_the_split():
    clean, noisy = load_digits(seed=2), load_digits(noise=0.3, seed=2)
    for split in ("train", "val", "test"):
        X0, y0 = clean.tensors(split)
        X1, y1 = noisy.tensors(split)
        assert torch.equal(y0, y1)
        eps = (X1 - X0).double()
        assert abs(eps.mean().item()) < 0.01
        assert eps.std().item() == pytest.approx(0.3, rel=0.03)  # >= 23k draws per split


def test_load_dataset_dispatches_by_name_and_lists_names_on_error():
    a, b = load_dataset("digits", n_train=50, seed=1), load_digits(n_train=50, seed=1)
    assert torch.equal(a.X_train, b.X_train)
    with pytest.raises(ValueError, match="digits.*mnist1d"):
        load_dataset("cifar10")


@pytest.mark.parametrize("kwargs, match", [
    ({"n_train": 0}, "n_train"),
    ({"n_train": 1078}, "n_train"),  # 1797 - 360 - 360 = 1077 available
    ({"n_train": 5}, "n_train"),  # fewer than one per class
    ({"n_train": 2.5}, "n_train.*integer"),
    ({"n_val": 1500}, "n_val"),
    ({"n_test": 0}, "n_test"),
    ({"noise": -0.1}, "noise"),
    ({"noise": float("nan")}, "noise"),
    ({"noise": "loud"}, "noise"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_digits(**kwargs)


# -------------------------------------------------------------------------------- Splits
def test_splits_repr_is_a_short_summary():
    assert repr(load_digits(n_train=100)) == ("Splits('digits', train=100, val=360, test=360, "
                                              "input_shape=(1, 8, 8), n_classes=10)")


def test_loader_shuffles_train_only_and_is_seeded():
    s = load_digits(n_train=200)

    def labels(loader):
        return torch.cat([y for _, y in loader])

    assert [len(y) for _, y in s.loader("train", batch_size=64)] == [64, 64, 64, 8]
    train = s.loader("train", seed=0)
    first, second = labels(train), labels(train)
    assert not torch.equal(first, second)  # a new order every epoch ...
    again = s.loader("train", seed=0)
    assert torch.equal(labels(again), first) and torch.equal(labels(again), second)  # ... seeded
    assert not torch.equal(labels(s.loader("train", seed=1)), first)
    assert sorted(first.tolist()) == sorted(s.y_train.tolist())
    assert torch.equal(labels(s.loader("val")), s.y_val)  # val and test keep their order
    assert not torch.equal(labels(s.loader("val", shuffle=True)), s.y_val)


@pytest.mark.parametrize("kwargs, match", [({"split": "dev"}, "split"),
                                           ({"split": "train", "batch_size": 0}, "batch_size")])
def test_loader_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_digits(n_train=20).loader(**kwargs)
