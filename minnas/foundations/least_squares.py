r"""Linear least squares four ways: normal equations, QR, SVD, and gradient descent; plus ridge.

Sources
-------
- G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., Johns Hopkins, 2013:
  section 3.1 (triangular systems), 4.2 (Cholesky), 5.3 (the full-rank least-squares problem),
  5.5 (the rank-deficient least-squares problem).
- L. N. Trefethen and D. Bau, *Numerical Linear Algebra*, SIAM, 1997: lectures 11 (least
  squares), 12 (condition numbers), 18-19 (conditioning and stability of least squares).
- T. Hastie, R. Tibshirani and J. Friedman, *The Elements of Statistical Learning*, 2nd ed.,
  Springer, 2009: chapter 3 (sections 3.2 least squares, 3.4.1 ridge regression).
- Y. Nesterov, *Lectures on Convex Optimization*, 2nd ed., Springer, 2018: chapter 2
  (gradient descent on functions with a Lipschitz-continuous gradient).

Equations implemented
---------------------
Given a design matrix :math:`X \in \mathbb{R}^{n \times p}` and targets :math:`y \in \mathbb{R}^n`
(or :math:`\mathbb{R}^{n \times k}`, one column per target), the least-squares problem is

.. math:: \hat\theta = \arg\min_\theta \lVert X\theta - y \rVert_2^2.                    \tag{1}

(2) Normal equations: the gradient of (1) vanishes where
    :math:`X^\top X \theta = X^\top y`; solved with the Cholesky factor :math:`X^\top X = R^\top R`.
(3) QR: with the reduced factorisation :math:`X = QR` (:math:`Q^\top Q = I`, :math:`R` upper
    triangular), (1) becomes :math:`R\theta = Q^\top y`.
(4) SVD: with :math:`X = U \Sigma V^\top`, the minimum-norm solution is
    :math:`\hat\theta = V \Sigma^+ U^\top y`, where :math:`\Sigma^+` inverts the singular values
    :math:`\sigma_i > \mathrm{rcond}\cdot\sigma_1` and sets the others to zero.
(5) Condition number: :math:`\kappa(X) = \sigma_{\max}(X) / \sigma_{\min}(X)`, and
    :math:`\kappa(X^\top X) = \kappa(X)^2`: the normal equations square the conditioning.
(6) Ridge: :math:`\hat\theta_\lambda = \arg\min_\theta \lVert X\theta - y\rVert_2^2 +
    \lambda\lVert\theta\rVert_2^2` solves :math:`(X^\top X + \lambda I)\theta = X^\top y`.
(7) Gradient descent on :math:`L(\theta) = \lVert X\theta - y\rVert_2^2 / (2n)`, with gradient
    :math:`\nabla L(\theta) = X^\top (X\theta - y) / n`, iterates
    :math:`\theta_{t+1} = \theta_t - \eta \nabla L(\theta_t)` with step :math:`\eta = 1/L_\nabla`,
    where :math:`L_\nabla = \lambda_{\max}(X^\top X)/n = \sigma_{\max}(X)^2/n` is the Lipschitz
    constant of the gradient.
(8) Polynomial features: the Vandermonde matrix with columns :math:`1, x, x^2, \dots, x^d`.

No function adds an intercept: to fit one, give ``X`` a column of ones (``polynomial_features``
does so with its degree-0 column). Ridge then penalises the intercept like any other coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from minnas._validation import as_float_array, check_int, check_number

__all__ = [
    "GradientDescentResult",
    "back_substitution",
    "condition_number",
    "forward_substitution",
    "gradient_descent",
    "polynomial_features",
    "ridge",
    "solve_normal_equations",
    "solve_qr",
    "solve_svd",
    "squared_error",
]

_EPS = np.finfo(float).eps


# ------------------------------------------------------------------------ triangular solves
def forward_substitution(L: ArrayLike, b: ArrayLike) -> np.ndarray:
    r"""Solve the lower-triangular system :math:`L z = b` row by row (Golub & Van Loan alg. 3.1.1).

    :math:`z_i = (b_i - \sum_{j<i} L_{ij} z_j) / L_{ii}`. ``b`` may hold several right-hand
    sides as columns.
    """
    L, b = _check_triangular(L, b, "L")
    z = np.zeros_like(b)
    for i in range(L.shape[0]):
        z[i] = (b[i] - L[i, :i] @ z[:i]) / L[i, i]
    return z


def back_substitution(R: ArrayLike, b: ArrayLike) -> np.ndarray:
    r"""Solve the upper-triangular system :math:`R x = b` from the last row up (alg. 3.1.2).

    :math:`x_i = (b_i - \sum_{j>i} R_{ij} x_j) / R_{ii}`. ``b`` may hold several right-hand
    sides as columns.
    """
    R, b = _check_triangular(R, b, "R")
    x = np.zeros_like(b)
    for i in reversed(range(R.shape[0])):
        x[i] = (b[i] - R[i, i + 1:] @ x[i + 1:]) / R[i, i]
    return x


# -------------------------------------------------------------------------------- solvers
def condition_number(X: ArrayLike) -> float:
    r"""Spectral condition number :math:`\kappa(X) = \sigma_{\max} / \sigma_{\min}`, equation (5).

    Uses the :math:`\min(n, p)` singular values, so a wide matrix is measured on its row space
    (as ``numpy.linalg.cond`` does). Returns ``inf`` when the smallest singular value is zero.
    """
    X = as_float_array(X, "X", ndim=2)
    s = np.linalg.svd(X, compute_uv=False)  # sorted, largest first
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


def solve_normal_equations(X: ArrayLike, y: ArrayLike, rcond: float | None = None) -> np.ndarray:
    r"""Least squares via the normal equations :math:`X^\top X\theta = X^\top y`, equation (2).

    Factor :math:`X^\top X = R^\top R` (Cholesky, :math:`R` upper triangular), then solve
    :math:`R^\top z = X^\top y` and :math:`R\theta = z`. This is the cheapest method
    (:math:`np^2` flops to form :math:`X^\top X`), but forming :math:`X^\top X` squares the
    condition number, :math:`\kappa(X^\top X) = \kappa(X)^2`, so the relative error grows like
    :math:`\epsilon\,\kappa(X)^2` instead of :math:`\epsilon\,\kappa(X)` for QR on problems with a
    small residual (Trefethen & Bau, lecture 19).

    Parameters
    ----------
    X : array_like, shape (n, p)
        Design matrix; needs full column rank ``p <= n``.
    y : array_like, shape (n,) or (n, k)
        Targets.
    rcond : float, optional
        Column :math:`j` counts as dependent on the earlier ones when the pivot :math:`r_{jj}`
        of the Cholesky factor satisfies :math:`r_{jj} \le \mathrm{rcond}\,\lVert x_j\rVert`
        (:math:`r_{jj}` is the distance of :math:`x_j` from the span of the earlier columns).
        The default :math:`10\sqrt{\max(n, p)\,\epsilon}` reflects that rounding in
        :math:`X^\top X` blurs those distances to about :math:`\sqrt{\epsilon}\lVert x_j\rVert`.

    Returns
    -------
    theta : ndarray, shape (p,) or (p, k)

    Raises
    ------
    ValueError
        On bad input, or when ``X`` is (numerically) rank-deficient: then :math:`X^\top X`
        is singular and the solution is not unique; use :func:`solve_svd`.
    """
    X, y = _check_tall(X, y, "X^T X")
    n, p = X.shape
    default = 10 * np.sqrt(max(n, p) * _EPS)
    rcond = default if rcond is None else check_number(rcond, "rcond", low=0, finite=False)
    G = X.T @ X
    try:
        L = np.linalg.cholesky(G)  # G = L L^T, so L^T is the R of X = QR (up to signs)
    except np.linalg.LinAlgError:  # a pivot went negative: X^T X is numerically singular
        raise _rank_deficiency_error(X, None, "normal equations") from None
    column = _dependent_column(L, np.sqrt(np.diag(G)), rcond)
    if column is not None:
        raise _rank_deficiency_error(X, column, "normal equations")
    z = forward_substitution(L, X.T @ y)
    return back_substitution(L.T, z)


def solve_qr(X: ArrayLike, y: ArrayLike, rcond: float | None = None) -> np.ndarray:
    r"""Least squares via the reduced QR factorisation :math:`X = QR`, equation (3).

    Since :math:`\lVert X\theta - y\rVert^2 = \lVert R\theta - Q^\top y\rVert^2 +
    \lVert (I - QQ^\top) y\rVert^2`, the minimiser solves the triangular system
    :math:`R\theta = Q^\top y`. Householder QR (LAPACK, via ``numpy.linalg.qr``) never forms
    :math:`X^\top X` and is backward stable (Golub & Van Loan section 5.3).

    Parameters, return value and errors are those of :func:`solve_normal_equations`, with
    :math:`R` from the QR factorisation and the default ``rcond`` :math:`10\max(n, p)\,\epsilon`,
    a safety factor above the rounding level: without :math:`X^\top X` the pivots
    :math:`|r_{jj}|` are accurate to rounding.
    """
    X, y = _check_tall(X, y, "R")
    n, p = X.shape
    default = 10 * max(n, p) * _EPS
    rcond = default if rcond is None else check_number(rcond, "rcond", low=0, finite=False)
    Q, R = np.linalg.qr(X, mode="reduced")
    column = _dependent_column(R, np.linalg.norm(X, axis=0), rcond)
    if column is not None:
        raise _rank_deficiency_error(X, column, "QR solver")
    return back_substitution(R, Q.T @ y)


def solve_svd(X: ArrayLike, y: ArrayLike, rcond: float | None = None) -> np.ndarray:
    r"""Minimum-norm least squares via the SVD pseudo-inverse, equation (4).

    With :math:`X = U\Sigma V^\top`, :math:`\hat\theta = \sum_{\sigma_i > \tau}
    \frac{u_i^\top y}{\sigma_i} v_i`, :math:`\tau = \mathrm{rcond}\cdot\sigma_1`. Dropping the
    directions with negligible :math:`\sigma_i` gives, among all minimisers, the one of least
    norm (Golub & Van Loan section 5.5); for a full-rank ``X`` it is the unique solution. Works
    for rank-deficient and wide (``p > n``) designs; costs more than QR.

    Parameters
    ----------
    X : array_like, shape (n, p)
    y : array_like, shape (n,) or (n, k)
    rcond : float, optional
        Relative cutoff for small singular values; default :math:`\max(n, p)\,\epsilon`,
        as in ``numpy.linalg.lstsq``.

    Returns
    -------
    theta : ndarray, shape (p,) or (p, k)
    """
    X, y = _check_design(X, y)
    n, p = X.shape
    default = max(n, p) * _EPS
    rcond = default if rcond is None else check_number(rcond, "rcond", low=0, finite=False)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    keep = s > rcond * s[0]
    # Sigma^+ : invert the kept singular values, zero the rest (their directions are unresolved).
    s_inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    coef = (U.T @ y) * (s_inv if y.ndim == 1 else s_inv[:, None])
    return Vt.T @ coef


def ridge(X: ArrayLike, y: ArrayLike, lam: float) -> np.ndarray:
    r"""Ridge regression in closed form, :math:`(X^\top X + \lambda I)\theta = X^\top y`, eq. (6).

    Minimises :math:`\lVert X\theta - y\rVert_2^2 + \lambda\lVert\theta\rVert_2^2` (ESL
    section 3.4.1; the same objective as scikit-learn's ``Ridge(alpha=lam,
    fit_intercept=False)``). For :math:`\lambda > 0` the matrix is symmetric positive definite
    with eigenvalues :math:`\sigma_i^2 + \lambda`, so the solution is unique even for
    rank-deficient or wide ``X``, and :math:`\kappa = (\sigma_1^2 + \lambda)/(\sigma_p^2 + \lambda)`
    shrinks as :math:`\lambda` grows. No intercept is handled: every coefficient, including
    that of a column of ones, is penalised; centre the data or leave that column out if the
    intercept should be free.

    Parameters
    ----------
    X : array_like, shape (n, p)
    y : array_like, shape (n,) or (n, k)
    lam : float
        Penalty :math:`\lambda \ge 0`; ``lam = 0`` gives the normal equations (and their
        requirement of full column rank).

    Returns
    -------
    theta : ndarray, shape (p,) or (p, k)
    """
    X, y = _check_design(X, y)
    lam = check_number(lam, "lam", low=0)
    if lam == 0:
        return solve_normal_equations(X, y)
    A = X.T @ X + lam * np.eye(X.shape[1])
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:  # only when lam is tiny against the scale of X^T X
        raise ValueError(f"X^T X + lam I is numerically singular for lam = {lam:g}; "
                         "use a larger lam or solve_svd") from None
    return back_substitution(L.T, forward_substitution(L, X.T @ y))


# ------------------------------------------------------------------------- gradient descent
def squared_error(X: ArrayLike, y: ArrayLike, theta: ArrayLike) -> float:
    r"""The loss of equation (7), :math:`L(\theta) = \lVert X\theta - y\rVert_2^2 / (2n)`."""
    X, y = _check_design(X, y)
    r = X @ np.asarray(theta, dtype=float) - y
    return float(np.sum(r ** 2) / (2 * X.shape[0]))


@dataclass
class GradientDescentResult:
    """Outcome of :func:`gradient_descent`.

    Attributes
    ----------
    theta : ndarray
        The last iterate.
    history : ndarray, shape (n_iter + 1,)
        The loss :math:`L(\\theta_t)` for :math:`t = 0, \\dots, n_{iter}` (the start included).
    step_size : float
        The step :math:`\\eta` used.
    n_iter : int
        Number of gradient steps taken.
    converged : bool
        Whether the gradient norm fell to ``tol`` before ``max_iter`` steps.
    """

    theta: np.ndarray
    history: np.ndarray
    step_size: float
    n_iter: int
    converged: bool


def gradient_descent(X: ArrayLike, y: ArrayLike, theta0: ArrayLike | None = None,
                     step_size: float | None = None, tol: float = 1e-8,
                     max_iter: int = 1000) -> GradientDescentResult:
    r"""Minimise :math:`L(\theta) = \lVert X\theta - y\rVert^2/(2n)` by gradient descent, eq. (7).

    The gradient :math:`X^\top(X\theta - y)/n` is Lipschitz with constant
    :math:`L_\nabla = \sigma_{\max}(X)^2/n`. With the default step :math:`\eta = 1/L_\nabla` the
    descent lemma guarantees :math:`L(\theta_{t+1}) \le L(\theta_t) -
    \lVert\nabla L(\theta_t)\rVert^2 / (2L_\nabla)`, so the loss never increases; any
    :math:`\eta < 2/L_\nabla` still converges. For full-rank ``X`` the error shrinks at least by
    the factor :math:`1 - 1/\kappa(X)^2` per step (Nesterov, chapter 2): ill-conditioning
    makes gradient descent slow, just as it makes the normal equations inaccurate.

    Parameters
    ----------
    X : array_like, shape (n, p)
    y : array_like, shape (n,) or (n, k)
    theta0 : array_like, optional
        Starting point; zeros by default.
    step_size : float, optional
        :math:`\eta > 0`; default :math:`1/L_\nabla`.
    tol : float, default 1e-8
        Stop once :math:`\lVert\nabla L(\theta_t)\rVert_2 \le` ``tol``.
    max_iter : int, default 1000
        Maximum number of steps.

    Returns
    -------
    GradientDescentResult
        The last iterate, the loss history, the step size, steps taken, and convergence flag.
    """
    X, y = _check_design(X, y)
    n, p = X.shape
    theta_shape = (p,) if y.ndim == 1 else (p, y.shape[1])
    if theta0 is None:
        theta = np.zeros(theta_shape)
    else:
        theta = as_float_array(theta0, "theta0", ndim=y.ndim).copy()
        if theta.shape != theta_shape:
            raise ValueError(f"theta0 must have shape {theta_shape}, got {theta.shape}")
    if step_size is None:
        lipschitz = np.linalg.norm(X, 2) ** 2 / n  # lambda_max(X^T X) / n = sigma_max(X)^2 / n
        if lipschitz == 0:
            raise ValueError("X is all zeros: the loss is constant and has no useful gradient")
        step_size = 1.0 / lipschitz
    step_size = check_number(step_size, "step_size", low=0, strict=True)
    tol = check_number(tol, "tol", low=0, finite=False)
    max_iter = check_int(max_iter, "max_iter", low=0)

    residual = X @ theta - y
    grad = X.T @ residual / n
    history = [np.sum(residual ** 2) / (2 * n)]
    n_iter = 0
    while n_iter < max_iter and np.linalg.norm(grad) > tol:
        theta = theta - step_size * grad
        residual = X @ theta - y  # gives both the loss and the next gradient
        grad = X.T @ residual / n
        history.append(np.sum(residual ** 2) / (2 * n))
        n_iter += 1
    converged = bool(np.linalg.norm(grad) <= tol)
    return GradientDescentResult(theta=theta, history=np.asarray(history),
                                 step_size=float(step_size), n_iter=n_iter, converged=converged)


# ------------------------------------------------------------------------------- features
def polynomial_features(x: ArrayLike, degree: int) -> np.ndarray:
    r"""Vandermonde matrix with columns :math:`1, x, x^2, \dots, x^d`, equation (8).

    Parameters
    ----------
    x : array_like, shape (n,)
        Sample points.
    degree : int
        :math:`d \ge 0`.

    Returns
    -------
    ndarray, shape (n, degree + 1)
        Column ``j`` holds ``x ** j``. Its conditioning worsens quickly with ``degree``
        (faster for points in [0, 1] than in [-1, 1]), which makes it the standard
        ill-conditioned test case.
    """
    degree = check_int(degree, "degree", low=0)
    x = as_float_array(x, "x", ndim=1)
    return np.vander(x, degree + 1, increasing=True)


# ----------------------------------------------------------------------------- rank deficiency
def _dependent_column(R: np.ndarray, col_norms: np.ndarray, rcond: float) -> int | None:
    r"""Index of the first column of ``X`` that is numerically dependent on the earlier ones.

    In :math:`X = QR`, :math:`|r_{jj}|` is the distance of column :math:`x_j` from the span of
    :math:`x_0, \dots, x_{j-1}`, so :math:`|r_{jj}| / \lVert x_j\rVert` is the sine of the angle
    between them: independent of how the columns are scaled. Column :math:`j` counts as
    dependent when that sine is at most ``rcond``. Without column pivoting a tiny ratio proves
    near rank deficiency, but moderate ratios do not rule it out (Golub & Van Loan section 5.4
    gives the rank-revealing QR with column pivoting; :func:`solve_svd` is the safe choice).
    """
    sines = np.abs(np.diag(R)) / np.where(col_norms > 0, col_norms, 1.0)
    small = np.flatnonzero((sines <= rcond) | (col_norms == 0))
    return int(small[0]) if small.size else None


def _rank_deficiency_error(X: np.ndarray, column: int | None, method: str) -> ValueError:
    """A ValueError that names the dependent column and the condition number, and points to SVD."""
    kappa = condition_number(X)
    where = ("" if column is None else
             f"column {column} is numerically a linear combination of the columns before it; ")
    return ValueError(
        f"X (shape {X.shape}) is rank-deficient or too ill-conditioned for the {method}: "
        f"{where}cond(X) = {kappa:.3g}, so cond(X^T X) = cond(X)^2 = {kappa ** 2:.3g}. "
        "Use solve_svd for the minimum-norm solution, or ridge with lam > 0.")


# ----------------------------------------------------------------------------- input checks
def _check_design(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` (2-D) and ``y`` (1-D or 2-D) as float arrays with matching rows."""
    X = as_float_array(X, "X", ndim=2)
    y = as_float_array(y, "y", ndim=(1, 2))
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries; "
                         "they must match (one target per row of X)")
    return X, y


def _check_tall(X: ArrayLike, y: ArrayLike, singular: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_check_design` for a full-rank solver, which needs ``p <= n`` columns."""
    X, y = _check_design(X, y)
    n, p = X.shape
    if p > n:
        raise ValueError(f"X has more columns ({p}) than rows ({n}), so rank(X) < p and "
                         f"{singular} is singular; use solve_svd for the minimum-norm solution")
    return X, y


def _check_triangular(T: ArrayLike, b: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return a square, nonsingular triangular ``T`` and a matching right-hand side ``b``."""
    T = as_float_array(T, name, ndim=2)
    b = as_float_array(b, "b", ndim=(1, 2))
    if T.shape[0] != T.shape[1]:
        raise ValueError(f"{name} must be square, got shape {T.shape}")
    if b.shape[0] != T.shape[0]:
        raise ValueError(f"b has {b.shape[0]} rows but {name} has {T.shape[0]}")
    if np.any(np.diag(T) == 0):
        raise ValueError(f"{name} has a zero on its diagonal, so it is singular")
    return T, b
