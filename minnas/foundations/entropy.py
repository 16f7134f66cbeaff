r"""Entropy, cross-entropy, KL divergence, stable softmax, information gain, mutual information.

Sources
-------
- C. E. Shannon, "A Mathematical Theory of Communication", Bell System Technical Journal, 1948.
- T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley 2006, chapter 2.
- J. R. Quinlan, "Induction of Decision Trees", Machine Learning 1(1), 1986 (information gain).

Equations implemented (logarithms to base ``b``; ``b = e`` gives nats, ``b = 2`` gives bits)
-------------------------------------------------------------------------------------------
(1) Entropy, the expected surprise of a distribution :math:`p` over :math:`K` outcomes::

        H(p) = - sum_k p_k log_b p_k,          with the convention 0 log 0 = 0.

(2) Cross-entropy of :math:`q` relative to :math:`p`::

        H(p, q) = - sum_k p_k log_b q_k        (= +inf if some q_k = 0 while p_k > 0).

(3) Kullback-Leibler divergence::

        KL(p || q) = sum_k p_k log_b (p_k / q_k) = H(p, q) - H(p) >= 0,
        with 0 log(0 / q) = 0 and p log(p / 0) = +inf for p > 0.

(4) Log-sum-exp, computed after shifting by :math:`m = max_k z_k` so no ``exp`` overflows::

        logsumexp(z) = m + log sum_k exp(z_k - m).

(5) Softmax with temperature :math:`T > 0`, and its logarithm::

        softmax(z / T)_k = exp(z_k / T) / sum_j exp(z_j / T),
        log softmax(z / T)_k = z_k / T - logsumexp(z / T).

    As T -> 0 the distribution tends to one-hot on the largest logit; as T -> inf to uniform.

(6) Binary cross-entropy of a logit :math:`z` against a target :math:`y \in [0, 1]`, in nats::

        -y log sigma(z) - (1 - y) log(1 - sigma(z)) = max(z, 0) - z y + log(1 + exp(-|z|)).

(7) Information gain of splitting labels :math:`Y` into branches :math:`S_1, ..., S_B` (Quinlan)::

        IG(Y; split) = H(Y) - sum_b (|S_b| / |S|) H(Y | S_b).

(8) Mutual information of two discrete variables from their joint counts :math:`n_{ij}`
    (:math:`N` samples, row sums :math:`a_i`, column sums :math:`b_j`)::

        I(X; Y) = sum_ij (n_ij / N) log_b (N n_ij / (a_i b_j)) = H(Y) - H(Y | X).

    Information gain (7) is the mutual information between the labels and the branch index.

Conventions
-----------
- Probabilities are *not* silently normalised. A distribution must be non-negative and sum to 1
  along ``axis`` (within ``SUM_TOL``), otherwise a ``ValueError`` is raised: a vector of counts
  passed by mistake is a bug, not an input. Pass ``normalize=True`` to rescale non-negative
  weights (counts) explicitly; this is what ``scipy.stats.entropy`` always does.
- ``base=None`` means the natural logarithm (nats), as in ``scipy.stats.entropy`` and
  ``sklearn.metrics.mutual_info_score``; ``base=2`` gives bits.
- Inputs must be finite: NaN or infinite values raise ``ValueError``, as do empty inputs and
  mismatched shapes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from minnas._validation import as_float_array, check_choice, check_number

__all__ = [
    "SUM_TOL",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "logsumexp",
    "log_softmax",
    "softmax",
    "binary_cross_entropy_with_logits",
    "label_entropy",
    "information_gain",
    "mutual_information",
]

#: How far from 1 the sum of a probability vector may be. Loose enough for float round-off in
#: user-written vectors such as ``[0.1] * 10``, tight enough to catch counts or typos.
SUM_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# entropy, cross-entropy, KL  (equations 1-3)
# --------------------------------------------------------------------------------------------

def entropy(p: ArrayLike, base: float | None = None, axis: int = -1,
            normalize: bool = False) -> float | np.ndarray:
    """Shannon entropy ``H(p) = -sum_k p_k log p_k`` (equation 1), with ``0 log 0 = 0``.

    Parameters
    ----------
    p : array_like
        Probabilities along ``axis``: non-negative, summing to 1 (within ``SUM_TOL``).
    base : float, optional
        Logarithm base; ``None`` (default) gives nats, ``2`` gives bits. Must be > 0 and != 1.
    axis : int, default -1
        The axis that holds the outcomes; other axes are a batch.
    normalize : bool, default False
        Divide ``p`` by its sum first, so counts or weights are accepted.

    Returns
    -------
    float or ndarray
        A float for a 1-D ``p``, otherwise an array with ``axis`` removed.

    Raises
    ------
    ValueError
        On empty, NaN, infinite or negative input, a bad ``base``, or a sum other than 1.
    """
    log_b = _log_of_base(base)
    p = _as_distribution(p, "p", axis, normalize)
    return _as_scalar_or_array(-_xlogy(p, p).sum(axis=axis) / log_b)


def cross_entropy(p: ArrayLike, q: ArrayLike, base: float | None = None, axis: int = -1,
                  normalize: bool = False) -> float | np.ndarray:
    """Cross-entropy ``H(p, q) = -sum_k p_k log q_k`` (equation 2).

    It is ``+inf`` when ``q_k = 0`` for an outcome with ``p_k > 0``; terms with ``p_k = 0``
    contribute 0. With one-hot ``p`` it is the classification loss ``-log q_y``.

    Parameters
    ----------
    p, q : array_like
        Distributions of the same shape (no broadcasting), each summing to 1 along ``axis``.
    base, axis, normalize
        As in :func:`entropy`.

    Returns
    -------
    float or ndarray
        ``H(p, q) >= H(p)``; a float for 1-D inputs.
    """
    log_b = _log_of_base(base)
    p, q = _as_pair(p, q, axis, normalize)
    return _as_scalar_or_array(-_xlogy(p, q).sum(axis=axis) / log_b)


def kl_divergence(p: ArrayLike, q: ArrayLike, base: float | None = None, axis: int = -1,
                  normalize: bool = False) -> float | np.ndarray:
    """Kullback-Leibler divergence ``KL(p || q) = sum_k p_k log(p_k / q_k)`` (equation 3).

    Terms with ``p_k = 0`` are 0 (``0 log(0/q) = 0``); a term with ``p_k > 0`` and ``q_k = 0``
    is ``+inf``, so the result is ``inf``: ``q`` calls impossible what ``p`` says can happen.
    The divergence is >= 0, zero iff ``p == q``, and not symmetric.

    Parameters are those of :func:`cross_entropy`. Returns ``KL(p || q)`` in ``[0, inf]``, a
    float for 1-D inputs.
    """
    log_b = _log_of_base(base)
    p, q = _as_pair(p, q, axis, normalize)
    # p log p - p log q term by term (not H(p, q) - H(p)) so that p == q gives exactly 0.
    with np.errstate(divide="ignore"):
        terms = _xlogy(p, p) - _xlogy(p, q)
    # Round-off can leave a tiny negative total for nearly equal p and q; KL is never negative.
    return _as_scalar_or_array(np.maximum(terms.sum(axis=axis), 0.0) / log_b)


# --------------------------------------------------------------------------------------------
# log-sum-exp and softmax  (equations 4-6)
# --------------------------------------------------------------------------------------------

def logsumexp(z: ArrayLike, axis: int | None = -1, keepdims: bool = False) -> float | np.ndarray:
    """``log sum_k exp(z_k)`` computed as ``m + log sum_k exp(z_k - m)`` (equation 4).

    Shifting by the maximum ``m`` makes the largest exponent ``exp(0) = 1``: nothing overflows,
    and at least one term is 1, so the logarithm never sees 0.

    Parameters
    ----------
    z : array_like
        Finite real numbers (logits).
    axis : int or None, default -1
        The axis to reduce; ``None`` reduces over all elements.
    keepdims : bool, default False
        Keep the reduced axis with length 1, for broadcasting against ``z``.

    Returns
    -------
    float or ndarray
        A float when the result is a single number.
    """
    z = as_float_array(z, "z")
    m = np.max(z, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return _as_scalar_or_array(out)


def log_softmax(z: ArrayLike, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """``log softmax(z / T) = z / T - logsumexp(z / T)`` along ``axis`` (equation 5).

    The logits are shifted by their maximum *before* dividing by ``T``, so a tiny temperature
    divides numbers <= 0 (giving at worst ``-inf``, i.e. probability 0) instead of overflowing.

    Parameters
    ----------
    z : array_like
        Finite logits, at least 1-D.
    axis : int, default -1
        The axis that holds the classes (or candidate operations).
    temperature : float, default 1.0
        ``T > 0``; ``np.inf`` is allowed and gives the uniform distribution.

    Returns
    -------
    ndarray
        Same shape as ``z``; ``exp`` of it sums to 1 along ``axis``.
    """
    t = check_number(temperature, "temperature", low=0, strict=True, finite=False)
    z = as_float_array(z, "z")
    if z.ndim == 0:
        raise ValueError("z must be at least 1-D (a vector of logits), got a scalar")
    with np.errstate(over="ignore"):  # a non-max logit over a tiny T may become -inf: fine
        s = (z - np.max(z, axis=axis, keepdims=True)) / t  # T = inf gives s = 0: uniform
    # max(s) = 0 along axis, so the sum below lies in [1, K]: its log is finite.
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softmax(z: ArrayLike, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """``softmax(z / T)_k = exp(z_k / T) / sum_j exp(z_j / T)`` along ``axis`` (equation 5).

    Computed as ``exp(log_softmax(z))``, so huge logits neither overflow nor give NaN.
    ``T -> 0`` tends to one-hot on the argmax (ties share the mass); ``T = inf`` gives uniform.
    Parameters and shape as in :func:`log_softmax`; the result sums to 1 along ``axis``.
    """
    return np.exp(log_softmax(z, axis=axis, temperature=temperature))


def binary_cross_entropy_with_logits(
        logits: ArrayLike, targets: ArrayLike,
        reduction: Literal["mean", "sum", "none"] = "mean") -> float | np.ndarray:
    """Binary cross-entropy of ``sigma(logits)`` against ``targets``, in nats (equation 6).

    Uses ``max(z, 0) - z * y + log(1 + exp(-|z|))``: ``exp`` only ever sees a non-positive
    number, so ``z = +-1e4`` gives the exact large loss instead of ``log(0) = -inf`` or NaN.

    Parameters
    ----------
    logits : array_like
        Real-valued scores ``z``.
    targets : array_like
        Same shape as ``logits``, values in ``[0, 1]`` (hard 0/1 labels or soft targets).
    reduction : {"mean", "sum", "none"}, default "mean"
        How to combine the element-wise losses.

    Returns
    -------
    float or ndarray
        The mean or sum as a float, or the element-wise losses for ``"none"``.
    """
    check_choice(reduction, "reduction", ("mean", "sum", "none"))
    z = as_float_array(logits, "logits")
    y = as_float_array(targets, "targets")
    if z.shape != y.shape:
        raise ValueError("logits and targets must have the same shape, "
                         f"got {z.shape} and {y.shape}")
    if np.any((y < 0) | (y > 1)):
        raise ValueError("targets must lie in [0, 1]")
    loss = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
    if reduction == "none":
        return loss
    return float(loss.mean() if reduction == "mean" else loss.sum())


# --------------------------------------------------------------------------------------------
# information gain and mutual information  (equations 7-8)
# --------------------------------------------------------------------------------------------

def label_entropy(labels: ArrayLike, base: float | None = None) -> float:
    """Entropy of the empirical class distribution of ``labels`` (equation 1 on counts / N).

    This is the "class entropy" meta-feature of a classification data set.

    Parameters
    ----------
    labels : array_like
        1-D array of discrete values (ints, strings, ...).
    base : float, optional
        ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    float
        In ``[0, log(number of distinct labels)]``.
    """
    codes, _ = _codes(_as_labels(labels, "labels"), "labels")
    return entropy(np.bincount(codes), base=base, normalize=True)


def information_gain(labels: ArrayLike, split_mask: ArrayLike, base: float | None = None) -> float:
    """Information gain ``H(Y) - sum_b |S_b|/|S| H(Y | S_b)`` of a split (equation 7).

    Parameters
    ----------
    labels : array_like
        1-D class labels ``Y`` of the samples at a node.
    split_mask : array_like
        1-D, same length: a boolean mask (``True`` = left child, ``False`` = right child), or,
        for a multiway split as in Quinlan's ID3, one branch id per sample.
    base : float, optional
        ``None`` (default) gives nats; Quinlan's ID3 uses bits, ``base=2``.

    Returns
    -------
    float
        The gain, in ``[0, H(Y)]``. A split that leaves one child empty gains 0.
    """
    y, b = _as_label_pair(labels, split_mask, "labels", "split_mask")
    log_b = _log_of_base(base)
    counts = _contingency(b, y)  # rows: branches, columns: classes
    n_branch = counts.sum(axis=1)
    parent = entropy(counts.sum(axis=0), normalize=True)
    children = entropy(counts, axis=1, normalize=True)  # each row is non-empty by construction
    gain = parent - np.dot(n_branch / n_branch.sum(), children)
    # IG = I(Y; branch) >= 0; clip the round-off of a useless split (gain ~ -1e-17) to 0.
    return max(float(gain), 0.0) / log_b


def mutual_information(x: ArrayLike, y: ArrayLike, base: float | None = None) -> float:
    """Mutual information ``I(X; Y)`` of two discrete variables from joint counts (equation 8).

    Parameters
    ----------
    x, y : array_like
        1-D arrays of the same length holding discrete values (ints, strings, ...); each pair
        ``(x[i], y[i])`` is one joint observation.
    base : float, optional
        ``None`` (default) gives nats, matching ``sklearn.metrics.mutual_info_score``.

    Returns
    -------
    float
        ``I(X; Y) = I(Y; X)``, in ``[0, min(H(X), H(Y))]``.
    """
    x, y = _as_label_pair(x, y, "x", "y")
    log_b = _log_of_base(base)
    n_xy = _contingency(x, y).astype(float)
    n = n_xy.sum()
    a = n_xy.sum(axis=1, keepdims=True)  # row sums: counts of each x value
    b = n_xy.sum(axis=0, keepdims=True)  # column sums: counts of each y value
    # Empty cells (n_ij = 0) contribute 0 via _xlogy; a and b are > 0 for every observed value.
    with np.errstate(divide="ignore"):
        ratio = n * n_xy / (a * b)
    mi = _xlogy(n_xy / n, ratio).sum()
    return max(float(mi), 0.0) / log_b


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------

def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * ln(y)`` with the convention ``0 * ln(y) = 0`` for every ``y``, including 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        # log(0) = -inf is wanted where x > 0 (it makes cross-entropy and KL infinite);
        # where x == 0 the term is defined as 0, so np.where masks the 0 * (-inf) = NaN.
        return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


def _contingency(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Joint counts n_ij = #{samples with x = i and y = j}, as an (n_x, n_y) integer table."""
    xc, nx = _codes(x, "x")
    yc, ny = _codes(y, "y")
    return np.bincount(xc * ny + yc, minlength=nx * ny).reshape(nx, ny)


def _codes(x: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Map discrete values to integer codes 0..n-1 (the row or column of a contingency table)."""
    try:
        values, codes = np.unique(x, return_inverse=True)
    except TypeError as exc:  # e.g. an object array mixing None and numbers
        raise ValueError(f"{name} holds values that cannot be compared: {exc}") from exc
    return codes.ravel(), len(values)


def _as_scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    """Return a Python float for 0-d results so that 1-D inputs give plain numbers."""
    return float(x) if np.ndim(x) == 0 else x


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------

def _log_of_base(base: float | None) -> float:
    """Return ``ln(base)``, the divisor that turns nats into units of ``base`` (1.0 for nats)."""
    if base is None:
        return 1.0
    # log_b x = ln x / ln b is undefined for b <= 0 and divides by zero for b == 1.
    b = check_number(base, "base", low=0, strict=True)
    if b == 1.0:
        raise ValueError(f"base must be a finite number > 0 and != 1, got {base!r}")
    return float(np.log(b))


def _as_distribution(p: ArrayLike, name: str, axis: int, normalize: bool) -> np.ndarray:
    """Check that ``p`` is a (batch of) probability vector(s) along ``axis``; see Conventions."""
    arr = as_float_array(p, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be at least 1-D (a vector of probabilities), got a scalar")
    if np.any(arr < 0):
        raise ValueError(f"{name} has negative entries; probabilities must be >= 0")
    total = arr.sum(axis=axis, keepdims=True)
    if normalize:
        if np.any(total == 0):
            raise ValueError(f"{name} sums to 0 along axis {axis}; cannot normalise")
        return arr / total
    if np.any(np.abs(total - 1.0) > SUM_TOL):
        worst = float(np.ravel(total)[np.argmax(np.abs(np.ravel(total) - 1.0))])
        raise ValueError(f"{name} must sum to 1 along axis {axis} (got a sum of {worst:.6g}); "
                         "pass normalize=True to rescale counts or weights")
    return arr


def _as_pair(p: ArrayLike, q: ArrayLike, axis: int,
             normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two distributions of the same shape (no broadcasting: a shape mismatch is a bug)."""
    p_arr = _as_distribution(p, "p", axis, normalize)
    q_arr = _as_distribution(q, "q", axis, normalize)
    if p_arr.shape != q_arr.shape:
        raise ValueError(f"p and q must have the same shape, got {p_arr.shape} and {q_arr.shape}")
    return p_arr, q_arr


def _as_labels(x: ArrayLike, name: str) -> np.ndarray:
    """A non-empty 1-D array of discrete values (ints, strings, bools), without NaN."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got an array of shape {arr.shape}")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_label_pair(x: ArrayLike, y: ArrayLike, x_name: str,
                   y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two label arrays of the same length: ``(x[i], y[i])`` is one joint observation."""
    x_arr, y_arr = _as_labels(x, x_name), _as_labels(y, y_name)
    if len(x_arr) != len(y_arr):
        raise ValueError(f"{x_name} and {y_name} must have the same length, "
                         f"got {len(x_arr)} and {len(y_arr)}")
    return x_arr, y_arr
