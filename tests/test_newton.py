"""minnas.foundations.newton against scipy.optimize oracles, closed forms and properties."""

import numpy as np
import pytest
from scipy import optimize

from minnas.foundations.newton import (NewtonResult, backtracking, convergence_order,
                                       convergence_orders, newton_direction, newton_minimize,
                                       newton_root, newton_system)


def pseudo_huber():
    """f(x) = sqrt(1 + x^2): convex, minimum at 0; pure Newton maps x to -x^3."""
    f = lambda x: np.sqrt(1.0 + x**2)
    df = lambda x: x / np.sqrt(1.0 + x**2)
    d2f = lambda x: (1.0 + x**2) ** -1.5
    return f, df, d2f


# --------------------------------------------------------------------------- roots

@pytest.mark.parametrize("f, df, x0", [
    (lambda x: np.cos(x) - x, lambda x: -np.sin(x) - 1.0, 1.0),
    (lambda x: x**3 - 2 * x - 5, lambda x: 3 * x**2 - 2, 2.0),
    (lambda x: np.exp(x) - 3.0, lambda x: np.exp(x), -1.0),
])
def test_newton_root_matches_scipy(f, df, x0):
    res = newton_root(f, df, x0)
    ref = optimize.newton(f, x0, fprime=df, tol=1e-14)
    assert isinstance(res, NewtonResult) and res.converged
    assert res.x == pytest.approx(ref, abs=1e-12)
    assert abs(f(res.x)) < 1e-12
    assert res.trace[0] == x0 and res.trace[-1] == res.x
    assert len(res.trace) == len(res.values) == res.n_iter + 1


def test_newton_system_matches_scipy_root():
    def F(z):
        x, y = z
        return np.array([x**2 + y**2 - 4.0, np.exp(x) + y - 1.0])

    def J(z):
        x, _ = z
        return np.array([[2 * x, 2 * z[1]], [np.exp(x), 1.0]])

    x0 = np.array([1.0, -1.5])
    res = newton_system(F, J, x0)
    ref = optimize.root(F, x0, jac=J, tol=1e-14).x
    assert res.converged
    np.testing.assert_allclose(res.x, ref, atol=1e-10)
    np.testing.assert_allclose(res.x, optimize.fsolve(F, x0, fprime=J, xtol=1e-14), atol=1e-10)
    assert res.fun < 1e-12 and res.trace.shape == (res.n_iter + 1, 2)
    np.testing.assert_array_equal(res.trace[0], x0)


# --------------------------------------------------------------------------- minima

@pytest.mark.parametrize("x0", [[-1.2, 1.0], [2.0, -1.0, 0.5, 1.5, -0.7]])
def test_damped_newton_on_rosenbrock_matches_scipy(x0):
    res = newton_minimize(optimize.rosen, optimize.rosen_der, optimize.rosen_hess, x0)
    ref = optimize.minimize(optimize.rosen, x0, method="Newton-CG", jac=optimize.rosen_der,
                            hess=optimize.rosen_hess, options={"xtol": 1e-12})
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)
    np.testing.assert_allclose(res.x, np.ones(len(x0)), atol=1e-8)
    # the trace starts at x0, the line search never lets f increase (beyond rounding)
    np.testing.assert_array_equal(res.trace[0], x0)
    assert np.all(np.diff(res.values) <= 1e-14 * np.abs(res.values[:-1]))
    assert res.values[-1] == pytest.approx(res.fun)
    assert res.step_sizes.shape == (res.n_iter,) and np.all(res.step_sizes <= 1)


def test_quadratic_is_solved_in_one_step():
    rng = np.random.default_rng(3)
    M = rng.normal(size=(6, 6))
    A = M @ M.T + 6 * np.eye(6)
    b = rng.normal(size=6)
    f = lambda x: 0.5 * x @ A @ x - b @ x
    grad = lambda x: A @ x - b
    hess = lambda x: A
    x0 = rng.normal(size=6)
    for line_search in (True, False):
        res = newton_minimize(f, grad, hess, x0, tol=1e-9, line_search=line_search)
        assert res.n_iter == 1 and res.converged and res.step_sizes[0] == 1.0
        np.testing.assert_allclose(res.x, np.linalg.solve(A, b), atol=1e-10)
    ref = optimize.minimize(f, x0, method="Newton-CG", jac=grad, hess=hess)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)


def test_newton_step_on_least_squares_is_the_normal_equations():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    w0 = rng.normal(size=4)
    dx = newton_direction(X.T @ (X @ w0 - y), X.T @ X)
    np.testing.assert_allclose(w0 + dx, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-10)


def test_damping_converges_where_pure_newton_diverges():
    f, df, d2f = pseudo_huber()
    damped = newton_minimize(f, df, d2f, 1.5)
    assert damped.converged and abs(damped.x) < 1e-8
    assert isinstance(damped.x, float) and damped.trace.shape == (damped.n_iter + 1,)
    assert damped.trace[0] == 1.5 and damped.step_sizes[0] < 1  # the first step is damped
    pure = newton_minimize(f, df, d2f, 1.5, line_search=False, max_iter=3)
    np.testing.assert_allclose(pure.trace, [1.5, -1.5**3, 1.5**9, -(1.5**27)], rtol=1e-12)
    assert not pure.converged and "no convergence" in pure.message
    with pytest.raises(ValueError, match="iteration"):  # it runs away until floats give out
        newton_minimize(f, df, d2f, 1.5, line_search=False)


def test_damped_newton_does_not_stall_when_the_minimum_value_is_not_zero():
    # robust (pseudo-Huber) regression: f(w*) ~ 25, where the decrease promised by a full
    # step near w* is below the rounding error of f
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 2))
    b = A @ np.array([1.0, -0.5]) + 0.3 * rng.normal(size=20)
    f = lambda w: float(np.sum(np.sqrt(1 + (A @ w - b) ** 2)))
    grad = lambda w: A.T @ ((A @ w - b) / np.sqrt(1 + (A @ w - b) ** 2))
    hess = lambda w: A.T @ (A * ((1 + (A @ w - b) ** 2) ** -1.5)[:, None])
    ref = optimize.minimize(f, np.zeros(2), jac=grad, method="BFGS", options={"gtol": 1e-10}).x
    for w0 in ([-1.2, -7.2], [-5.2, -6.8], [6.0, -1.2], [8.0, 8.0]):
        res = newton_minimize(f, grad, hess, w0)
        assert res.converged and res.n_iter < 20, (w0, res.message)
        np.testing.assert_allclose(res.x, ref, atol=1e-7)
        assert np.all(np.diff(res.values) <= 1e-14 * np.abs(res.values[:-1]))


def test_non_descent_direction_falls_back_to_steepest_descent():
    # f = x^4/4 - x^2/2: maximum at 0, minima at +-1; f'' < 0 near 0
    f = lambda x: x**4 / 4 - x**2 / 2
    df = lambda x: x**3 - x
    d2f = lambda x: 3 * x**2 - 1
    pure = newton_minimize(f, df, d2f, 0.3, line_search=False)
    damped = newton_minimize(f, df, d2f, 0.3)
    assert pure.converged and abs(pure.x) < 1e-8  # pure Newton finds the maximum
    assert damped.converged and damped.x == pytest.approx(1.0, abs=1e-8)
    assert damped.step_sizes[0] > 0 and np.all(np.diff(damped.values) <= 1e-15)


def test_backtracking_armijo_property():
    rng = np.random.default_rng(0)
    A = np.diag([1.0, 50.0])
    f = lambda x: 0.5 * x @ A @ x
    for _ in range(20):
        x = rng.normal(size=2) * 3
        g = A @ x
        t = backtracking(f, x, -g, g)
        k = np.log2(1 / t)
        assert k == int(k), "t must be a power of 1/2"
        assert f(x - t * g) <= f(x) - 1e-4 * t * g @ g
        if t < 1:  # the previous trial 2t failed the test
            assert f(x - 2 * t * g) > f(x) - 1e-4 * 2 * t * g @ g
    # a Newton step on a quadratic always passes with t = 1
    assert backtracking(f, x, -np.linalg.solve(A, g), g) == 1.0


def test_backtracking_rejects_trials_outside_the_domain():
    f = lambda x: float(np.sum(x - np.log(x)))
    x = np.array([2.0])
    assert backtracking(f, x, np.array([-5.0]), np.array([0.5])) == 0.25


def test_backtracking_rejects_ascent_direction():
    with pytest.raises(ValueError, match="descent direction"):
        backtracking(lambda x: float(x @ x), np.ones(2), np.ones(2), 2 * np.ones(2))


def test_non_convergence_is_reported_not_raised():
    res = newton_minimize(optimize.rosen, optimize.rosen_der, optimize.rosen_hess,
                          [-1.2, 1.0], max_iter=2)
    assert not res.converged and res.n_iter == 2 and res.trace.shape == (3, 2)
    res = newton_root(lambda x: np.cos(x) - x, lambda x: -np.sin(x) - 1.0, 1.0, max_iter=1)
    assert not res.converged and res.n_iter == 1


# --------------------------------------------------------------------------- convergence order

def test_newton_converges_quadratically_gradient_descent_linearly():
    res = newton_root(lambda x: x**2 - 2.0, lambda x: 2 * x, 1.0)
    e = np.abs(res.trace - np.sqrt(2.0))
    e = e[e > 1e-14]  # rounding-level errors have no order
    assert convergence_order(e) == pytest.approx(2.0, abs=0.05)
    # gradient descent with step 1/L on a quadratic: e_{k+1} = (1 - mu/L) e_k
    x, errs = 1.0, []
    for _ in range(30):
        x -= 0.1 * (2.0 * x)  # f = x^2, L = 2, step 0.1
        errs.append(abs(x))
    assert convergence_order(errs) == pytest.approx(1.0, abs=1e-9)


def test_convergence_order_closed_form():
    # e_{k+1} = C e_k^q gives exactly q
    for q, C in [(1.618, 0.7), (3.0, 2.0)]:
        e = [0.1]
        for _ in range(3):
            e.append(C * e[-1] ** q)
        np.testing.assert_allclose(convergence_orders(e), q, rtol=1e-10)


def test_convergence_order_input_errors():
    with pytest.raises(ValueError, match="at least 3"):
        convergence_order([0.1, 0.01])
    with pytest.raises(ValueError, match="positive"):
        convergence_order([0.1, 0.01, 0.0])
    with pytest.raises(ValueError, match="equal"):
        convergence_order([0.1, 0.1, 0.01])


# --------------------------------------------------------------------------- errors

def test_zero_derivative_raises():
    with pytest.raises(ValueError, match="zero derivative.*iteration 0"):
        newton_root(lambda x: x**2 - 1.0, lambda x: 2 * x, 0.0)


def test_singular_hessian_and_jacobian_raise():
    f = lambda x: (x[0] + x[1]) ** 2
    grad = lambda x: 2 * (x[0] + x[1]) * np.ones(2)
    hess = lambda x: 2 * np.ones((2, 2))
    with pytest.raises(ValueError, match="singular Hessian at iteration 0"):
        newton_minimize(f, grad, hess, [1.0, 2.0])
    with pytest.raises(ValueError, match="singular Jacobian"):
        newton_system(lambda x: np.array([x[0] + x[1] - 1, 2 * x[0] + 2 * x[1]]),
                      lambda x: np.array([[1.0, 1.0], [2.0, 2.0]]), [0.0, 0.0])


def test_nan_raises_and_names_the_iteration():
    # Newton for log(x) = 1 from x0 = 10 jumps to x < 0, where log is NaN
    with pytest.raises(ValueError, match=r"f\(x\) is not finite .* iteration 1"):
        newton_root(lambda x: np.log(x) - 1.0, lambda x: 1.0 / x, 10.0)
    with pytest.raises(ValueError, match=r"grad\(x\) is not finite .* iteration 0"):
        newton_minimize(lambda x: float(x @ x), lambda x: np.array([np.nan, 0.0]),
                        lambda x: 2 * np.eye(2), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"hess\(x\) is not finite"):
        newton_minimize(lambda x: float(x @ x), lambda x: 2 * x,
                        lambda x: np.full((2, 2), np.inf), [1.0, 1.0])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        newton_system(lambda x: x, lambda x: np.eye(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x0 must be 0-D or 1-D"):
        newton_minimize(lambda x: 0.0, lambda x: x, lambda x: np.eye(1), [[1.0]])
    with pytest.raises(ValueError, match="x0 contains NaN"):
        newton_root(np.cos, np.sin, np.nan)
    with pytest.raises(ValueError, match=r"hess\(x\) must have 4 element"):
        newton_minimize(lambda x: float(x @ x), lambda x: 2 * x, lambda x: np.eye(3), [1.0, 1.0])
    with pytest.raises(ValueError, match="Hessian must have shape"):
        newton_direction(np.ones(3), np.eye(2))
