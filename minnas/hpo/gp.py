r"""Gaussian-process regression: ARD kernels, the Cholesky posterior, type-II maximum likelihood.

Sources
-------
- C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine Learning* (GPML),
  MIT Press, 2006: algorithm 2.1 (prediction through a Cholesky factor), eqs. 2.19-2.25
  (the predictive distribution), eq. 2.30 (log marginal likelihood), eqs. 5.8-5.9 (its
  gradient), eq. 4.9 (squared exponential) and eq. 4.17 (Matern with :math:`\nu = 5/2`),
  section 5.1 (automatic relevance determination, one lengthscale per input).
- J. Snoek, H. Larochelle and R. P. Adams, "Practical Bayesian optimization of machine learning
  algorithms", NeurIPS 2012: the ARD Matern-5/2 kernel as the default for optimisation.

Model
-----
A GP prior :math:`f \sim \mathcal{GP}(0, k)` and noisy targets :math:`y_i = f(x_i) +
\varepsilon_i`, :math:`\varepsilon_i \sim \mathcal{N}(0, \sigma_n^2)`. With
``normalize_y=True`` the model is fitted to :math:`(y - m)/s_y` (:math:`s_y` the standard
deviation of the targets, :math:`m` a constant prior mean, by default their mean) and its
predictions are mapped back, so the default hyperparameters and their bounds mean the same
thing for any scale of :math:`y`.

Kernels, with the ARD scaled distance :math:`r^2 = \sum_k (x_k - x'_k)^2 / \ell_k^2`:

(1) squared exponential (GPML eq. 4.9): :math:`k(x, x') = \sigma_f^2 \exp(-r^2/2)`;
(2) Matern 5/2 (GPML eq. 4.17): :math:`k(x, x') = \sigma_f^2 (1 + \sqrt5 r + \tfrac53 r^2)
    \exp(-\sqrt5 r)`.

Both are :math:`\sigma_f^2 g(r^2)` for a profile :math:`g`; everything below only needs
:math:`g` and its derivative :math:`g'(\rho)` with respect to :math:`\rho = r^2`
(:math:`g' = -\tfrac12 e^{-\rho/2}` and :math:`g' = -\tfrac56 (1 + \sqrt5 r) e^{-\sqrt5 r}`),
which is smooth at :math:`r = 0` for both kernels.

Posterior (GPML algorithm 2.1), with :math:`K = k(X, X) + \sigma_n^2 I`:

(3) :math:`L = \operatorname{cholesky}(K)`, :math:`\alpha = L^{-\top} L^{-1} y`;
(4) mean :math:`\bar f_* = k_*^\top \alpha` (eq. 2.25);
(5) :math:`v = L^{-1} k_*`, covariance :math:`\operatorname{cov}(f_*) = k(X_*, X_*) - v^\top v`
    (eq. 2.26); these are the noise-free latent values :math:`f_*`, not new noisy :math:`y_*`.

Hyperparameters :math:`\theta = (\log\ell_1, \dots, \log\ell_d, \log\sigma_f^2,
\log\sigma_n^2)` are chosen by maximising

(6) :math:`\log p(y \mid X, \theta) = -\tfrac12 y^\top \alpha - \sum_i \log L_{ii}
    - \tfrac n2 \log 2\pi` (GPML eq. 2.30, with :math:`\tfrac12\log|K| = \sum_i \log L_{ii}`),

whose gradient is

(7) :math:`\partial_{\theta_j} \log p = \tfrac12 \operatorname{tr}\big((\alpha\alpha^\top -
    K^{-1})\, \partial K / \partial\theta_j\big)` (GPML eq. 5.9), with
    :math:`\partial K/\partial\log\ell_k = -2\sigma_f^2 g'(\rho)\,(x_k - x'_k)^2/\ell_k^2`,
    :math:`\partial K/\partial\log\sigma_f^2 = \sigma_f^2 g(\rho)` and
    :math:`\partial K/\partial\log\sigma_n^2 = \sigma_n^2 I`.

Working with logarithms keeps every parameter positive and makes the optimisation scale-free.
:meth:`GaussianProcess.fit` maximises (6) plus a weak log-normal prior on the lengthscales
(MAP-II rather than ML-II; ``prior=False`` turns it off). With few points the likelihood is
often flat or maximal at an extreme lengthscale: a lengthscale of :math:`10^{-2}` turns the GP
into spikes at the data, one of :math:`10^2` into a constant. The prior,
:math:`\log\ell_k \sim \mathcal N(\log 0.5, 1.5^2)` for inputs in the unit cube, costs little
where the data speak and keeps the model sensible where they do not (Snoek et al. 2012
integrate over hyperparameters for the same reason; a prior is the cheap version).

Numerical care: the Cholesky factorisation gets an adaptive jitter when :math:`K` is
numerically singular (duplicated inputs, very long lengthscales, tiny noise), see
:func:`cholesky_with_jitter`; L-BFGS-B runs in log space within bounds, from the current
hyperparameters and ``n_restarts`` seeded random starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize as _scipy_minimize
from scipy.spatial.distance import cdist

from minnas._validation import as_float_array, check_choice, check_int, check_number

__all__ = ["GaussianProcess", "cholesky_with_jitter", "matern52", "rbf"]

_SQRT5 = np.sqrt(5.0)
_LOG_2PI = np.log(2.0 * np.pi)

# Bounds for fitting, in the units the model sees: inputs in the unit cube, targets with unit
# variance (normalize_y=True; with normalize_y=False the variance and noise bounds are
# multiplied by the variance of y). The noise floor of 1e-6 (a noise sd of 0.1% of that of y)
# keeps K well conditioned; below it the likelihood hardly changes and jitter takes over.
LENGTHSCALE_BOUNDS = (1e-2, 1e2)
VARIANCE_BOUNDS = (1e-2, 1e2)
NOISE_BOUNDS = (1e-6, 1e-1)
# The weak prior on log lengthscales (see the module docstring): mean log(0.5), sd 1.5.
LENGTHSCALE_PRIOR = (np.log(0.5), 1.5)


# ---------------------------------------------------------------------------------- kernels
def _rbf_profile(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared-exponential profile ``g(rho) = exp(-rho/2)`` and ``g'(rho)``, eq. (1)."""
    g = np.exp(-0.5 * rho)
    return g, -0.5 * g


def _matern52_profile(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern-5/2 profile ``g = (1 + sqrt5 r + 5 r^2/3) exp(-sqrt5 r)`` and ``g'(rho)``, eq. (2)."""
    s = _SQRT5 * np.sqrt(rho)
    e = np.exp(-s)
    # dg/drho = (dg/dr) / (2r) = -(5/6)(1 + sqrt5 r) exp(-sqrt5 r): no 1/r, smooth at r = 0.
    return (1.0 + s + s * s / 3.0) * e, -(5.0 / 6.0) * (1.0 + s) * e


_PROFILES: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "matern52": _matern52_profile,
    "rbf": _rbf_profile,
}
KERNELS = tuple(_PROFILES)  # the names GaussianProcess(kernel=...) accepts


def _scaled_sqdist(X1: np.ndarray, X2: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """The ARD squared distance :math:`r^2 = \\sum_k (x_k - x'_k)^2 / \\ell_k^2` for all pairs."""
    return cdist(X1 / ell, X2 / ell, metric="sqeuclidean")


def _kernel(name: str, X1: ArrayLike, X2: ArrayLike | None, lengthscales: ArrayLike,
            variance: float) -> np.ndarray:
    X1, X2, ell = _check_pair(X1, X2, lengthscales)
    variance = check_number(variance, "variance", low=0, strict=True)
    return variance * _PROFILES[name](_scaled_sqdist(X1, X2, ell))[0]


def rbf(X1: ArrayLike, X2: ArrayLike | None, lengthscales: ArrayLike,
        variance: float = 1.0) -> np.ndarray:
    r"""ARD squared-exponential kernel :math:`\sigma_f^2 \exp(-r^2/2)`, eq. (1) (GPML eq. 4.9).

    Parameters
    ----------
    X1 : array_like, shape (n1, d)
    X2 : array_like, shape (n2, d), or None for ``X1`` itself
    lengthscales : float or array_like, shape (d,)
        :math:`\ell_k > 0`; a scalar is used for every input (isotropic kernel).
    variance : float, default 1.0
        Signal variance :math:`\sigma_f^2 > 0`.

    Returns
    -------
    K : ndarray, shape (n1, n2)
    """
    return _kernel("rbf", X1, X2, lengthscales, variance)


def matern52(X1: ArrayLike, X2: ArrayLike | None, lengthscales: ArrayLike,
             variance: float = 1.0) -> np.ndarray:
    r"""ARD Matern-5/2 kernel :math:`\sigma_f^2 (1 + \sqrt5 r + \tfrac53 r^2) e^{-\sqrt5 r}`, (2).

    GPML eq. 4.17. Its sample paths are twice differentiable, rougher than the squared
    exponential's (infinitely differentiable) ones, which suits objectives of real problems
    (Snoek et al. 2012). Parameters and return value as in :func:`rbf`.
    """
    return _kernel("matern52", X1, X2, lengthscales, variance)


# ------------------------------------------------------------------------------- Cholesky
def cholesky_with_jitter(K: ArrayLike, max_tries: int = 6) -> tuple[np.ndarray, float]:
    r"""Lower Cholesky factor of a symmetric PSD matrix, adding jitter to the diagonal if needed.

    A kernel matrix is positive definite in exact arithmetic (for distinct inputs and
    :math:`\sigma_n > 0`) but can be numerically singular: duplicated inputs give equal rows,
    long lengthscales give eigenvalues below rounding. Then :math:`K + \epsilon I` is factored
    instead, with :math:`\epsilon = 10^{-10}\,\overline{\operatorname{diag} K} \cdot 10^k`,
    :math:`k = 0, 1, \dots, \text{max\_tries} - 1`: the smallest such jitter that works. It acts
    as a little extra noise variance.

    Parameters
    ----------
    K : array_like, shape (n, n)
        Symmetric matrix.
    max_tries : int, default 6
        How many jitter levels to try after the plain factorisation fails.

    Returns
    -------
    L : ndarray, shape (n, n)
        Lower triangular, :math:`L L^\top = K + \epsilon I`.
    jitter : float
        The :math:`\epsilon` used (0.0 when none was needed).

    Raises
    ------
    ValueError
        If ``K`` is not square, or is not positive definite even with the largest jitter.
    """
    K = as_float_array(K, "K", ndim=2)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be square, got shape {K.shape}")
    try:
        return np.linalg.cholesky(K), 0.0
    except np.linalg.LinAlgError:
        pass
    scale = float(np.mean(np.diag(K)))
    if not scale > 0:
        raise ValueError("K has a non-positive mean diagonal, so it is not a covariance matrix")
    jitter = 0.0
    for k in range(max_tries):
        jitter = 1e-10 * scale * 10.0 ** k
        try:
            return np.linalg.cholesky(K + jitter * np.eye(K.shape[0])), jitter
        except np.linalg.LinAlgError:
            continue
    raise ValueError(f"K is not positive definite, even after adding {jitter:.1e} to its diagonal "
                     f"({max_tries} tries); check for a negative variance or a non-PSD kernel")


# ----------------------------------------------------------------------- the GP regressor
class GaussianProcess:
    r"""Gaussian-process regressor with an ARD kernel and type-II (MAP) hyperparameter fitting.

    Parameters
    ----------
    kernel : {"matern52", "rbf"}, default "matern52"
        The covariance function, eq. (2) or (1).
    lengthscales : float or array_like of shape (d,), optional
        Initial (or, with ``optimize=False``, fixed) lengthscales; default 0.5 per input, a
        middle value for inputs in the unit cube.
    variance : float, default 1.0
        Initial or fixed signal variance :math:`\sigma_f^2` (of the normalised targets when
        ``normalize_y=True``).
    noise : float, default 1e-6
        Initial or fixed noise variance :math:`\sigma_n^2`, in the same units.
    normalize_y : bool, default True
        Standardise the targets before fitting: :math:`(y - m)/s_y`, with :math:`m` the prior
        mean below and :math:`s_y` the standard deviation of ``y``. With ``False`` the prior
        mean is 0 and ``y`` is used as it is.
    prior_mean : {"mean", "max"} or float, default "mean"
        The constant prior mean :math:`m` (used when ``normalize_y``), the value the posterior
        returns to far from the data: the sample mean of ``y`` (as scikit-learn's
        ``normalize_y``), its maximum, or a given number. For minimisation, "max" is the
        pessimistic choice: unexplored regions are assumed as bad as the worst point seen,
        which curbs the over-exploration of the boundary that the sample mean (pulled down by
        the good points an optimiser collects) invites (De Ath, Fieldsend and Everson, "What do
        you mean? The role of the mean function in Bayesian optimisation", GECCO 2020).
    optimize : bool, default True
        Fit the hyperparameters by maximising the log marginal likelihood (plus the prior),
        eqs. (6)-(7); otherwise keep the given ones.
    n_restarts : int, default 5
        Extra L-BFGS-B runs from random starts, after the one from the given hyperparameters.
    seed : int or numpy.random.Generator, optional
        Seeds the random restarts: the same seed gives the same fit.
    prior : bool, default True
        Add the weak log-normal prior on the lengthscales to the objective of :meth:`fit`.
        :meth:`log_marginal_likelihood` is always the plain likelihood (6).

    Attributes (after :meth:`fit`)
    ------------------------------
    lengthscales_, variance_, noise_ : the fitted hyperparameters (normalised units).
    theta_ : ndarray, the same as the log-parameter vector :math:`\theta` of eq. (6).
    X_train_, y_train_ : the training inputs and the (normalised) targets the model fits.
    y_mean_, y_std_ : the normalisation, :math:`m` and :math:`s_y` (0 and 1 when
        ``normalize_y=False``).
    L_, alpha_, jitter_ : the Cholesky factor, :math:`\alpha` of eq. (3), the jitter used.
    log_marginal_likelihood_value_ : eq. (6) at ``theta_``.
    """

    def __init__(self, kernel: str = "matern52", lengthscales: ArrayLike | None = None,
                 variance: float = 1.0, noise: float = 1e-6, normalize_y: bool = True,
                 optimize: bool = True, n_restarts: int = 5,
                 seed: int | np.random.Generator | None = None, prior: bool = True,
                 prior_mean: str | float = "mean") -> None:
        self.kernel = check_choice(kernel, "kernel", KERNELS)
        self.lengthscales = (None if lengthscales is None
                             else np.atleast_1d(_check_lengthscales(lengthscales)))
        self.variance = check_number(variance, "variance", low=0, strict=True)
        self.noise = check_number(noise, "noise", low=0)
        self.normalize_y = bool(normalize_y)
        self.optimize = bool(optimize)
        self.n_restarts = check_int(n_restarts, "n_restarts", low=0)
        self.seed = seed
        self.prior = bool(prior)
        self.prior_mean = _check_prior_mean(prior_mean)
        self._profile = _PROFILES[self.kernel]

    def __repr__(self) -> str:
        fitted = ""
        if hasattr(self, "theta_"):
            fitted = (f", fitted on {len(self.y_train_)} points: lengthscales="
                      f"{np.array2string(self.lengthscales_, precision=3)}, "
                      f"variance={self.variance_:.3g}, noise={self.noise_:.3g}")
        return f"GaussianProcess(kernel={self.kernel!r}{fitted})"

    # ------------------------------------------------------------------- parameters
    def _initial_theta(self, d: int) -> np.ndarray:
        ell = np.full(d, 0.5) if self.lengthscales is None else self.lengthscales
        if ell.size == 1:
            ell = np.full(d, float(ell[0]))
        if ell.shape != (d,):
            raise ValueError(f"lengthscales has {ell.size} entries but X has {d} columns")
        return np.log(np.concatenate([ell, [self.variance, max(self.noise, 1e-300)]]))

    @staticmethod
    def _unpack(theta: np.ndarray) -> tuple[np.ndarray, float, float]:
        """:math:`\\theta \\mapsto (\\ell, \\sigma_f^2, \\sigma_n^2)`."""
        p = np.exp(theta)
        return p[:-2], float(p[-2]), float(p[-1])

    def _bounds(self, d: int) -> np.ndarray:
        """Bounds on :math:`\\theta` for L-BFGS-B, scaled to the variance of the fitted targets."""
        scale = 1.0 if self.normalize_y else max(float(np.var(self.y_train_)), 1e-300)
        lo = [LENGTHSCALE_BOUNDS[0]] * d + [VARIANCE_BOUNDS[0] * scale, NOISE_BOUNDS[0] * scale]
        hi = [LENGTHSCALE_BOUNDS[1]] * d + [VARIANCE_BOUNDS[1] * scale, NOISE_BOUNDS[1] * scale]
        return np.log(np.column_stack([lo, hi]))

    # ------------------------------------------------------- the likelihood, eqs. (6)-(7)
    def _lml(self, theta: np.ndarray,
             eval_gradient: bool = False) -> tuple[float, np.ndarray | None, tuple]:
        """Eq. (6) at ``theta``, its gradient (7) if asked, and ``(L, jitter, alpha)`` of (3)."""
        X, y = self.X_train_, self.y_train_
        n = len(y)
        ell, var, noise = self._unpack(theta)
        rho = _scaled_sqdist(X, X, ell)
        g, dg = self._profile(rho)
        Kf = var * g
        L, jitter = cholesky_with_jitter(Kf + noise * np.eye(n))
        alpha = cho_solve((L, True), y)  # eq. (3)
        lml = float(-0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * _LOG_2PI)  # eq. (6)
        if not eval_gradient:
            return lml, None, (L, jitter, alpha)
        # eq. (7): dlml/dtheta_j = 1/2 tr(W dK/dtheta_j) with W = alpha alpha^T - K^-1;
        # tr(W A) = sum(W * A) since both are symmetric.
        W = np.outer(alpha, alpha) - cho_solve((L, True), np.eye(n))
        sqdiff = (X[:, None, :] - X[None, :, :]) ** 2  # (n, n, d): (x_ik - x_jk)^2
        # dK/dlog l_k = -2 var g'(rho) (x_k - x'_k)^2 / l_k^2
        grad_ell = -np.einsum("ij,ijk->k", W * var * dg, sqdiff) / ell ** 2
        grad_var = 0.5 * np.sum(W * Kf)  # dK/dlog var = var g = Kf
        grad_noise = 0.5 * noise * np.trace(W)  # dK/dlog noise = noise I
        return lml, np.concatenate([grad_ell, [grad_var, grad_noise]]), (L, jitter, alpha)

    def _log_prior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weak Gaussian prior on the log lengthscales (module docstring) and its gradient."""
        grad = np.zeros_like(theta)
        if not self.prior:
            return 0.0, grad
        mu, sd = LENGTHSCALE_PRIOR
        z = (theta[:-2] - mu) / sd
        grad[:-2] = -z / sd
        return float(-0.5 * np.sum(z ** 2)), grad

    def log_marginal_likelihood(self, params: ArrayLike | None = None,
                                eval_gradient: bool = False) -> float | tuple[float, np.ndarray]:
        r"""Log marginal likelihood, eq. (6) (GPML eq. 2.30), and optionally its gradient, eq. (7).

        Parameters
        ----------
        params : array_like, shape (d + 2,), optional
            The log-parameter vector :math:`\theta = (\log\ell_1, \dots, \log\ell_d,
            \log\sigma_f^2, \log\sigma_n^2)`; default the fitted ``theta_``. (scikit-learn
            orders ``ConstantKernel * Matern + WhiteKernel`` as :math:`(\log\sigma_f^2,
            \log\ell, \log\sigma_n^2)`.)
        eval_gradient : bool, default False
            Also return :math:`\partial \log p / \partial\theta` (GPML eq. 5.9).

        Returns
        -------
        float, or (float, ndarray of shape (d + 2,))
            Computed on the targets the model fits (normalised ones with ``normalize_y``).
        """
        self._check_fitted()
        theta = self.theta_ if params is None else as_float_array(params, "params", ndim=1)
        if theta.shape != self.theta_.shape:
            raise ValueError(f"params must have shape {self.theta_.shape} (d lengthscales, "
                             f"variance, noise, all as logs), got {theta.shape}")
        lml, grad, _ = self._lml(theta, eval_gradient)
        return (lml, grad) if eval_gradient else lml

    # --------------------------------------------------------------------------- fit
    def fit(self, X: ArrayLike, y: ArrayLike) -> GaussianProcess:
        r"""Condition on data; first fit the hyperparameters unless ``optimize=False``.

        Maximises :math:`\log p(y \mid X, \theta) + \log p(\theta)` (eqs. 6-7 and the prior) with
        L-BFGS-B over :math:`\theta` within the bounds ``LENGTHSCALE_BOUNDS``,
        ``VARIANCE_BOUNDS``, ``NOISE_BOUNDS``, starting from the current hyperparameters and
        from ``n_restarts`` random points (seeded), and keeps the best.

        Parameters
        ----------
        X : array_like, shape (n, d)
            Inputs; the default bounds and prior assume they lie in the unit cube.
        y : array_like, shape (n,)
            Targets, finite.

        Returns
        -------
        self
        """
        X = as_float_array(X, "X", ndim=2)
        y = as_float_array(y, "y", ndim=1)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries; "
                             "they must match (one target per row of X)")
        self.X_train_ = X
        if self.normalize_y:
            self.y_mean_ = (float(np.mean(y)) if self.prior_mean == "mean" else
                            float(np.max(y)) if self.prior_mean == "max" else self.prior_mean)
            std = float(np.std(y))
            self.y_std_ = std if std > 0 else 1.0  # constant y: nothing to scale
        else:
            self.y_mean_, self.y_std_ = 0.0, 1.0
        self.y_train_ = (y - self.y_mean_) / self.y_std_
        d = X.shape[1]
        theta0 = self._initial_theta(d)
        if self.optimize:
            bounds = self._bounds(d)
            theta0 = np.clip(theta0, bounds[:, 0], bounds[:, 1])
            theta0 = self._optimize_theta(theta0, bounds)
        self._set_theta(theta0)
        return self

    def _objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log posterior of :math:`\\theta` and its gradient, for L-BFGS-B."""
        try:
            lml, grad, _ = self._lml(theta, eval_gradient=True)
        except ValueError:  # not PD even with jitter: tell the line search to step back
            return 1e25, np.zeros_like(theta)
        lp, glp = self._log_prior(theta)
        return -(lml + lp), -(grad + glp)

    def _optimize_theta(self, theta0: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        d = len(theta0) - 2
        starts = [theta0]
        # Random starts where good optima usually lie for unit-cube inputs and standardised
        # targets, not uniformly over the much wider bounds; shifted by the variance of y when
        # the targets are not normalised.
        shift = 0.0 if self.normalize_y else np.log(max(float(np.var(self.y_train_)), 1e-300))
        for _ in range(self.n_restarts):
            s = np.concatenate([rng.uniform(np.log(0.05), np.log(2.0), size=d),
                                [rng.uniform(np.log(0.3), np.log(3.0)) + shift,
                                 rng.uniform(np.log(1e-6), np.log(1e-2)) + shift]])
            starts.append(np.clip(s, bounds[:, 0], bounds[:, 1]))
        best_theta, best_value = theta0, np.inf
        for s in starts:
            res = _scipy_minimize(self._objective, s, jac=True, method="L-BFGS-B",
                                  bounds=bounds, options={"maxiter": 200})
            if np.isfinite(res.fun) and res.fun < best_value:
                best_theta, best_value = res.x, res.fun
        return best_theta

    def _set_theta(self, theta: np.ndarray) -> None:
        """Store the hyperparameters and the quantities of algorithm 2.1 that prediction reuses."""
        self.theta_ = np.asarray(theta, dtype=float)
        self.lengthscales_, self.variance_, self.noise_ = self._unpack(self.theta_)
        lml, _, (self.L_, self.jitter_, self.alpha_) = self._lml(self.theta_)
        self.log_marginal_likelihood_value_ = lml

    # ----------------------------------------------------------------------- predict
    def predict(self, X: ArrayLike, return_std: bool = True,
                return_cov: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        r"""Posterior mean and standard deviation (or covariance) of :math:`f` at ``X``.

        Algorithm 2.1 of GPML, eqs. (4)-(5): mean :math:`k_*^\top\alpha`, covariance
        :math:`k(X_*, X_*) - v^\top v` with :math:`v = L^{-1}k_*`. The values are for the latent
        function :math:`f`, without the observation noise, in the units of the original ``y``.

        Parameters
        ----------
        X : array_like, shape (m, d) or (d,)
        return_std : bool, default True
        return_cov : bool, default False
            Return the full (m, m) covariance instead of the standard deviations.

        Returns
        -------
        mean : ndarray, shape (m,)
        std : ndarray, shape (m,)  (if ``return_std``), or
        cov : ndarray, shape (m, m)  (if ``return_cov``)
        """
        if return_std and return_cov:
            raise ValueError("ask for either return_std or return_cov, not both")
        X = self._check_X(X)
        Ks = self.variance_ * self._profile(
            _scaled_sqdist(X, self.X_train_, self.lengthscales_))[0]  # k_*^T, shape (m, n)
        mean = Ks @ self.alpha_ * self.y_std_ + self.y_mean_
        if not (return_std or return_cov):
            return mean
        V = solve_triangular(self.L_, Ks.T, lower=True)  # v = L^-1 k_*, shape (n, m)
        if return_cov:
            Kss = self.variance_ * self._profile(_scaled_sqdist(X, X, self.lengthscales_))[0]
            return mean, (Kss - V.T @ V) * self.y_std_ ** 2
        # k(x, x) = variance for both kernels; rounding can push the difference below zero.
        var = np.maximum(self.variance_ - np.sum(V * V, axis=0), 0.0)
        return mean, np.sqrt(var) * self.y_std_

    def predict_gradient(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray,
                                                       np.ndarray, np.ndarray]:
        r"""Posterior mean and std at ``X`` and their gradients with respect to the inputs.

        Differentiating eqs. (4)-(5): :math:`\nabla\mu = (\nabla k_*)^\top\alpha`,
        :math:`\nabla\sigma^2 = -2 (\nabla k_*)^\top K^{-1} k_*` and
        :math:`\nabla\sigma = \nabla\sigma^2 / (2\sigma)`, where
        :math:`\partial k(x, x_i)/\partial x_k = 2\sigma_f^2 g'(\rho)(x_k - x_{ik})/\ell_k^2`.
        Acquisition functions are maximised with these gradients.

        Returns
        -------
        mean, std : ndarray, shape (m,)
        dmean, dstd : ndarray, shape (m, d)
        """
        X = self._check_X(X)
        ell = self.lengthscales_
        diff = X[:, None, :] - self.X_train_[None, :, :]  # (m, n, d)
        g, dg = self._profile(np.sum((diff / ell) ** 2, axis=2))
        Ks = self.variance_ * g
        dKs = 2.0 * self.variance_ * dg[:, :, None] * diff / ell ** 2  # dk(x, x_i)/dx, (m, n, d)
        mean = Ks @ self.alpha_
        dmean = np.einsum("mnd,n->md", dKs, self.alpha_)
        Kinv_ks = cho_solve((self.L_, True), Ks.T)  # K^-1 k_*, shape (n, m)
        var = self.variance_ - np.sum(Ks.T * Kinv_ks, axis=0)
        std = np.sqrt(np.maximum(var, 1e-30))  # floor: the gradient of sqrt blows up at 0
        dvar = -2.0 * np.einsum("mnd,nm->md", dKs, Kinv_ks)
        dstd = dvar / (2.0 * std[:, None])
        s = self.y_std_
        return mean * s + self.y_mean_, std * s, dmean * s, dstd * s

    def sample_y(self, X: ArrayLike, n_samples: int = 1,
                 seed: int | np.random.Generator | None = None) -> np.ndarray:
        r"""Draw functions from the posterior: :math:`f_* = \bar f_* + L_* z`.

        :math:`z \sim \mathcal N(0, I)` and :math:`L_*` is the Cholesky factor (with jitter) of
        the posterior covariance, eq. (5).

        Returns
        -------
        ndarray, shape (m, n_samples)
            One sampled function per column, as scikit-learn's ``sample_y``.
        """
        n_samples = check_int(n_samples, "n_samples", low=1)
        mean, cov = self.predict(X, return_std=False, return_cov=True)
        # At training points the posterior variance is ~0 and rounding can make it slightly
        # negative: symmetrise and add a floor relative to the prior variance before factoring.
        floor = 1e-10 * self.variance_ * self.y_std_ ** 2
        L, _ = cholesky_with_jitter(0.5 * (cov + cov.T) + floor * np.eye(len(mean)))
        z = np.random.default_rng(seed).standard_normal((len(mean), n_samples))
        return mean[:, None] + L @ z

    # ------------------------------------------------------------------ input checks
    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise ValueError("this GaussianProcess is not fitted yet; call fit(X, y) first")

    def _check_X(self, X: ArrayLike) -> np.ndarray:
        self._check_fitted()
        X = as_float_array(X, "X", ndim=(1, 2))
        if X.ndim == 1:  # a single point
            X = X[None, :]
        if X.shape[1] != self.X_train_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} columns but the GP was fitted on "
                             f"{self.X_train_.shape[1]}")
        return X


def _check_pair(X1: ArrayLike, X2: ArrayLike | None,
                lengthscales: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2-D inputs with the same number of columns and one positive lengthscale per column."""
    X1 = as_float_array(X1, "X1", ndim=2)
    X2 = X1 if X2 is None else as_float_array(X2, "X2", ndim=2)
    if X1.shape[1] != X2.shape[1]:
        raise ValueError(f"X1 has {X1.shape[1]} columns but X2 has {X2.shape[1]}")
    ell = _check_lengthscales(lengthscales)
    if ell.ndim == 0:  # one lengthscale for every input: the isotropic kernel
        ell = np.full(X1.shape[1], float(ell))
    if ell.shape != (X1.shape[1],):
        raise ValueError(f"lengthscales must have one entry per column ({X1.shape[1]}), "
                         f"got shape {ell.shape}")
    return X1, X2, ell


def _check_lengthscales(lengthscales: ArrayLike) -> np.ndarray:
    """One positive lengthscale (0-D) or one per input (1-D), as a float array."""
    ell = as_float_array(lengthscales, "lengthscales", ndim=(0, 1))
    if np.any(ell <= 0):
        raise ValueError(f"lengthscales must be > 0, got {ell}")
    return ell


def _check_prior_mean(prior_mean: str | float) -> str | float:
    """``"mean"``, ``"max"`` or a finite number (as a float)."""
    if prior_mean in ("mean", "max"):
        return prior_mean
    if isinstance(prior_mean, (int, float)) and math.isfinite(prior_mean):
        return float(prior_mean)
    raise ValueError(f"prior_mean must be 'mean', 'max' or a finite number, got {prior_mean!r}")
