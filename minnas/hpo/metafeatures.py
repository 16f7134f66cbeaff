r"""Meta-features of tabular classification tasks, and a distance between tasks built on them.

A *meta-feature* summarises a whole data set :math:`(X, y)`, :math:`X \in \mathbb{R}^{n \times d}`,
:math:`y \in \{1, \dots, K\}^n`, in one number. Tasks with similar meta-features tend to prefer
similar hyperparameters, which is what warm-starting (:mod:`minnas.hpo.warmstart`) exploits:
it looks up the tasks nearest to a new one and tries their best configurations first.

Sources
-------
- A. Rivolli, L. P. F. Garcia, C. Soares, J. Vanschoren and A. C. P. L. F. de Carvalho,
  "Meta-features for meta-learning", *Knowledge-Based Systems* 240, 2022 (arXiv 1808.10406):
  the groups and names used here (``nr_inst``, ``class_ent``, ``mut_inf``, ...), which are also
  the names of the ``pymfe`` package.
- B. Pfahringer, H. Bensusan and C. Giraud-Carrier, "Meta-learning by landmarking various
  learning algorithms", *ICML* 2000: landmarkers, the accuracy of simple, fast learners.
- M. Feurer, J. T. Springenberg and F. Hutter, "Initializing Bayesian hyperparameter
  optimization via meta-learning", *AAAI* 2015: log-scaled size features, z-scored
  meta-features and the L1 distance between tasks (equation 12).

Equations implemented (:math:`x_j` is column :math:`j` of :math:`X`, :math:`\bar x_j` its mean)
---------------------------------------------------------------------------------------
Simple ("general") features:

(1) ``nr_inst`` :math:`= n`, ``nr_attr`` :math:`= d`, ``nr_class`` :math:`= K`, their logarithms
    ``log_nr_inst`` :math:`= \ln n`, ``log_nr_attr`` :math:`= \ln d`, the dimensionality
    ``log_attr_to_inst`` :math:`= \ln(d / n)`, and the class frequencies
    ``freq_class.min`` :math:`= \min_k n_k / n`, ``freq_class.max`` :math:`= \max_k n_k / n`.

Statistical features, each a mean (``.mean``) and a standard deviation (``.sd``, ``ddof=1``)
over the attributes. Constant attributes have no skewness, kurtosis or correlation; they are
left out (a data set whose attributes are all constant gets 0):

(2) Skewness with the sample standard deviation :math:`s_j` (``ddof=1``), pymfe's default
    "type 3" (R's ``e1071``):

    .. math:: \mathrm{skew}_j = \frac{\frac1n \sum_i (x_{ij} - \bar x_j)^3}{s_j^3}.

(3) Excess kurtosis, the same type:

    .. math:: \mathrm{kurt}_j = \frac{\frac1n \sum_i (x_{ij} - \bar x_j)^4}{s_j^4} - 3.

(4) ``cor``: the absolute Pearson correlation :math:`|r_{jl}|` of each pair :math:`j < l`.
(5) ``pca_95``: the fraction of principal components (of the standardised attributes) needed to
    explain 95 % of the variance, :math:`\min\{m : \sum_{i \le m} \lambda_i \ge 0.95
    \sum_i \lambda_i\} / d` (Feurer et al. 2015).

Information-theoretic features (bits). Each attribute is discretised into ``bins`` bins
(default :math:`\lfloor n^{1/3} \rfloor`, at least 2): equal-width bins by default, the edges
:math:`\min_i x_{ij} + b\,(\max_i x_{ij} - \min_i x_{ij}) / B`, :math:`b = 1, \dots, B - 1`;
or, with ``strategy="frequency"``, equal-frequency bins at the quantiles, exactly as pymfe does.
Let :math:`\tilde x_j` be the discretised attribute; then, with
:func:`minnas.foundations.entropy.label_entropy` and
:func:`minnas.foundations.entropy.mutual_information`:

(6) ``class_ent`` :math:`= H(y) = -\sum_k p_k \log_2 p_k`, :math:`p_k = n_k / n`.
(7) ``attr_ent.mean`` :math:`= \frac1d \sum_j H(\tilde x_j)`.
(8) ``mut_inf.mean`` :math:`= \frac1d \sum_j I(\tilde x_j; y)`, with
    :math:`I(\tilde x; y) = H(\tilde x) + H(y) - H(\tilde x, y)`.
(9) ``eq_num_attr`` :math:`= H(y) / \overline{I}`, the number of attributes that would be needed
    to explain the class if each carried the mean mutual information :math:`\overline I`;
    ``ns_ratio`` :math:`= (\overline{H(\tilde x)} - \overline I) / \overline I`, the
    noise-to-signal ratio. Both are capped at ``1e6`` where :math:`\overline I = 0`.

Landmarking (Pfahringer et al. 2000): the stratified K-fold cross-validated accuracy

(10) :math:`\mathrm{acc}(f) = \frac1K \sum_{k=1}^K \frac{1}{|F_k|} \sum_{i \in F_k}
     [f_{-k}(x_i) = y_i]`, where :math:`f_{-k}` is trained on all folds but :math:`F_k`, for
     ``one_nn`` (1-nearest neighbour on standardised attributes), ``best_node`` (a decision
     stump, a tree of depth 1) and ``naive_bayes`` (Gaussian naive Bayes).

Task distance (Feurer et al. 2015):

(11) z-scores per meta-feature over the training tasks, :math:`z = (m - \mu) / \sigma`, with
     :math:`z = 0` for a meta-feature that is constant over those tasks (:math:`\sigma = 0`).
(12) :math:`d(t, t') = \| z_t - z_{t'} \|_p = \big(\sum_f |z_{tf} - z_{t'f}|^p\big)^{1/p}`,
     the L1 norm (:math:`p = 1`) by default.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike

from minnas._validation import as_float_array, check_choice, check_int, check_number
from minnas.foundations.entropy import label_entropy, mutual_information

__all__ = ["compute_metafeatures", "information_theoretic", "landmarking", "simple",
           "standardize", "statistical", "task_distances"]

#: Cap of ``eq_num_attr`` and ``ns_ratio`` when no attribute carries information about y.
_RATIO_CAP = 1e6


# --------------------------------------------------------------------------------- simple
def simple(X: ArrayLike, y: ArrayLike) -> dict[str, float]:
    """Size and class-balance features, equation (1).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Numeric attributes, finite.
    y : array_like of shape (n,)
        Class labels (any discrete values), at least two classes.

    Returns
    -------
    dict of str to float
        ``nr_inst, nr_attr, nr_class, log_nr_inst, log_nr_attr, log_attr_to_inst,
        freq_class.min, freq_class.max``.
    """
    X, codes = _check_xy(X, y)
    n, d = X.shape
    freq = np.bincount(codes) / n
    return {"nr_inst": float(n), "nr_attr": float(d), "nr_class": float(len(freq)),
            "log_nr_inst": math.log(n), "log_nr_attr": math.log(d),
            "log_attr_to_inst": math.log(d / n),
            "freq_class.min": float(freq.min()), "freq_class.max": float(freq.max())}


# ---------------------------------------------------------------------------- statistical
def statistical(X: ArrayLike, y: ArrayLike) -> dict[str, float]:
    """Skewness, kurtosis, absolute correlation and PCA features, equations (2)-(5).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Numeric attributes, finite; constant columns are left out of (2)-(4).
    y : array_like of shape (n,)
        Class labels (checked, not used).

    Returns
    -------
    dict of str to float
        ``skewness.mean/.sd, kurtosis.mean/.sd, cor.mean/.sd, pca_95``.
    """
    X, _ = _check_xy(X, y)
    n = X.shape[0]
    Z = _nonconstant(X)
    out: dict[str, float] = {}
    if Z.shape[1] and n > 1:
        centred = Z - Z.mean(axis=0)
        s = centred.std(axis=0, ddof=1)
        skew = np.mean(centred**3, axis=0) / s**3          # equation (2)
        kurt = np.mean(centred**4, axis=0) / s**4 - 3.0    # equation (3)
    else:
        skew = kurt = np.zeros(0)
    out.update(_mean_sd(skew, "skewness"))
    out.update(_mean_sd(kurt, "kurtosis"))
    if Z.shape[1] >= 2:
        r = np.corrcoef(Z, rowvar=False)
        cor = np.abs(r[np.triu_indices_from(r, k=1)])       # equation (4): each pair once
    else:
        cor = np.zeros(0)
    out.update(_mean_sd(cor, "cor"))
    out["pca_95"] = _pca_95(Z, X.shape[1])
    return out


def _nonconstant(X: np.ndarray) -> np.ndarray:
    """The columns of ``X`` that are not constant (skewness, kurtosis, r need a spread)."""
    return X[:, np.ptp(X, axis=0) > 0]


def _mean_sd(values: np.ndarray, name: str) -> dict[str, float]:
    """``{name.mean, name.sd}`` with ``ddof=1``; 0 for an empty list, sd 0 for one value."""
    if values.size == 0:
        return {f"{name}.mean": 0.0, f"{name}.sd": 0.0}
    sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return {f"{name}.mean": float(np.mean(values)), f"{name}.sd": sd}


def _pca_95(Z: np.ndarray, d: int) -> float:
    """Equation (5) on the non-constant columns ``Z``; divided by the full dimension ``d``."""
    if Z.shape[1] == 0 or Z.shape[0] < 2:
        return 1.0 / d
    S = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    lam = np.linalg.svd(S, compute_uv=False) ** 2  # eigenvalues of S^T S, descending
    share = np.cumsum(lam) / lam.sum()
    m = int(np.searchsorted(share, 0.95 - 1e-12)) + 1  # first m with share >= 0.95
    return m / d


# -------------------------------------------------------------------- information theory
def _discretize(x: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    """Bin index of each value of one attribute (equal width, or equal frequency as pymfe)."""
    if strategy == "width":
        lo, hi = x.min(), x.max()
        if hi == lo:
            return np.zeros(len(x), dtype=int)
        edges = lo + (hi - lo) * np.arange(1, bins) / bins   # the B - 1 inner edges
        return np.digitize(x, edges)
    # pymfe's _equal_freq_discretization: the upper quantiles, duplicates merged, right-closed.
    edges = np.quantile(x, np.linspace(0.0, 1.0, bins + 1)[1:])
    edges = np.unique(edges[np.append(True, np.diff(edges) > 1e-8)])
    return np.digitize(x, edges, right=True)


def information_theoretic(X: ArrayLike, y: ArrayLike, bins: int | None = None,
                          strategy: str = "width") -> dict[str, float]:
    """Class entropy, attribute entropy and mutual information in bits, equations (6)-(9).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Numeric attributes, finite.
    y : array_like of shape (n,)
        Class labels, at least two classes.
    bins : int, optional
        Number of bins per attribute; default ``max(2, floor(n ** (1/3)))``.
    strategy : {"width", "frequency"}, default "width"
        Equal-width bins, or equal-frequency bins at the quantiles (pymfe's discretisation).

    Returns
    -------
    dict of str to float
        ``class_ent, attr_ent.mean, attr_ent.sd, mut_inf.mean, mut_inf.sd, eq_num_attr,
        ns_ratio``.
    """
    X, codes = _check_xy(X, y)
    n = X.shape[0]
    if bins is None:
        bins = max(2, int(n ** (1.0 / 3.0) + 1e-9))  # + 1e-9: 125 ** (1/3) = 4.999...
    bins = check_int(bins, "bins", low=2)
    strategy = check_choice(strategy, "strategy", ("width", "frequency"))
    binned = [_discretize(X[:, j], bins, strategy) for j in range(X.shape[1])]
    class_ent = label_entropy(codes, base=2)                                     # (6)
    attr_ent = np.array([label_entropy(b, base=2) for b in binned])              # (7)
    mut_inf = np.array([mutual_information(b, codes, base=2) for b in binned])   # (8)
    out = {"class_ent": class_ent}
    out.update(_mean_sd(attr_ent, "attr_ent"))
    out.update(_mean_sd(mut_inf, "mut_inf"))
    mi = float(mut_inf.mean())
    out["eq_num_attr"] = min(class_ent / mi, _RATIO_CAP) if mi > 0 else _RATIO_CAP      # (9)
    out["ns_ratio"] = (min((float(attr_ent.mean()) - mi) / mi, _RATIO_CAP) if mi > 0
                       else _RATIO_CAP)
    return out


# ---------------------------------------------------------------------------- landmarking
def landmarking(X: ArrayLike, y: ArrayLike, seed: int = 0, cv: int = 5) -> dict[str, float]:
    """Cross-validated accuracy of three fast learners, equation (10).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Numeric attributes, finite.
    y : array_like of shape (n,)
        Class labels; the smallest class needs at least 2 members.
    seed : int, default 0
        Fixes the shuffled stratified folds (and the stump's tie breaking).
    cv : int, default 5
        Number of folds; reduced to the size of the smallest class if that is smaller.

    Returns
    -------
    dict of str to float
        ``one_nn, best_node, naive_bayes``, each an accuracy in [0, 1].
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, codes = _check_xy(X, y)
    cv = check_int(cv, "cv", low=2)
    smallest = int(np.bincount(codes).min())
    if smallest < 2:
        raise ValueError("landmarking needs at least 2 samples of every class for "
                         f"cross-validation; the smallest class has {smallest}")
    folds = StratifiedKFold(n_splits=min(cv, smallest), shuffle=True, random_state=seed)
    learners = {
        "one_nn": make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=1)),
        "best_node": DecisionTreeClassifier(max_depth=1, random_state=seed),
        "naive_bayes": GaussianNB(),
    }
    return {name: float(cross_val_score(model, X, codes, cv=folds, n_jobs=1).mean())
            for name, model in learners.items()}


# ------------------------------------------------------------------------------------ all
def compute_metafeatures(X: ArrayLike, y: ArrayLike, seed: int = 0) -> dict[str, float]:
    """All meta-features of one task, in a fixed key order (simple, statistical, info, landmarks).

    Parameters
    ----------
    X : array_like of shape (n, d)
    y : array_like of shape (n,)
    seed : int, default 0
        Seed of the landmarkers' folds; everything else is deterministic.

    Returns
    -------
    dict of str to float
        25 meta-features; see the module docstring for their definitions.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> mf = compute_metafeatures(*load_iris(return_X_y=True))
    >>> mf["nr_inst"], mf["nr_class"], round(mf["class_ent"], 6)
    (150.0, 3.0, 1.584963)
    """
    with warnings.catch_warnings():  # e.g. a fold without one class in the stump's training set
        warnings.simplefilter("ignore")
        return {**simple(X, y), **statistical(X, y), **information_theoretic(X, y),
                **landmarking(X, y, seed=seed)}


# ------------------------------------------------------------------------- task distance
def standardize(M: ArrayLike, mean: ArrayLike | None = None,
                std: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z-score each column of ``M``, equation (11).

    Parameters
    ----------
    M : array_like of shape (T, F) or (F,)
        Meta-features, one row per task.
    mean, std : array_like of shape (F,), optional
        Statistics to use (e.g. those of the training tasks); default: computed from ``M``
        (``std`` with ``ddof=0``). Give both or neither.

    Returns
    -------
    Z : ndarray, same shape as M
        ``(M - mean) / std``; columns with ``std == 0`` are 0.
    mean, std : ndarray of shape (F,)
        The statistics used, so that new tasks can be scaled the same way.
    """
    M = as_float_array(M, "M", ndim=(1, 2))
    M2 = M.reshape(1, -1) if M.ndim == 1 else M
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if mean is None:
        mean, std = M2.mean(axis=0), M2.std(axis=0)
    else:
        mean = as_float_array(mean, "mean", ndim=1)
        std = as_float_array(std, "std", ndim=1)
        if mean.shape != (M2.shape[1],) or std.shape != (M2.shape[1],):
            raise ValueError(f"mean and std must have shape ({M2.shape[1]},), the number of "
                             f"columns of M, got {mean.shape} and {std.shape}")
        if np.any(std < 0):
            raise ValueError("std must be >= 0")
    safe = np.where(std > 0, std, 1.0)
    Z = np.where(std > 0, (M2 - mean) / safe, 0.0)
    return Z.reshape(M.shape), mean, std


def task_distances(M_target: ArrayLike, M_tasks: ArrayLike, p: float = 1.0) -> np.ndarray:
    """Minkowski distances between standardised meta-features, equations (11)-(12).

    Both inputs are z-scored with the mean and standard deviation of ``M_tasks`` (the tasks
    whose results are known), so the target does not influence the scale.

    Parameters
    ----------
    M_target : array_like of shape (F,) or (m, F)
        Raw meta-features of one target task, or of ``m`` of them.
    M_tasks : array_like of shape (T, F)
        Raw meta-features of the known tasks.
    p : float, default 1.0
        Order of the norm, ``p >= 1`` (1: L1 as in Feurer et al. 2015; 2: Euclidean).

    Returns
    -------
    ndarray of shape (T,) or (m, T)
        Distance of the target(s) to every known task.
    """
    M_tasks = as_float_array(M_tasks, "M_tasks", ndim=2)
    M_target = as_float_array(M_target, "M_target", ndim=(1, 2))
    if M_target.shape[-1] != M_tasks.shape[1]:
        raise ValueError(f"M_target has {M_target.shape[-1]} meta-features, M_tasks has "
                         f"{M_tasks.shape[1]}")
    p = check_number(p, "p", low=1, finite=False)  # p = inf: the maximum norm
    Z_tasks, mean, std = standardize(M_tasks)
    Z_target, _, _ = standardize(M_target, mean, std)
    diff = np.abs(np.atleast_2d(Z_target)[:, None, :] - Z_tasks[None, :, :])
    D = diff.max(axis=2) if math.isinf(p) else (diff**p).sum(axis=2) ** (1.0 / p)
    return D[0] if M_target.ndim == 1 else D


# ------------------------------------------------------------------------------ input checks
def _check_xy(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a finite (n, d) float array and ``y`` as n integer codes 0..K-1, K >= 2."""
    X = as_float_array(X, "X", ndim=2)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}")
    if y.size == 0:
        raise ValueError("y is empty")
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    if len(y) != X.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got X of shape {X.shape} "
                         f"and y of length {len(y)}")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"y must hold at least 2 classes, got only {classes.tolist()}")
    return X, codes.ravel()
