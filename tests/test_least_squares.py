"""minnas.foundations.least_squares against numpy.linalg and scikit-learn, plus properties."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import PolynomialFeatures

from minnas.foundations import least_squares as ls

SOLVERS = [ls.solve_normal_equations, ls.solve_qr, ls.solve_svd]
FULL_RANK_ONLY = [ls.solve_normal_equations, ls.solve_qr]


def lstsq(X, y):
    return np.linalg.lstsq(X, y, rcond=None)[0]


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ---------------------------------------------------------------------------- full rank
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(30, 1), (50, 4), (200, 12), (7, 7)])
@pytest.mark.parametrize("seed", [0, 1])
def test_solvers_match_lstsq_on_full_rank_designs(solver, shape, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=shape)
    y = rng.normal(size=shape[0])
    np.testing.assert_allclose(solver(X, y), lstsq(X, y), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda f: f.__name__)
def test_solvers_accept_several_targets(solver):
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 3))
    theta = solver(X, Y)
    assert theta.shape == (5, 3)
    np.testing.assert_allclose(theta, lstsq(X, Y), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda f: f.__name__)
def test_solvers_accept_lists_and_recover_an_exact_fit(solver):
    X = [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]
    y = [1.0, 3.0, 5.0]  # y = 1 + 2x exactly
    np.testing.assert_allclose(solver(X, y), [1.0, 2.0], atol=1e-12)


def test_residual_is_orthogonal_to_the_columns():
    # The geometry behind the normal equations: X theta is the projection of y onto range(X).
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(60, 6)), rng.normal(size=60)
    for solver in SOLVERS:
        r = y - X @ solver(X, y)
        assert np.abs(X.T @ r).max() < 1e-10 * np.linalg.norm(X) * np.linalg.norm(y)


# -------------------------------------------------------------------------- rank deficient
def rank_deficient_design(seed, n=30, p=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 3] = 2.0 * X[:, 0] - X[:, 1]  # column 3 depends on columns 0 and 1
    return X, rng.normal(size=n)


@pytest.mark.parametrize("seed", range(5))
def test_svd_gives_the_minimum_norm_solution_when_rank_deficient(seed):
    X, y = rank_deficient_design(seed)
    theta = ls.solve_svd(X, y)
    np.testing.assert_allclose(theta, lstsq(X, y), rtol=1e-8, atol=1e-10)
    # Any other minimiser differs by a null-space vector and has a larger norm.
    null = np.zeros(X.shape[1])
    null[[0, 1, 3]] = [2.0, -1.0, -1.0]
    assert np.allclose(X @ null, 0)
    assert np.linalg.norm(theta) < np.linalg.norm(theta + 0.1 * null)
    assert abs(theta @ null) < 1e-10  # the minimum-norm solution is orthogonal to the null space


def test_svd_solves_wide_designs_like_lstsq():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(5, 12)), rng.normal(size=5)
    theta = ls.solve_svd(X, y)
    np.testing.assert_allclose(theta, lstsq(X, y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(X @ theta, y, atol=1e-10)  # interpolates


def test_svd_of_a_zero_matrix_is_the_zero_vector():
    np.testing.assert_array_equal(ls.solve_svd(np.zeros((4, 3)), np.ones(4)), np.zeros(3))


def test_svd_rcond_truncates_small_singular_values():
    X = np.diag([1.0, 1e-6])
    theta = ls.solve_svd(X, [1.0, 1.0], rcond=1e-3)  # drops sigma = 1e-6
    np.testing.assert_allclose(theta, [1.0, 0.0])
    with pytest.raises(ValueError, match="rcond"):
        ls.solve_svd(X, [1.0, 1.0], rcond=-1.0)


@pytest.mark.parametrize("solver", FULL_RANK_ONLY, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", range(5))
def test_full_rank_solvers_refuse_rank_deficient_designs(solver, seed):
    X, y = rank_deficient_design(seed)
    with pytest.raises(ValueError, match=r"rank-deficient.*cond\(X\).*solve_svd"):
        solver(X, y)


@pytest.mark.parametrize("solver", FULL_RANK_ONLY, ids=lambda f: f.__name__)
def test_full_rank_solvers_name_a_duplicated_column(solver):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 3)) * [1.0, 1e3, 1e-3]  # scaling must not hide or fake dependence
    X = np.column_stack([X, X[:, 1]])
    with pytest.raises(ValueError, match="column 3"):
        solver(X, rng.normal(size=20))
    ls.solve_svd(X, rng.normal(size=20))  # badly scaled but the first three columns are fine
    ls.solve_qr(X[:, :3], rng.normal(size=20))


@pytest.mark.parametrize("solver", FULL_RANK_ONLY, ids=lambda f: f.__name__)
def test_full_rank_solvers_refuse_wide_designs_and_zero_columns(solver):
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="more columns"):
        solver(rng.normal(size=(3, 5)), rng.normal(size=3))
    X = rng.normal(size=(10, 3))
    X[:, 1] = 0.0
    with pytest.raises(ValueError, match="rank-deficient"):
        solver(X, rng.normal(size=10))


# ------------------------------------------------------------------------ ill conditioned
@pytest.mark.parametrize("seed", range(4))
def test_normal_equations_lose_accuracy_on_an_ill_conditioned_vandermonde(seed):
    # Degree-12 Vandermonde on [-1, 1]: cond(X) ~ 1e4, so eps*cond(X)^2 ~ 1e-8
    # while eps*cond(X) ~ 1e-12.
    rng = np.random.default_rng(seed)
    X = ls.polynomial_features(np.sort(rng.uniform(-1, 1, 60)), 12)
    theta_true = rng.normal(size=13)
    y = X @ theta_true  # zero residual: QR's error is then governed by cond(X), not cond(X)^2
    assert 1e3 < ls.condition_number(X) < 1e6
    err = {f.__name__: relative_error(f(X, y), theta_true) for f in SOLVERS}
    assert err["solve_qr"] < 1e-10 and err["solve_svd"] < 1e-10, err
    # The normal equations are still usable, but visibly worse.
    assert err["solve_normal_equations"] < 1e-4, err
    assert err["solve_normal_equations"] > 30 * max(err["solve_qr"], err["solve_svd"]), err


def test_normal_equations_refuse_when_cond_squared_exceeds_precision():
    X = ls.polynomial_features(np.linspace(0, 1, 50), 14)  # cond(X) ~ 2e10, cond^2 >> 1/eps
    y = X @ np.ones(15)
    with pytest.raises(ValueError, match="too ill-conditioned"):
        ls.solve_normal_equations(X, y)
    assert relative_error(ls.solve_qr(X, y), np.ones(15)) < 1e-4


# ------------------------------------------------------------------------ condition number
@pytest.mark.parametrize("shape", [(20, 3), (5, 5), (3, 8)])
def test_condition_number_matches_numpy(shape):
    rng = np.random.default_rng(7)
    X = rng.normal(size=shape) @ np.diag(np.logspace(0, 3, shape[1]))
    assert ls.condition_number(X) == pytest.approx(np.linalg.cond(X), rel=1e-10)


def test_condition_number_of_singular_and_squared_matrices():
    assert ls.condition_number([[1.0, 0.0], [0.0, 0.0]]) == np.inf
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 4)) * [1, 10, 100, 1000]
    assert ls.condition_number(X.T @ X) == pytest.approx(ls.condition_number(X) ** 2, rel=1e-8)


# ---------------------------------------------------------------------------------- ridge
@pytest.mark.parametrize("lam", [1e-3, 0.5, 10.0, 1e4])
@pytest.mark.parametrize("shape", [(40, 5), (6, 15)])
def test_ridge_matches_sklearn(lam, shape):
    rng = np.random.default_rng(9)
    X, y = rng.normal(size=shape), rng.normal(size=shape[0])
    expected = Ridge(alpha=lam, fit_intercept=False, solver="svd").fit(X, y).coef_
    np.testing.assert_allclose(ls.ridge(X, y, lam), expected, rtol=1e-8, atol=1e-12)


def test_ridge_with_several_targets_matches_sklearn():
    rng = np.random.default_rng(10)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    expected = Ridge(alpha=2.0, fit_intercept=False, solver="svd").fit(X, Y).coef_.T
    np.testing.assert_allclose(ls.ridge(X, Y, 2.0), expected, rtol=1e-8, atol=1e-12)


def test_ridge_at_zero_is_least_squares_and_shrinks_with_lambda():
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(50, 6)), rng.normal(size=50)
    np.testing.assert_allclose(ls.ridge(X, y, 0.0), lstsq(X, y), rtol=1e-8)
    norms = [np.linalg.norm(ls.ridge(X, y, lam)) for lam in [0.0, 0.1, 1.0, 10.0, 100.0, 1e4]]
    assert np.all(np.diff(norms) < 0), norms  # ||theta_lambda|| decreases strictly in lambda


def test_ridge_solves_rank_deficient_designs_for_positive_lambda():
    X, y = rank_deficient_design(12)
    theta = ls.ridge(X, y, 1e-2)
    np.testing.assert_allclose((X.T @ X + 1e-2 * np.eye(6)) @ theta, X.T @ y, atol=1e-10)
    with pytest.raises(ValueError, match="rank-deficient"):
        ls.ridge(X, y, 0.0)


@pytest.mark.parametrize("lam", [-1.0, np.nan, np.inf])
def test_ridge_rejects_bad_lambda(lam):
    with pytest.raises(ValueError, match="lam must be"):
        ls.ridge(np.eye(3), np.ones(3), lam)


# ------------------------------------------------------------------------ gradient descent
@pytest.mark.parametrize("seed", range(3))
def test_gradient_descent_converges_to_lstsq(seed):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(100, 5)), rng.normal(size=100)
    result = ls.gradient_descent(X, y, tol=1e-12, max_iter=5000)
    assert result.converged and result.n_iter < 5000
    np.testing.assert_allclose(result.theta, lstsq(X, y), rtol=1e-7, atol=1e-9)
    assert len(result.history) == result.n_iter + 1
    assert result.history[-1] == pytest.approx(ls.squared_error(X, y, lstsq(X, y)), rel=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_gradient_descent_loss_never_increases_with_step_one_over_L(seed):
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(5, 80)), int(rng.integers(1, 10))
    X = rng.normal(size=(n, p)) * rng.uniform(0.1, 10, size=p)  # uneven scales: slow, not unstable
    y = rng.normal(size=n)
    result = ls.gradient_descent(X, y, max_iter=300, tol=0.0)
    h = result.history
    assert np.all(np.diff(h) <= 1e-12 * h[0]), np.diff(h).max()
    assert result.step_size == pytest.approx(n / np.linalg.eigvalsh(X.T @ X).max(), rel=1e-10)


def test_gradient_descent_with_too_large_a_step_diverges():
    rng = np.random.default_rng(13)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    step = 2.5 * ls.gradient_descent(X, y, max_iter=0).step_size  # beyond 2/L
    result = ls.gradient_descent(X, y, step_size=step, max_iter=50)
    assert result.history[-1] > result.history[0] and not result.converged


def test_gradient_descent_options():
    rng = np.random.default_rng(14)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    result = ls.gradient_descent(X, Y, max_iter=7, tol=0.0)
    assert result.n_iter == 7 and result.history.shape == (8,) and not result.converged
    assert result.theta.shape == (3, 2)
    start = lstsq(X, Y)
    at_solution = ls.gradient_descent(X, Y, theta0=start, tol=1e-8)
    assert at_solution.n_iter == 0 and at_solution.converged
    with pytest.raises(ValueError, match="theta0 must have shape"):
        ls.gradient_descent(X, Y, theta0=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="step_size"):
        ls.gradient_descent(X, Y, step_size=-1.0)
    with pytest.raises(ValueError, match="all zeros"):
        ls.gradient_descent(np.zeros((4, 2)), np.ones(4))


def test_squared_error_is_half_the_mean_squared_residual():
    rng = np.random.default_rng(15)
    X, y, theta = rng.normal(size=(25, 3)), rng.normal(size=25), rng.normal(size=3)
    assert ls.squared_error(X, y, theta) == pytest.approx(np.mean((X @ theta - y) ** 2) / 2)


# ------------------------------------------------------------------- features, triangular
@pytest.mark.parametrize("degree", [0, 1, 3, 7])
def test_polynomial_features_match_vander_and_sklearn(degree):
    x = np.random.default_rng(16).uniform(-2, 2, 9)
    V = ls.polynomial_features(x, degree)
    np.testing.assert_allclose(V, np.vander(x, degree + 1, increasing=True))
    np.testing.assert_allclose(V, PolynomialFeatures(degree).fit_transform(x[:, None]), rtol=1e-12)


@pytest.mark.parametrize("degree, match", [(-1, ">= 0"), (2.5, "integer"), (True, "integer")])
def test_polynomial_features_reject_bad_degrees(degree, match):
    with pytest.raises(ValueError, match=match):
        ls.polynomial_features([0.0, 1.0], degree)


def test_triangular_solves_match_numpy():
    rng = np.random.default_rng(17)
    A = rng.normal(size=(6, 6)) + 6 * np.eye(6)
    b = rng.normal(size=(6, 2))
    L, R = np.tril(A), np.triu(A)
    np.testing.assert_allclose(ls.forward_substitution(L, b), np.linalg.solve(L, b))
    np.testing.assert_allclose(ls.back_substitution(R, b), np.linalg.solve(R, b))
    with pytest.raises(ValueError, match="square"):
        ls.back_substitution(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="singular"):
        ls.back_substitution(np.diag([1.0, 0.0]), np.ones(2))


# ------------------------------------------------------------------------ input validation
ALL_FITS = [
    ls.solve_normal_equations,
    ls.solve_qr,
    ls.solve_svd,
    lambda X, y: ls.ridge(X, y, 1.0),
    lambda X, y: ls.gradient_descent(X, y, max_iter=3),
]


@pytest.mark.parametrize("fit", ALL_FITS)
@pytest.mark.parametrize("X, y, match", [
    (np.ones(5), np.ones(5), "X must be 2-D"),
    (np.ones((5, 2, 1)), np.ones(5), "X must be 2-D"),
    (np.ones((5, 2)), np.ones(4), "5 rows but y has 4"),
    (np.ones((5, 2)), np.ones((5, 1, 1)), "y must be 1-D or 2-D"),
    (np.ones((0, 2)), np.ones(0), "X is empty"),
    (np.ones((5, 0)), np.ones(5), "X is empty"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2), "NaN or infinite"),
    (np.eye(2), np.array([1.0, np.inf]), "NaN or infinite"),
    ([["a", "b"], ["c", "d"]], np.ones(2), "numeric"),
])
def test_bad_inputs_raise_clear_errors(fit, X, y, match):
    with pytest.raises(ValueError, match=match):
        fit(X, y)


def test_bad_inputs_to_helpers():
    with pytest.raises(ValueError, match="x must be 1-D"):
        ls.polynomial_features(np.ones((3, 2)), 2)
    with pytest.raises(ValueError, match="x is empty"):
        ls.polynomial_features([], 2)
    with pytest.raises(ValueError, match="NaN"):
        ls.condition_number([[1.0, np.nan]])
