r"""Objectives to try optimisers on: four classic test functions with known minima, one real task.

Sources
-------
- L. C. W. Dixon and G. P. Szego, "The global optimisation problem: an introduction", in
  *Towards Global Optimisation 2*, North-Holland, 1978: the Branin and Hartmann functions.
- S. Surjanovic and D. Bingham, *Virtual Library of Simulation Experiments: Test Functions and
  Datasets*, Simon Fraser University, https://www.sfu.ca/~ssurjano/optimization.html:
  domains, constants and minima as used here.
- H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a
  function", *The Computer Journal* 3(3), 1960.
- D. H. Ackley, *A Connectionist Machine for Genetic Hillclimbing*, Kluwer, 1987.

Equations implemented
---------------------
(1) Branin on :math:`x_1 \in [-5, 10]`, :math:`x_2 \in [0, 15]`:

    .. math:: f(x) = a (x_2 - b x_1^2 + c x_1 - r)^2 + s (1 - t) \cos x_1 + s,

    :math:`a = 1, b = 5.1 / (4\pi^2), c = 5/\pi, r = 6, s = 10, t = 1/(8\pi)`. Three global
    minimisers :math:`(-\pi, 12.275), (\pi, 2.275), (9.42478, 2.475)`, :math:`f^\star = 0.397887`.
(2) Hartmann-6 on :math:`[0, 1]^6`:

    .. math:: f(x) = -\sum_{i=1}^4 \alpha_i \exp\Big(-\sum_{j=1}^6 A_{ij} (x_j - P_{ij})^2\Big),

    with :math:`\alpha, A, P` below; :math:`f^\star = -3.32237` at
    :math:`x^\star = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)`.
(3) Rosenbrock on :math:`[-5, 10]^d`:
    :math:`f(x) = \sum_{i=1}^{d-1} \big[100 (x_{i+1} - x_i^2)^2 + (x_i - 1)^2\big]`,
    :math:`f^\star = 0` at :math:`(1, \dots, 1)`: a curved, flat-bottomed valley.
(4) Ackley on :math:`[-32.768, 32.768]^d`:

    .. math:: f(x) = -a \exp\Big(-b \sqrt{\tfrac1d \textstyle\sum_i x_i^2}\Big)
              - \exp\Big(\tfrac1d \textstyle\sum_i \cos(c x_i)\Big) + a + e,

    :math:`a = 20, b = 0.2, c = 2\pi`; :math:`f^\star = 0` at the origin, with many local minima.
(5) ``svm_digits``: :math:`f(C, \gamma) = 1 - \frac1K \sum_{k=1}^K \mathrm{acc}_k(C, \gamma)`,
    the K-fold cross-validated error of an RBF support vector machine on handwritten digits,
    over :math:`C \in [10^{-2}, 10^3]` and :math:`\gamma \in [10^{-5}, 10^{-1}]`, both log-scaled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minnas._validation import check_int
from minnas.hpo.space import Real, Space

__all__ = ["Objective", "ackley", "branin", "hartmann6", "rosenbrock", "svm_digits"]


@dataclass(frozen=True)
class Objective:
    """A function to minimise over a search space, with its known minimum if there is one.

    Attributes
    ----------
    name : str
    space : Space
    func : callable
        Takes a dict ``{name: value}``, returns a float.
    minimum : float or None
        The global minimum value, ``None`` when unknown (a real tuning task).
    """

    name: str
    space: Space
    func: Callable[[dict], float]
    minimum: float | None

    def __call__(self, params: dict) -> float:
        # validate() catches a misspelt key or a value outside the domain before the
        # formula silently extrapolates.
        return float(self.func(self.space.validate(params)))


def _box(d: int, low: float, high: float) -> Space:
    """The space ``{x1: [low, high], ..., xd: [low, high]}``."""
    return Space({f"x{i + 1}": Real(low, high) for i in range(d)})


def _vector(params: dict) -> np.ndarray:
    """The values of ``{x1: .., x2: .., ...}`` as a vector, in key order (validated upstream)."""
    return np.array(list(params.values()), dtype=float)


# --------------------------------------------------------------------------------- Branin
def _branin(params: dict) -> float:
    x1, x2 = params["x1"], params["x2"]
    a, b, c = 1.0, 5.1 / (4 * np.pi**2), 5 / np.pi
    r, s, t = 6.0, 10.0, 1 / (8 * np.pi)
    return float(a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * np.cos(x1) + s)  # eq. (1)


def branin() -> Objective:
    """Branin (Branin-Hoo), equation (1): 2-D, three global minima of 0.397887."""
    space = Space({"x1": Real(-5.0, 10.0), "x2": Real(0.0, 15.0)})
    return Objective("branin", space, _branin, minimum=0.397887)


# ------------------------------------------------------------------------------ Hartmann-6
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([[10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
                  [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
                  [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
                  [17.0, 8.0, 0.05, 10.0, 0.1, 14.0]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                         [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650],
                         [4047, 8828, 8732, 5743, 1091, 381]])


def _hartmann6(params: dict) -> float:
    x = _vector(params)
    inner = np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)  # one term per row i of A and P
    return float(-_H6_ALPHA @ np.exp(-inner))  # eq. (2)


def hartmann6() -> Objective:
    """Hartmann-6, equation (2): 6-D on the unit cube, 4 local minima, global minimum -3.32237."""
    return Objective("hartmann6", _box(6, 0.0, 1.0), _hartmann6, minimum=-3.32237)


# ------------------------------------------------------------------------------ Rosenbrock
def _rosenbrock(params: dict) -> float:
    x = _vector(params)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1.0) ** 2))  # eq. (3)


def rosenbrock(d: int = 2) -> Objective:
    """Rosenbrock in ``d >= 2`` dimensions on [-5, 10]^d, equation (3); minimum 0 at (1, ..., 1)."""
    d = check_int(d, "d", low=2)
    return Objective(f"rosenbrock{d}", _box(d, -5.0, 10.0), _rosenbrock, minimum=0.0)


# --------------------------------------------------------------------------------- Ackley
def _ackley(params: dict) -> float:
    x = _vector(params)
    a, b, c = 20.0, 0.2, 2 * np.pi
    value = (-a * np.exp(-b * np.sqrt(np.mean(x**2))) - np.exp(np.mean(np.cos(c * x)))
             + a + np.e)  # eq. (4)
    return float(max(value, 0.0))  # at the origin the terms cancel to a rounding error


def ackley(d: int = 2) -> Objective:
    """Ackley in ``d >= 1`` dimensions on [-32.768, 32.768]^d, equation (4); minimum 0 at 0."""
    d = check_int(d, "d", low=1)
    return Objective(f"ackley{d}", _box(d, -32.768, 32.768), _ackley, minimum=0.0)


# ------------------------------------------------------------------------ a real task: SVM
def svm_digits(n_samples: int = 500, cv: int = 3, seed: int = 0) -> Objective:
    """Cross-validated error of an RBF SVM on a subsample of scikit-learn's digits, equation (5).

    The course's real tuning task: cheap (a few milliseconds per call), deterministic, and with
    the typical shape of an HPO landscape: a diagonal ridge of good (C, gamma) pairs, a flat
    plateau of chance-level error where gamma is too large, and slow change along log C.

    Parameters
    ----------
    n_samples : int, default 500
        Size of the stratified subsample of the 1797 digits (fixed by ``seed``), at least
        ``10 * cv`` so that each of the 10 classes can appear in each fold.
    cv : int, default 3
        Number of stratified, shuffled folds (fixed by ``seed``), at least 2.
    seed : int, default 0
        Fixes the subsample and the folds, so the objective is a deterministic function.

    Returns
    -------
    Objective
        Over ``{"C": Real(1e-2, 1e3, log=True), "gamma": Real(1e-5, 1e-1, log=True)}``,
        returning ``1 - mean accuracy`` in [0, 1]; ``minimum`` is None.
    """
    # sklearn is imported here, not at the top, so that `import minnas.hpo` stays light.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
    from sklearn.svm import SVC

    cv = check_int(cv, "cv", low=2)
    X, y = load_digits(return_X_y=True)  # 1797 images of 8x8 pixels with values 0..16, 10 classes
    # At least 10 * cv samples, so that each of the 10 classes can appear in each fold.
    n_samples = check_int(n_samples, "n_samples", low=10 * cv, high=len(y))
    if n_samples < len(y):  # a fixed subsample with the same class proportions as the full set
        X, _, y, _ = train_test_split(X, y, train_size=n_samples, stratify=y,
                                      random_state=seed)
    # Raw pixels (0..16), as in scikit-learn's digits examples: the gamma range then spans
    # "too smooth" (1e-5) through the best region (about 1e-3) to "memorises" (1e-1).
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)

    def error(params: dict) -> float:
        model = SVC(C=params["C"], gamma=params["gamma"])
        return float(1.0 - cross_val_score(model, X, y, cv=folds).mean())

    space = Space({"C": Real(1e-2, 1e3, log=True), "gamma": Real(1e-5, 1e-1, log=True)})
    return Objective(f"svm_digits(n_samples={n_samples}, cv={cv}, seed={seed})", space, error,
                     minimum=None)
