r"""Small offline datasets for the neural architecture search (NAS) lessons.

Every NAS method in the course (DARTS, FBNet, MnasNet, Once-for-All) trains and compares networks
on the same few datasets, so they live here, once, as a :class:`Splits`: train, validation and
test tensors that go straight into :func:`minnas.train.fit`. Nothing is downloaded.

- ``"digits"``: the 1797 handwritten digits bundled with scikit-learn, 8x8 grey images with
  values 0..16, scaled to [0, 1]; per-sample shape ``(1, 8, 8)`` for 2-D convolutions.
- ``"mnist1d"``: the 5000 signals of MNIST-1D, each a digit template turned into a 1-D signal of
  length 40 by padding, shear, translation and correlated noise; per-sample shape ``(1, 40)`` for
  1-D convolutions. Small, but linear models and MLPs do clearly worse on it than CNNs, which is
  what makes an architecture search worth running.

How the splits are made
-----------------------
(1) Stratified: each split keeps the class proportions of the whole dataset (every class count
    within about one sample of :math:`n_\text{split} \cdot N_c / N`). The test set is drawn
    first, then the validation set from the rest; what remains is the training set, optionally
    subsampled (again stratified) to ``n_train`` samples.
(2) Input noise, to make a task harder on purpose: :math:`\tilde x = x + \sigma \varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, I)`, with :math:`\sigma` = ``noise``, added to the
    inputs of all three splits. The split depends on ``seed`` only, not on ``noise``, so
    ``noise=0`` and ``noise=0.3`` with one seed hold the same samples.

Both are seeded; loading never touches the global ``random`` / ``numpy.random`` state.

Sources
-------
- E. Alpaydin and C. Kaynak, "Optical recognition of handwritten digits", UCI Machine Learning
  Repository, 1998; ``sklearn.datasets.load_digits`` bundles its test part.
- S. Greydanus and D. Kobak, "Scaling down deep learning with MNIST-1D", *ICML* 2024; the
  ``mnist1d`` package generates the data locally with ``make_dataset(get_dataset_args())``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from minnas._validation import check_choice, check_int, check_number

__all__ = ["DATASETS", "Splits", "load_dataset", "load_digits", "load_mnist1d"]

SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------------------------- Splits
@dataclass(frozen=True, eq=False)
class Splits:
    """Train/validation/test tensors of one dataset, float32 inputs and int64 labels.

    Inputs have shape ``(n, channels, *spatial)``: ``(n, 1, 8, 8)`` for digits, ``(n, 1, 40)``
    for MNIST-1D. Labels have shape ``(n,)`` and values ``0 .. n_classes - 1``.
    """

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(1, 8, 8)`` or ``(1, 40)``."""
        return tuple(self.X_train.shape[1:])

    @property
    def in_channels(self) -> int:
        """Number of input channels, the first axis of :attr:`input_shape`."""
        return self.input_shape[0]

    @property
    def dim(self) -> int:
        """Number of spatial dimensions: 2 for images (digits), 1 for signals (MNIST-1D)."""
        return len(self.input_shape) - 1

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The pair ``(X, y)`` of ``split``, one of ``"train"``, ``"val"``, ``"test"``."""
        check_choice(split, "split", SPLITS)
        return getattr(self, f"X_{split}"), getattr(self, f"y_{split}")

    def loader(self, split: str, batch_size: int = 64, shuffle: bool | None = None,
               seed: int = 0) -> DataLoader:
        """A ``DataLoader`` over one split, in mini-batches of ``batch_size``.

        Parameters
        ----------
        split : {"train", "val", "test"}
            Which split to iterate over.
        batch_size : int, default 64
            Samples per batch; the last batch may be smaller.
        shuffle : bool, optional
            Reshuffle at every pass; default True for ``"train"``, False otherwise.
        seed : int, default 0
            Seeds the loader's own generator: same seed, same batch order (epoch after epoch).
        """
        X, y = self.tensors(split)
        batch_size = check_int(batch_size, "batch_size", low=1)
        shuffle = (split == "train") if shuffle is None else bool(shuffle)
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle,
                          generator=generator)

    def __repr__(self) -> str:
        return (f"Splits({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, input_shape={self.input_shape}, "
                f"n_classes={self.n_classes})")


# --------------------------------------------------------------------------------- loaders
def load_digits(*, n_train: int | None = None, n_val: int = 360, n_test: int = 360,
                noise: float = 0.0, seed: int = 0) -> Splits:
    """The scikit-learn digits (1797 images of 8x8 pixels, 10 classes), scaled to [0, 1].

    Parameters
    ----------
    n_train : int, optional
        Training samples, a stratified subsample of what the other splits leave;
        ``None`` (default) keeps all of it: 1797 - 360 - 360 = 1077 with the default sizes.
    n_val, n_test : int, default 360
        Validation and test samples (about 20% each), at least one per class.
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to all inputs, equation (2). Pixels are not
        clipped back to [0, 1].
    seed : int, default 0
        Chooses the split and the noise.

    Returns
    -------
    Splits
        Inputs of shape ``(n, 1, 8, 8)``.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    X, y = sklearn_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8) / 16.0  # pixel values 0..16 -> [0, 1]
    return _make_splits("digits", X, y, n_train=n_train, n_val=n_val, n_test=n_test,
                        noise=noise, seed=seed)


def load_mnist1d(*, n_train: int | None = None, n_val: int = 1000, n_test: int = 1000,
                 noise: float = 0.0, seed: int = 0) -> Splits:
    """MNIST-1D: 5000 signals of length 40 (10 classes, 500 each), generated locally.

    The samples are fixed: ``mnist1d`` generates them with its own seed (42) and its default
    arguments, and the package's 4000/1000 train/test split is ignored. ``seed`` only chooses
    our split and the noise. Generation takes a few seconds once; later calls reuse it.

    The arguments are those of :func:`load_digits`, with 1000 validation and 1000 test samples
    (20% each) by default, which leave 3000 for training. The signals themselves are
    standardised (mean 0, standard deviation 1 over the whole dataset). Returns a
    :class:`Splits` with inputs of shape ``(n, 1, 40)``.
    """
    X, y = _mnist1d_arrays()
    return _make_splits("mnist1d", X[:, None, :], y, n_train=n_train, n_val=n_val,
                        n_test=n_test, noise=noise, seed=seed)


DATASETS: dict[str, Callable[..., Splits]] = {"digits": load_digits, "mnist1d": load_mnist1d}


def load_dataset(name: str, **kwargs) -> Splits:
    """Load a dataset by name, ``"digits"`` or ``"mnist1d"``; ``kwargs`` go to its loader."""
    return DATASETS[check_choice(name, "dataset", DATASETS)](**kwargs)


# ------------------------------------------------------------------------------- internals
@contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """Restore the global ``random`` and ``numpy.random`` states on exit."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5000 MNIST-1D samples ``(X, y)``, X of shape (5000, 40); read-only, cached."""
    from mnist1d.data import get_dataset_args, make_dataset  # imported late: ~1 s

    # Never get_dataset(): it downloads and writes a pickle into the working directory.
    with _global_rng_preserved():  # make_dataset calls random.seed and np.random.seed
        data = make_dataset(get_dataset_args())
    X = np.concatenate([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]])
    X.setflags(write=False)  # shared by every later call: nobody may change it
    y.setflags(write=False)
    return X, y


def _make_splits(name: str, X: np.ndarray, y: np.ndarray, *, n_train: int | None, n_val: int,
                 n_test: int, noise: float, seed: int) -> Splits:
    """Split ``(X, y)`` stratified into train/val/test, equation (1), and add noise, (2)."""
    n, k = len(y), len(np.unique(y))
    # Stratification needs one sample of each class in every split.
    n_test = check_int(n_test, "n_test", k, n - 2 * k)
    n_val = check_int(n_val, "n_val", k, n - n_test - k)
    available = n - n_test - n_val
    if n_train is not None:
        n_train = check_int(n_train, "n_train", k, available)
    noise = check_number(noise, "noise", low=0)

    state = np.random.RandomState(seed)  # a private stream: the global state is left alone
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=state)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=n_val, stratify=y_rest, random_state=state)
    if n_train is not None and n_train < available:
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=n_train, stratify=y_train, random_state=state)

    rng = np.random.default_rng(seed)
    tensors = []
    for X_part, y_part in [(X_train, y_train), (X_val, y_val), (X_test, y_test)]:
        if noise > 0:
            X_part = X_part + noise * rng.standard_normal(X_part.shape)
        tensors += [torch.tensor(X_part, dtype=torch.float32),
                    torch.tensor(y_part, dtype=torch.int64)]
    return Splits(name, *tensors, n_classes=k)
