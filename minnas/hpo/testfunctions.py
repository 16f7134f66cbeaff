r"""Objectives to try optimisers on: classic test functions with known minima, and real tasks.

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
- M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global optimization
  problems", *Int. J. Math. Modelling and Numerical Optimisation* 4(2), 2013: the six-hump
  camel, Levy, Styblinski-Tang, Michalewicz, Dixon-Price, Griewank, Shekel, Goldstein-Price,
  Colville, Powell, Zakharov, Rastrigin and Beale functions.

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
(5) six-hump camel on :math:`x_1 \in [-3, 3]`, :math:`x_2 \in [-2, 2]`:
    :math:`f(x) = (4 - 2.1 x_1^2 + x_1^4/3) x_1^2 + x_1 x_2 + (4 x_2^2 - 4) x_2^2`,
    :math:`f^\star = -1.031628` at :math:`\pm(0.089842, -0.712656)`.
(6) Hartmann-3 on :math:`[0, 1]^3`: equation (2) with the 3-D constants below,
    :math:`f^\star = -3.862782` at :math:`(0.114614, 0.555649, 0.852547)`.
(7) Levy on :math:`[-10, 10]^d`, with :math:`w_i = 1 + (x_i - 1)/4`:

    .. math:: f(x) = \sin^2(\pi w_1) + \sum_{i=1}^{d-1} (w_i - 1)^2 \big[1 + 10
              \sin^2(\pi w_i + 1)\big] + (w_d - 1)^2 \big[1 + \sin^2(2\pi w_d)\big],

    :math:`f^\star = 0` at :math:`(1, \dots, 1)`.
(8) Styblinski-Tang on :math:`[-5, 5]^d`: :math:`f(x) = \tfrac12 \sum_i (x_i^4 - 16 x_i^2 +
    5 x_i)`, :math:`f^\star = -39.166166\,d` at :math:`x_i = -2.903534`.
(9) Michalewicz on :math:`[0, \pi]^d`: :math:`f(x) = -\sum_i \sin(x_i) \sin^{2m}(i x_i^2/\pi)`,
    :math:`m = 10`: steep ridges and valleys; :math:`f^\star = -1.801303` (d = 2),
    :math:`-4.687658` (d = 5), :math:`-9.660152` (d = 10).
(10) Dixon-Price on :math:`[-10, 10]^d`: :math:`f(x) = (x_1 - 1)^2 + \sum_{i=2}^d i\,(2x_i^2 -
     x_{i-1})^2`, :math:`f^\star = 0` at :math:`x_i = 2^{-(2^i - 2)/2^i}`.
(11) Griewank on :math:`[-600, 600]^d`: :math:`f(x) = \sum_i x_i^2/4000 - \prod_i
     \cos(x_i/\sqrt i) + 1`, :math:`f^\star = 0` at the origin.
(12) ``svm_digits``: :math:`f(C, \gamma) = 1 - \frac1K \sum_{k=1}^K \mathrm{acc}_k(C, \gamma)`,
    the K-fold cross-validated error of an RBF support vector machine on handwritten digits,
    over :math:`C \in [10^{-2}, 10^3]` and :math:`\gamma \in [10^{-5}, 10^{-1}]`, both log-scaled.
(13) Shekel-5 on :math:`[0, 10]^4`: :math:`f(x) = -\sum_{i=1}^{5} \big(\sum_j (x_j - C_{ji})^2
     + \beta_i\big)^{-1}`, :math:`f^\star = -10.1532` at :math:`(4, 4, 4, 4)`.
(14) Goldstein-Price on :math:`[-2, 2]^2`, a product of two quadratic forms of degree 4:
     :math:`f^\star = 3` at :math:`(0, -1)`; its values span five orders of magnitude.
(15) Colville on :math:`[-10, 10]^4`: :math:`100(x_1^2 - x_2)^2 + (x_1 - 1)^2 + (x_3 - 1)^2 +
     90(x_3^2 - x_4)^2 + 10.1((x_2 - 1)^2 + (x_4 - 1)^2) + 19.8(x_2 - 1)(x_4 - 1)`,
     :math:`f^\star = 0` at :math:`(1, 1, 1, 1)`.
(16) Powell on :math:`[-4, 5]^d` (d a multiple of 4): per block of four,
     :math:`(x_1 + 10x_2)^2 + 5(x_3 - x_4)^2 + (x_2 - 2x_3)^4 + 10(x_1 - x_4)^4`;
     :math:`f^\star = 0` at the origin.
(17) Zakharov on :math:`[-5, 10]^d`: :math:`\sum_i x_i^2 + s^2 + s^4`,
     :math:`s = \sum_i i x_i / 2`; :math:`f^\star = 0` at the origin.
(18) Rastrigin on :math:`[-5.12, 5.12]^d`: :math:`10d + \sum_i (x_i^2 - 10\cos 2\pi x_i)`,
     :math:`f^\star = 0` at the origin, a regular grid of local minima.
(19) Beale on :math:`[-4.5, 4.5]^2`: :math:`(1.5 - x_1 + x_1x_2)^2 + (2.25 - x_1 + x_1x_2^2)^2
     + (2.625 - x_1 + x_1x_2^3)^2`, :math:`f^\star = 0` at :math:`(3, 0.5)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minnas._validation import check_int, check_number
from minnas.hpo.space import Categorical, Integer, Real, Space

__all__ = ["Objective", "ackley", "beale", "branin", "camel", "colville", "dixon_price",
           "goldstein_price", "griewank", "hartmann3", "hartmann6", "levy", "michalewicz", "noisy",
           "powell", "rastrigin", "rosenbrock", "shekel5", "styblinski_tang", "svm_cancer_mixed",
           "svm_digits", "svm_digits_mixed", "zakharov"]


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


# -------------------------------------------------------------------------- six-hump camel
def _camel(params: dict) -> float:
    x1, x2 = params["x1"], params["x2"]
    return float((4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (4 * x2**2 - 4) * x2**2)


def camel() -> Objective:
    """The six-hump camel, equation (5): 2-D, six local minima, two global of -1.031628."""
    space = Space({"x1": Real(-3.0, 3.0), "x2": Real(-2.0, 2.0)})
    return Objective("camel", space, _camel, minimum=-1.0316284535)


# ------------------------------------------------------------------------------ Hartmann-3
_H3_A = np.array([[3.0, 10.0, 30.0], [0.1, 10.0, 35.0], [3.0, 10.0, 30.0], [0.1, 10.0, 35.0]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470],
                         [1091, 8732, 5547], [381, 5743, 8828]])


def _hartmann3(params: dict) -> float:
    x = _vector(params)
    return float(-_H6_ALPHA @ np.exp(-np.sum(_H3_A * (x - _H3_P) ** 2, axis=1)))  # eq. (6)


def hartmann3() -> Objective:
    """Hartmann-3, equation (6): 3-D on the unit cube, global minimum -3.862782."""
    return Objective("hartmann3", _box(3, 0.0, 1.0), _hartmann3, minimum=-3.8627821478)


# ----------------------------------------------------------------------------------- Levy
def _levy(params: dict) -> float:
    w = 1 + (_vector(params) - 1) / 4
    head = np.sin(np.pi * w[0]) ** 2
    body = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(head + body + tail)  # eq. (7)


def levy(d: int = 4) -> Objective:
    """Levy in ``d >= 2`` dimensions on [-10, 10]^d, equation (7); minimum 0 at (1, ..., 1)."""
    d = check_int(d, "d", low=2)
    return Objective(f"levy{d}", _box(d, -10.0, 10.0), _levy, minimum=0.0)


# ------------------------------------------------------------------------ Styblinski-Tang
_ST_ARGMIN = -2.903534027771177  # the root of 4x^3 - 32x + 5 = 0 in [-5, 0]


def _styblinski_tang(params: dict) -> float:
    x = _vector(params)
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))  # eq. (8)


def styblinski_tang(d: int = 4) -> Objective:
    """Styblinski-Tang in ``d >= 1`` dimensions on [-5, 5]^d, equation (8): 2^d local minima."""
    d = check_int(d, "d", low=1)
    minimum = d * 0.5 * (_ST_ARGMIN**4 - 16 * _ST_ARGMIN**2 + 5 * _ST_ARGMIN)
    return Objective(f"styblinski_tang{d}", _box(d, -5.0, 5.0), _styblinski_tang, minimum)


# ----------------------------------------------------------------------------- Michalewicz
_MICHALEWICZ_MINIMA = {2: -1.8013034101, 5: -4.687658179, 10: -9.660152}


def _michalewicz(params: dict) -> float:
    x = _vector(params)
    i = np.arange(1, len(x) + 1)
    return float(-np.sum(np.sin(x) * np.sin(i * x**2 / np.pi) ** 20))  # eq. (9), m = 10


def michalewicz(d: int = 5) -> Objective:
    """Michalewicz (m = 10) on [0, pi]^d, equation (9), for ``d`` in {2, 5, 10}.

    Only those dimensions have a published global minimum (no closed form exists).
    """
    d = check_int(d, "d", low=2)
    if d not in _MICHALEWICZ_MINIMA:
        raise ValueError(f"d must be one of {sorted(_MICHALEWICZ_MINIMA)} (the dimensions with a "
                         f"known minimum), got {d}")
    return Objective(f"michalewicz{d}", _box(d, 0.0, np.pi), _michalewicz,
                     minimum=_MICHALEWICZ_MINIMA[d])


# ----------------------------------------------------------------------------- Dixon-Price
def _dixon_price(params: dict) -> float:
    x = _vector(params)
    i = np.arange(2, len(x) + 1)
    return float((x[0] - 1) ** 2 + np.sum(i * (2 * x[1:] ** 2 - x[:-1]) ** 2))  # eq. (10)


def dixon_price(d: int = 4) -> Objective:
    """Dixon-Price in ``d >= 2`` dimensions on [-10, 10]^d, equation (10); minimum 0."""
    d = check_int(d, "d", low=2)
    return Objective(f"dixon_price{d}", _box(d, -10.0, 10.0), _dixon_price, minimum=0.0)


# -------------------------------------------------------------------------------- Griewank
def _griewank(params: dict) -> float:
    x = _vector(params)
    i = np.arange(1, len(x) + 1)
    return float(np.sum(x**2) / 4000 - np.prod(np.cos(x / np.sqrt(i))) + 1)  # eq. (11)


def griewank(d: int = 4) -> Objective:
    """Griewank in ``d >= 1`` dimensions on [-600, 600]^d, equation (11); minimum 0 at 0.

    A wide bowl covered in small ripples: the bowl is easy, the ripples are noise-like.
    """
    d = check_int(d, "d", low=1)
    return Objective(f"griewank{d}", _box(d, -600.0, 600.0), _griewank, minimum=0.0)


# ------------------------------------------------------------------------------- Shekel-5
_SHEKEL_BETA = 0.1 * np.array([1.0, 2.0, 2.0, 4.0, 4.0])
_SHEKEL_C = np.array([[4.0, 1.0, 8.0, 6.0, 3.0], [4.0, 1.0, 8.0, 6.0, 7.0],
                      [4.0, 1.0, 8.0, 6.0, 3.0], [4.0, 1.0, 8.0, 6.0, 7.0]])


def _shekel5(params: dict) -> float:
    x = _vector(params)
    return float(-np.sum(1.0 / (np.sum((x[:, None] - _SHEKEL_C) ** 2, axis=0)
                                + _SHEKEL_BETA)))  # eq. (13)


def shekel5() -> Objective:
    """Shekel with m = 5 on [0, 10]^4, equation (13): five narrow wells, global minimum -10.1532."""
    return Objective("shekel5", _box(4, 0.0, 10.0), _shekel5, minimum=-10.1531997)


# ------------------------------------------------------------------------- Goldstein-Price
def _goldstein_price(params: dict) -> float:
    x1, x2 = params["x1"], params["x2"]
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1**2 - 14 * x2 + 6 * x1 * x2 + 3 * x2**2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1**2 + 48 * x2 - 36 * x1 * x2
                                       + 27 * x2**2)
    return float(a * b)  # eq. (14)


def goldstein_price() -> Objective:
    """Goldstein-Price on [-2, 2]^2, equation (14); minimum 3 at (0, -1)."""
    return Objective("goldstein_price", _box(2, -2.0, 2.0), _goldstein_price, minimum=3.0)


# -------------------------------------------------------------------------------- Colville
def _colville(params: dict) -> float:
    x1, x2, x3, x4 = _vector(params)
    return float(100 * (x1**2 - x2) ** 2 + (x1 - 1) ** 2 + (x3 - 1) ** 2 + 90 * (x3**2 - x4) ** 2
                 + 10.1 * ((x2 - 1) ** 2 + (x4 - 1) ** 2) + 19.8 * (x2 - 1) * (x4 - 1))  # (15)


def colville() -> Objective:
    """Colville on [-10, 10]^4, equation (15); minimum 0 at (1, 1, 1, 1)."""
    return Objective("colville", _box(4, -10.0, 10.0), _colville, minimum=0.0)


# ---------------------------------------------------------------------------------- Powell
def _powell(params: dict) -> float:
    x1, x2, x3, x4 = _vector(params).reshape(-1, 4).T  # one row per block of four
    return float(np.sum((x1 + 10 * x2) ** 2 + 5 * (x3 - x4) ** 2 + (x2 - 2 * x3) ** 4
                        + 10 * (x1 - x4) ** 4))  # eq. (16)


def powell(d: int = 4) -> Objective:
    """Powell on [-4, 5]^d, ``d`` a multiple of 4, equation (16); minimum 0 at the origin."""
    d = check_int(d, "d", low=4)
    if d % 4:
        raise ValueError(f"d must be a multiple of 4, got {d}")
    return Objective(f"powell{d}", _box(d, -4.0, 5.0), _powell, minimum=0.0)


# -------------------------------------------------------------------------------- Zakharov
def _zakharov(params: dict) -> float:
    x = _vector(params)
    s = np.sum(0.5 * np.arange(1, len(x) + 1) * x)
    return float(np.sum(x**2) + s**2 + s**4)  # eq. (17)


def zakharov(d: int = 5) -> Objective:
    """Zakharov on [-5, 10]^d, equation (17); minimum 0 at the origin."""
    d = check_int(d, "d", low=1)
    return Objective(f"zakharov{d}", _box(d, -5.0, 10.0), _zakharov, minimum=0.0)


# ------------------------------------------------------------------------------- Rastrigin
def _rastrigin(params: dict) -> float:
    x = _vector(params)
    return float(10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))  # eq. (18)


def rastrigin(d: int = 3) -> Objective:
    """Rastrigin on [-5.12, 5.12]^d, equation (18); minimum 0 at the origin."""
    d = check_int(d, "d", low=1)
    return Objective(f"rastrigin{d}", _box(d, -5.12, 5.12), _rastrigin, minimum=0.0)


# ----------------------------------------------------------------------------------- Beale
def _beale(params: dict) -> float:
    x1, x2 = params["x1"], params["x2"]
    return float((1.5 - x1 + x1 * x2) ** 2 + (2.25 - x1 + x1 * x2**2) ** 2
                 + (2.625 - x1 + x1 * x2**3) ** 2)  # eq. (19)


def beale() -> Objective:
    """Beale on [-4.5, 4.5]^2, equation (19); minimum 0 at (3, 0.5)."""
    return Objective("beale", _box(2, -4.5, 4.5), _beale, minimum=0.0)


# ------------------------------------------------------------------------ a real task: SVM
def svm_digits(n_samples: int = 500, cv: int = 3, seed: int = 0) -> Objective:
    """Cross-validated error of an RBF SVM on a subsample of scikit-learn's digits, equation (12).

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
    from sklearn.svm import SVC  # imported here so that `import minnas.hpo` stays light

    X, y, folds = _digits_subsample(n_samples, cv, seed)

    def error(params: dict) -> float:
        return _cv_error(SVC(C=params["C"], gamma=params["gamma"]), X, y, folds)

    space = Space({"C": Real(1e-2, 1e3, log=True), "gamma": Real(1e-5, 1e-1, log=True)})
    return Objective(f"svm_digits(n_samples={n_samples}, cv={cv}, seed={seed})", space, error,
                     minimum=None)


def _digits_subsample(n_samples: int, cv: int, seed: int):
    """A stratified subsample of scikit-learn's digits and shuffled stratified folds (by seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, train_test_split

    cv = check_int(cv, "cv", low=2)
    X, y = load_digits(return_X_y=True)  # 1797 images of 8x8 pixels with values 0..16, 10 classes
    # At least 10 * cv samples, so that each of the 10 classes can appear in each fold.
    n_samples = check_int(n_samples, "n_samples", low=10 * cv, high=len(y))
    if n_samples < len(y):  # a fixed subsample with the same class proportions as the full set
        X, _, y, _ = train_test_split(X, y, train_size=n_samples, stratify=y,
                                      random_state=seed)
    # Raw pixels (0..16), as in scikit-learn's digits examples: the gamma range then spans
    # "too smooth" (1e-5) through the best region (about 1e-3) to "memorises" (1e-1).
    return X, y, StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)


def _cv_error(model, X: np.ndarray, y: np.ndarray, folds) -> float:
    """``1 - `` the mean cross-validated accuracy of ``model``."""
    from sklearn.model_selection import cross_val_score

    return float(1.0 - cross_val_score(model, X, y, cv=folds).mean())


def svm_digits_mixed(n_samples: int = 500, cv: int = 3, seed: int = 0) -> Objective:
    """:func:`svm_digits` over a mixed space: the kernel is categorical, the degree an integer.

    The same subsample and folds as :func:`svm_digits` (same arguments), over
    the space ``{"kernel": Categorical(["rbf", "poly", "sigmoid"]),
    "degree": Integer(2, 5), "C": Real(1e-2, 1e3, log=True), "gamma": Real(1e-5, 1e-1,
    log=True)}``; ``degree`` only matters for the polynomial kernel, as in a real search space
    with a conditional hyperparameter. ``minimum`` is None.
    """
    from sklearn.svm import SVC

    X, y, folds = _digits_subsample(n_samples, cv, seed)
    return _mixed_svm(f"svm_digits_mixed(n_samples={n_samples}, cv={cv}, seed={seed})",
                      lambda params: SVC(**params), X, y, folds)


def svm_cancer_mixed(cv: int = 3, seed: int = 0) -> Objective:
    """The mixed SVM space of :func:`svm_digits_mixed` on scikit-learn's breast-cancer data.

    569 tumours, 30 features on very different scales, standardised inside each training fold
    (a pipeline); ``cv`` shuffled stratified folds fixed by ``seed``. ``minimum`` is None.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    folds = StratifiedKFold(n_splits=check_int(cv, "cv", low=2), shuffle=True, random_state=seed)
    return _mixed_svm(f"svm_cancer_mixed(cv={cv}, seed={seed})",
                      lambda params: make_pipeline(StandardScaler(), SVC(**params)), X, y, folds)


def _mixed_svm(name: str, model, X: np.ndarray, y: np.ndarray, folds) -> Objective:
    """The cross-validated error of ``model(params)`` over the mixed SVM space."""
    space = Space({"kernel": Categorical(["rbf", "poly", "sigmoid"]), "degree": Integer(2, 5),
                   "C": Real(1e-2, 1e3, log=True), "gamma": Real(1e-5, 1e-1, log=True)})

    def error(params: dict) -> float:
        return _cv_error(model(params), X, y, folds)

    return Objective(name, space, error, minimum=None)


# ------------------------------------------------------------------------------- noise
def noisy(objective: Objective, sd: float, seed: int = 0) -> Objective:
    r"""``objective`` observed with Gaussian noise: each call returns :math:`f(x) + \varepsilon`.

    :math:`\varepsilon \sim \mathcal N(0, \mathrm{sd}^2)` drawn from a generator seeded once, so
    the same sequence of calls gives the same values. ``minimum`` is that of the noise-free
    function: judge an optimiser by ``objective(x)`` at the points it chose, not by the noisy
    values it saw.
    """
    sd = check_number(sd, "sd", low=0)
    rng = np.random.default_rng(check_int(seed, "seed", low=0))

    def observed(params: dict) -> float:
        return objective.func(params) + sd * float(rng.standard_normal())

    return Objective(f"{objective.name}+noise({sd:g})", objective.space, observed,
                     objective.minimum)
