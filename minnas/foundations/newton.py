r"""Newton's method for roots and minima, with Armijo backtracking.

Sources: J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
chapter 3 (line searches: the Armijo condition, eq. 3.4; backtracking, algorithm 3.1; rates
of convergence, sec. 3.3; Newton's method with Hessian modification, sec. 3.4, which is
chapter 6, "Practical Newton methods", of the 1999 first edition) and chapter 11 (Newton's
method for nonlinear equations); S. Boyd and L. Vandenberghe, *Convex Optimization*,
Cambridge 2004, chapter 9 (backtracking and damped Newton, sections 9.2 and 9.5).

Equations implemented (numbers used in the docstrings below):

(1) Newton step for a root of a scalar function, from the tangent line at :math:`x_k`:

    .. math:: x_{k+1} = x_k - f(x_k) / f'(x_k)

(2) Newton step for a system :math:`F(x) = 0` with Jacobian :math:`J`:

    .. math:: J(x_k)\, \Delta x = -F(x_k), \qquad x_{k+1} = x_k + \Delta x

(3) Newton step for a minimum: (2) applied to the gradient, :math:`F = \nabla f`, :math:`J = H`:

    .. math:: H(x_k)\, \Delta x = -g(x_k), \qquad g = \nabla f, \; H = \nabla^2 f

(4) Armijo (sufficient decrease) condition, accepted step size :math:`t`:

    .. math:: f(x + t\,\Delta x) \le f(x) + c\, t\, g^\top \Delta x, \qquad c = 10^{-4}

    Backtracking tries :math:`t = 1, \beta, \beta^2, \dots` with :math:`\beta = 1/2`.

(5) Damped Newton: :math:`x_{k+1} = x_k + t_k \Delta x_k` with :math:`t_k` from (4); pure
    Newton is :math:`t_k = 1`.

(6) Empirical order of convergence from three consecutive errors :math:`e_k = \|x_k - x^*\|`:

    .. math:: q \approx \frac{\log(e_{k+1}/e_k)}{\log(e_k/e_{k-1})}

Behaviour chosen for the hard cases:

- *Non-convergence* is a result, not an exception: after ``max_iter`` steps the functions
  return ``converged=False`` with the last iterate, so a diverging run can still be plotted.
- *Undefined steps* raise ``ValueError``: a zero derivative in (1), a singular Jacobian or
  Hessian in (2)/(3), and any non-finite value of f, its derivatives or an iterate (the
  message names the iteration). A method that has overflowed has no iterate left to return.
- *Non-descent Newton direction* (the Hessian is not positive definite, so
  :math:`g^\top \Delta x \ge 0`): the damped method falls back to steepest descent,
  :math:`\Delta x = -g`, for that iteration. This is the simplest modification that keeps
  the Armijo search well defined (Nocedal & Wright, sec. 3.4, discuss better ones:
  adding a multiple of the identity, modified Cholesky). Pure Newton takes the step as is,
  which is why it can converge to a maximum or a saddle.
- *Rounding near the minimum*: the test (4) allows a few units in the last place of f(x),
  since otherwise rounding alone rejects the full steps that give quadratic convergence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from minnas._validation import as_float_array, check_int, check_number

__all__ = [
    "NewtonResult",
    "newton_root",
    "newton_system",
    "newton_direction",
    "backtracking",
    "newton_minimize",
    "convergence_order",
    "convergence_orders",
]

ARMIJO_C = 1e-4  # the usual c in (4): accept almost any decrease (Nocedal & Wright, sec. 3.1)
SHRINK = 0.5  # beta in (4)
MAX_SHRINKS = 60  # 0.5**60 ~ 1e-18: below this a step cannot change a float iterate
F_RTOL = 8 * np.finfo(float).eps  # rounding allowance in (4), relative to |f(x)|


@dataclass
class NewtonResult:
    """What a Newton run returns: the answer and the path that led to it.

    Attributes
    ----------
    x : float or ndarray
        The last iterate, shaped like ``x0``.
    fun : float
        ``f(x)`` for a minimisation; the residual ``|f(x)|`` or ``||F(x)||`` for a root.
    n_iter : int
        Number of steps taken.
    converged : bool
        Whether the stopping test was met within ``max_iter`` steps.
    trace : ndarray
        The iterates ``x_0, ..., x_{n_iter}``: shape ``(n_iter + 1,)`` for a scalar ``x0``,
        ``(n_iter + 1, n)`` otherwise. ``trace[0]`` is ``x0``.
    values : ndarray
        ``fun`` at every iterate, shape ``(n_iter + 1,)``.
    step_sizes : ndarray
        The step size ``t_k`` of every step (all 1 without a line search), shape ``(n_iter,)``.
    message : str
        Why the run stopped.
    """

    x: float | np.ndarray
    fun: float
    n_iter: int
    converged: bool
    trace: np.ndarray
    values: np.ndarray
    step_sizes: np.ndarray = field(default_factory=lambda: np.empty(0))
    message: str = ""


# --------------------------------------------------------------------------- roots

def newton_root(f: Callable[[float], float], df: Callable[[float], float], x0: float,
                tol: float = 1e-12, max_iter: int = 50) -> NewtonResult:
    """Root of a scalar function by Newton's method, equation (1).

    Parameters
    ----------
    f, df : callable
        The function and its derivative, scalar to scalar.
    x0 : float
        Starting point.
    tol : float, default 1e-12
        Stop when a step is small relative to the iterate, ``|dx| <= tol * (1 + |x|)``,
        or when ``f(x) == 0`` exactly. Near a simple root the step equals the error to first
        order, so this bounds the error of the previous iterate.
    max_iter : int, default 50
        Most steps to take; then the result has ``converged=False``.

    Returns
    -------
    NewtonResult
        ``fun`` and ``values`` hold the residuals ``|f(x_k)|``.

    Raises
    ------
    ValueError
        If ``f'(x_k) = 0`` (the tangent is flat: no intersection with the axis), if a value
        or an iterate is not finite, or if ``x0`` is not a finite scalar.
    """
    tol = check_number(tol, "tol", low=0, strict=True, finite=False)
    max_iter = check_int(max_iter, "max_iter", low=0)
    x = float(as_float_array(x0, "x0", ndim=0))
    fx = float(_call(f, x, "f(x)", 0, ()))
    trace, values = [x], [abs(fx)]
    converged, message = fx == 0.0, "f(x0) = 0"
    k = 0
    while not converged and k < max_iter:
        dfx = float(_call(df, x, "f'(x)", k, ()))
        if dfx == 0.0:
            raise ValueError(f"zero derivative f'(x) = 0 at iteration {k} (x = {x:.6g}): "
                             "the Newton step -f(x)/f'(x) is undefined")
        dx = -fx / dfx  # (1)
        x = x + dx
        k += 1
        fx = float(_call(f, x, "f(x)", k, ()))
        trace.append(x)
        values.append(abs(fx))
        converged = abs(dx) <= tol * (1.0 + abs(x)) or fx == 0.0
        message = "step below tolerance" if converged else message
    if not converged:
        message = f"no convergence in {max_iter} steps"
    return NewtonResult(x=x, fun=abs(fx), n_iter=k, converged=bool(converged),
                        trace=np.array(trace), values=np.array(values),
                        step_sizes=np.ones(k), message=message)


def newton_direction(g: ArrayLike, H: ArrayLike, what: str = "Hessian", k: int = 0) -> np.ndarray:
    """Solve ``H dx = -g`` for the Newton direction, equations (2) and (3).

    Solving the linear system is cheaper and more accurate than forming ``inv(H)``; on
    a quadratic ``0.5 ||A x - b||^2`` this system is exactly the normal equations.

    Parameters
    ----------
    g : array_like, shape (n,)
        Gradient (or residual ``F(x)`` for a system).
    H : array_like, shape (n, n)
        Hessian (or Jacobian ``J(x)``).
    what : str, default "Hessian"
        Name of ``H`` in the error message.
    k : int, default 0
        Iteration number for the error message.

    Raises
    ------
    ValueError
        If the shapes do not match or ``H`` is singular.
    """
    g = as_float_array(g, "g", ndim=1)
    H = as_float_array(H, what, ndim=2)
    if H.shape != (g.size, g.size):
        raise ValueError(f"{what} must have shape {(g.size, g.size)}, got {H.shape}")
    try:
        dx = np.linalg.solve(H, -g)
    except np.linalg.LinAlgError:  # exactly singular
        dx = np.full_like(g, np.nan)
    if not np.all(np.isfinite(dx)):  # nearly singular: the solve "succeeds" with inf/NaN
        raise ValueError(f"singular {what} at iteration {k}: the Newton step is undefined")
    return dx


def newton_system(F: Callable[[np.ndarray], ArrayLike], J: Callable[[np.ndarray], ArrayLike],
                  x0: ArrayLike, tol: float = 1e-12, max_iter: int = 50) -> NewtonResult:
    """Root of a system ``F(x) = 0`` of n equations in n unknowns, equation (2).

    Parameters
    ----------
    F : callable
        ``F(x)`` for ``x`` of shape (n,), returns shape (n,).
    J : callable
        The Jacobian ``J(x)[i, j] = dF_i / dx_j``, shape (n, n).
    x0 : array_like, shape (n,)
        Starting point.
    tol : float, default 1e-12
        Stop when ``||dx|| <= tol * (1 + ||x||)`` or ``F(x) == 0`` exactly.
    max_iter : int, default 50
        Most steps; then ``converged=False``.

    Returns
    -------
    NewtonResult
        ``fun`` and ``values`` hold the residual norms ``||F(x_k)||``.

    Raises
    ------
    ValueError
        If ``x0`` is not a finite 1-D array, shapes do not match, the Jacobian is singular,
        or a value is not finite.
    """
    tol = check_number(tol, "tol", low=0, strict=True, finite=False)
    max_iter = check_int(max_iter, "max_iter", low=0)
    x = as_float_array(x0, "x0", ndim=1).copy()
    n = x.size
    Fx = _call(F, x, "F(x)", 0, (n,))
    trace, values = [x.copy()], [np.linalg.norm(Fx)]
    converged, message = not np.any(Fx), "F(x0) = 0"
    k = 0
    while not converged and k < max_iter:
        dx = newton_direction(Fx, _call(J, x, "J(x)", k, (n, n)), what="Jacobian", k=k)  # (2)
        x = x + dx
        k += 1
        Fx = _call(F, x, "F(x)", k, (n,))
        trace.append(x.copy())
        values.append(np.linalg.norm(Fx))
        converged = np.linalg.norm(dx) <= tol * (1.0 + np.linalg.norm(x)) or not np.any(Fx)
        message = "step below tolerance" if converged else message
    if not converged:
        message = f"no convergence in {max_iter} steps"
    return NewtonResult(x=x, fun=float(values[-1]), n_iter=k, converged=bool(converged),
                        trace=np.array(trace), values=np.array(values),
                        step_sizes=np.ones(k), message=message)


# --------------------------------------------------------------------------- minima

def backtracking(f: Callable[[np.ndarray], float], x: ArrayLike, dx: ArrayLike, g: ArrayLike,
                 fx: float | None = None, c: float = ARMIJO_C, shrink: float = SHRINK,
                 max_shrinks: int = MAX_SHRINKS) -> float:
    """Largest ``t`` in ``1, shrink, shrink**2, ...`` satisfying the Armijo condition (4).

    Parameters
    ----------
    f : callable
        Objective, called on arrays shaped like ``x``.
    x, dx, g : array_like, same shape
        Current point, search direction and gradient at ``x``.
    fx : float, optional
        ``f(x)`` if already known (saves one evaluation).
    c : float, default 1e-4
        Sufficient-decrease constant, ``0 < c < 1``.
    shrink : float, default 0.5
        Factor applied to ``t`` after each rejected trial, ``0 < shrink < 1``.
    max_shrinks : int, default 60
        Most reductions before giving up.

    Returns
    -------
    float
        The step size ``t``, or ``0.0`` when no trial passed (rounding has taken over; the
        caller decides what to do). A trial where ``f`` is NaN or infinite counts as
        rejected: the step left the function's domain, so a shorter one is tried.

    Raises
    ------
    ValueError
        If ``dx`` is not a descent direction (``g^T dx >= 0``): no ``t > 0`` can then give
        sufficient decrease, so the search would only waste evaluations.

    Notes
    -----
    The comparison allows ``8 * machine epsilon * |f(x)|`` of rounding error on the right of
    (4): close to a minimum with ``f(x*) != 0`` the predicted decrease of a full step is
    smaller than the rounding error of ``f`` itself, and the exact test would stall the
    method (the idea of the "approximate" line-search conditions of Hager and Zhang,
    SIAM J. Optim. 16, 2005). Far from the minimum the allowance is negligible.
    """
    c = check_number(c, "c", 0, 1, strict=True)
    shrink = check_number(shrink, "shrink", 0, 1, strict=True)
    x = as_float_array(x, "x")
    dx = as_float_array(dx, "dx")
    g = as_float_array(g, "g")
    if not (x.shape == dx.shape == g.shape):
        raise ValueError(f"x, dx and g must have one shape, got {x.shape}, {dx.shape}, {g.shape}")
    slope = float(np.sum(g * dx))  # directional derivative g^T dx
    if not slope < 0:
        raise ValueError(f"dx is not a descent direction: g^T dx = {slope:.3g} >= 0")
    f0 = float(f(x)) if fx is None else float(fx)
    # Near a minimum the decrease a full Newton step promises falls below the rounding error
    # of f; the bare test (4) then rejects good steps by chance and the run stalls with tiny
    # steps. Allowing a few units in the last place of f(x) lets such steps through.
    noise = F_RTOL * abs(f0)
    t = 1.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(max_shrinks + 1):
            try:
                ft = float(f(x + t * dx))
            except OverflowError:  # Python floats raise where numpy returns inf
                ft = np.inf
            if np.isfinite(ft) and ft <= f0 + c * t * slope + noise:  # (4)
                return t
            t *= shrink
    return 0.0


def newton_minimize(f: Callable, grad: Callable, hess: Callable, x0: ArrayLike,
                    tol: float = 1e-8, max_iter: int = 100,
                    line_search: bool = True) -> NewtonResult:
    """Minimise ``f`` by Newton's method (3), damped by Armijo backtracking (4)-(5).

    Parameters
    ----------
    f : callable
        Objective, called with an argument shaped like ``x0`` (a float for a scalar ``x0``).
    grad, hess : callable
        Gradient (``n`` values) and Hessian (``n x n`` values) of ``f``.
    x0 : float or array_like of shape (n,)
        Starting point.
    tol : float, default 1e-8
        Stop when ``||g(x_k)|| <= tol``.
    max_iter : int, default 100
        Most steps; then the result has ``converged=False``.
    line_search : bool, default True
        Damped Newton (5) with backtracking (4). With ``False``: pure Newton, ``t_k = 1``,
        which converges quadratically near a minimum but may diverge from far away.

    Returns
    -------
    NewtonResult
        ``values`` holds ``f(x_k)``; with the line search it does not increase (beyond the
        rounding allowance of :func:`backtracking`).

    Raises
    ------
    ValueError
        If ``x0`` is not a finite scalar or 1-D array, the Hessian is singular, or a value of
        ``f``, ``grad``, ``hess`` or an iterate is not finite (the message names the iteration).

    Notes
    -----
    With the line search, a Newton direction that is not a descent direction (the Hessian
    is not positive definite there) is replaced by ``-g`` for that iteration (steepest
    descent). If backtracking finds no acceptable step, the run stops with
    ``converged=False`` and says so in ``message``.
    """
    tol = check_number(tol, "tol", low=0, strict=True, finite=False)
    max_iter = check_int(max_iter, "max_iter", low=0)
    x0 = as_float_array(x0, "x0", ndim=(0, 1))
    shape, n = x0.shape, x0.size
    # The method works on vectors of n numbers; the caller's functions get the caller's shape.
    f, grad, hess = (_in_shape(fn, shape) for fn in (f, grad, hess))
    x = x0.reshape(n).copy()
    fx = float(_call(f, x, "f(x)", 0, ()))
    g = _call(grad, x, "grad(x)", 0, (n,))
    trace, values, steps = [x.copy()], [fx], []
    converged = bool(np.linalg.norm(g) <= tol)
    message = "gradient below tolerance" if converged else ""
    k = 0
    while not converged and k < max_iter:
        dx = newton_direction(g, _call(hess, x, "hess(x)", k, (n, n)), k=k)  # (3)
        t = 1.0
        if line_search:
            if not g @ dx < 0:  # H not positive definite here: fall back to steepest descent
                dx = -g
            t = backtracking(f, x, dx, g, fx=fx)  # (4)
            if t == 0.0:
                message = f"line search found no decrease at iteration {k}"
                break
        x = x + t * dx  # (5)
        k += 1
        fx = float(_call(f, x, "f(x)", k, ()))
        g = _call(grad, x, "grad(x)", k, (n,))
        trace.append(x.copy())
        values.append(fx)
        steps.append(t)
        converged = bool(np.linalg.norm(g) <= tol)
        message = "gradient below tolerance" if converged else message
    if not converged and not message:
        message = f"no convergence in {max_iter} steps"
    return NewtonResult(x=float(x[0]) if shape == () else x, fun=fx, n_iter=k,
                        converged=converged, trace=np.array(trace).reshape(-1, *shape),
                        values=np.array(values), step_sizes=np.array(steps), message=message)


# --------------------------------------------------------------------------- convergence order

def convergence_orders(errors: ArrayLike) -> np.ndarray:
    """All estimates ``q_k`` of equation (6), one per three consecutive errors.

    Parameters
    ----------
    errors : array_like, shape (m,), m >= 3
        Positive errors ``e_0, e_1, ...``. Drop the zeros and rounding-level errors at the
        end of a run first: ``log(0)`` is undefined and noise has no order.

    Returns
    -------
    ndarray, shape (m - 2,)
        ``q_k = log(e_{k+1}/e_k) / log(e_k/e_{k-1})`` for ``k = 1, ..., m-2``.

    Raises
    ------
    ValueError
        If there are fewer than three errors, one is not positive and finite, or two
        consecutive errors are equal (the ratio's logarithm is 0: no order to read).
    """
    e = as_float_array(errors, "errors", ndim=1)
    if e.size < 3:
        raise ValueError(f"need at least 3 errors to estimate an order, got {e.size}")
    if np.any(e <= 0):
        raise ValueError("errors must be positive: drop the zero errors at the end of a run")
    log_ratio = np.diff(np.log(e))  # log(e_{k+1}/e_k)
    if np.any(log_ratio[:-1] == 0):
        raise ValueError("two consecutive errors are equal: the order is undefined")
    return log_ratio[1:] / log_ratio[:-1]  # (6)


def convergence_order(errors: ArrayLike) -> float:
    """Order of convergence from the last three errors, equation (6).

    The last estimate is the one closest to the asymptotic regime the order describes;
    see :func:`convergence_orders` for the input requirements and errors raised.
    """
    return float(convergence_orders(errors)[-1])


# --------------------------------------------------------------------------- evaluations

def _call(fn: Callable, x: np.ndarray | float, what: str, k: int,
          shape: tuple[int, ...]) -> np.ndarray:
    """``fn(x)`` as a finite float array of ``shape``, or a ValueError naming the iteration."""
    if not np.all(np.isfinite(x)):  # a step overflowed: there is no iterate to evaluate
        raise ValueError(f"the iterate became non-finite at iteration {k}: the method diverged")
    # Overflow inside the user's function becomes our ValueError below, not a RuntimeWarning.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            value = np.asarray(fn(x), dtype=float)
        except OverflowError as exc:  # Python floats raise instead of returning inf
            raise ValueError(f"{what} overflowed at iteration {k}") from exc
    size = int(np.prod(shape))
    if value.size != size:
        raise ValueError(f"{what} must have {size} element(s) (shape {shape}), "
                         f"got shape {value.shape} at iteration {k}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{what} is not finite (NaN or inf) at iteration {k}")
    return value.reshape(shape)


def _in_shape(fn: Callable, shape: tuple[int, ...]) -> Callable:
    """``fn`` for the method's vectors of n numbers: a scalar problem's ``fn`` gets a float."""
    if shape != ():
        return fn

    def on_float(z: np.ndarray):
        return fn(float(z[0]))

    return on_float
