"""minnas.hpo.gp against scikit-learn's GaussianProcessRegressor and finite differences."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, Matern, WhiteKernel
from sklearn.gaussian_process.kernels import ConstantKernel as C

from minnas.hpo import gp as gpm
from minnas.hpo.gp import GaussianProcess, cholesky_with_jitter, matern52, rbf

ELL = np.array([0.3, 0.5, 0.9])
VAR, NOISE = 1.7, 1e-3


def data(seed=0, n=20, d=3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = 5 * np.sin(3 * X).sum(axis=1) + 2 + 0.05 * rng.standard_normal(n)
    return X, y, rng.random((7, d))


def sk_kernel(kernel, ell=ELL, var=VAR):
    base = Matern(ell, nu=2.5) if kernel == "matern52" else RBF(ell)
    return C(var) * base


def fixed_gp(kernel, normalize_y, X, y, noise=NOISE):
    return GaussianProcess(kernel, lengthscales=ELL, variance=VAR, noise=noise,
                           normalize_y=normalize_y, optimize=False).fit(X, y)


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


# ------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("kernel, sk", [(matern52, Matern(ELL, nu=2.5)), (rbf, RBF(ELL))],
                         ids=["matern52", "rbf"])
def test_kernels_match_sklearn(kernel, sk):
    X1, _, X2 = data()
    np.testing.assert_allclose(kernel(X1, X2, ELL, VAR), VAR * sk(X1, X2), rtol=1e-12)
    np.testing.assert_allclose(kernel(X1, None, ELL), sk(X1), rtol=1e-12)
    # a scalar lengthscale is the isotropic kernel
    np.testing.assert_allclose(kernel(X1, X2, 0.4), kernel(X1, X2, [0.4] * 3), rtol=1e-14)


# ------------------------------------------------------------------ posterior vs sklearn
@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
@pytest.mark.parametrize("normalize_y", [True, False])
def test_posterior_matches_sklearn_at_fixed_hyperparameters(kernel, normalize_y):
    X, y, Xs = data()
    ours = fixed_gp(kernel, normalize_y, X, y)
    theirs = GaussianProcessRegressor(sk_kernel(kernel), alpha=NOISE, optimizer=None,
                                      normalize_y=normalize_y).fit(X, y)
    mean, std = ours.predict(Xs)
    sk_mean, sk_std = theirs.predict(Xs, return_std=True)
    np.testing.assert_allclose(mean, sk_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(std, sk_std, rtol=1e-7, atol=1e-9)
    _, cov = ours.predict(Xs, return_std=False, return_cov=True)
    np.testing.assert_allclose(cov, theirs.predict(Xs, return_cov=True)[1], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.predict(Xs, return_std=False), sk_mean, rtol=1e-9, atol=1e-9)


def test_predicted_std_excludes_the_noise_that_a_white_kernel_adds():
    # sklearn's WhiteKernel puts the noise into predictions too; our std is that of f only.
    X, y, Xs = data(1)
    ours = fixed_gp("matern52", True, X, y, noise=0.01)
    theirs = GaussianProcessRegressor(sk_kernel("matern52") + WhiteKernel(0.01), alpha=0.0,
                                      optimizer=None, normalize_y=True).fit(X, y)
    _, std = ours.predict(Xs)
    _, sk_std = theirs.predict(Xs, return_std=True)
    np.testing.assert_allclose(std ** 2 + 0.01 * ours.y_std_ ** 2, sk_std ** 2, rtol=1e-7)


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
@pytest.mark.parametrize("normalize_y", [True, False])
def test_log_marginal_likelihood_matches_sklearn(kernel, normalize_y):
    X, y, _ = data(2)
    ours = fixed_gp(kernel, normalize_y, X, y)
    theirs = GaussianProcessRegressor(sk_kernel(kernel) + WhiteKernel(NOISE), alpha=0.0,
                                      optimizer=None, normalize_y=normalize_y).fit(X, y)
    rng = np.random.default_rng(0)
    for _ in range(3):  # at several hyperparameters, not only the ones fitted
        theta = np.log(np.r_[ELL, VAR, NOISE]) + 0.5 * rng.standard_normal(5)
        sk_theta = np.r_[theta[3], theta[:3], theta[4]]  # sklearn: (variance, lengthscales, noise)
        np.testing.assert_allclose(ours.log_marginal_likelihood(theta),
                                   theirs.log_marginal_likelihood(sk_theta), rtol=1e-9)
    assert ours.log_marginal_likelihood() == pytest.approx(ours.log_marginal_likelihood_value_)


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
@pytest.mark.parametrize("normalize_y", [True, False])
def test_log_marginal_likelihood_gradient_matches_finite_differences(kernel, normalize_y):
    X, y, _ = data(3)
    model = fixed_gp(kernel, normalize_y, X, y, noise=0.01)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = np.log(np.r_[ELL, VAR, 0.01]) + 0.3 * rng.standard_normal(5)
        _, grad = model.log_marginal_likelihood(theta, eval_gradient=True)
        numeric = approx_fprime(theta, model.log_marginal_likelihood, 1e-6)
        assert relative_error(grad, numeric) < 1e-5
        # and against sklearn's analytic gradient, reordered
        sk = GaussianProcessRegressor(sk_kernel(kernel) + WhiteKernel(0.01), alpha=0.0,
                                      optimizer=None, normalize_y=normalize_y).fit(X, y)
        _, sk_grad = sk.log_marginal_likelihood(np.r_[theta[3], theta[:3], theta[4]],
                                                eval_gradient=True)
        np.testing.assert_allclose(grad, np.r_[sk_grad[1:4], sk_grad[0], sk_grad[4]],
                                   rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
def test_predict_gradient_matches_finite_differences(kernel):
    X, y, Xs = data(4)
    model = fixed_gp(kernel, True, X, y)
    mean, std, dmean, dstd = model.predict_gradient(Xs)
    m2, s2 = model.predict(Xs)
    np.testing.assert_allclose(mean, m2, rtol=1e-10)
    np.testing.assert_allclose(std, s2, rtol=1e-8)
    for i, x in enumerate(Xs):
        num_mean = approx_fprime(x, lambda u: model.predict(u[None])[0][0], 1e-7)
        num_std = approx_fprime(x, lambda u: model.predict(u[None])[1][0], 1e-7)
        assert relative_error(dmean[i], num_mean) < 1e-5
        assert relative_error(dstd[i], num_std) < 1e-4


# ------------------------------------------------------------------------------ fitting
def test_fit_increases_the_likelihood_and_stays_within_bounds():
    X, y, _ = data(5, n=25)
    start = GaussianProcess(optimize=False).fit(X, y)
    fitted = GaussianProcess(seed=0).fit(X, y)
    assert fitted.log_marginal_likelihood_value_ > start.log_marginal_likelihood_value_ + 1.0
    assert np.all((fitted.lengthscales_ >= gpm.LENGTHSCALE_BOUNDS[0] * (1 - 1e-9))
                  & (fitted.lengthscales_ <= gpm.LENGTHSCALE_BOUNDS[1] * (1 + 1e-9)))
    assert gpm.NOISE_BOUNDS[0] * (1 - 1e-9) <= fitted.noise_ <= gpm.NOISE_BOUNDS[1] * (1 + 1e-9)
    # without the prior, the fit is a maximum of the likelihood: no better point nearby
    ml = GaussianProcess(seed=0, prior=False).fit(X, y)
    lml, grad = ml.log_marginal_likelihood(eval_gradient=True)
    bounds = ml._bounds(X.shape[1])
    free = (ml.theta_ > bounds[:, 0] + 1e-6) & (ml.theta_ < bounds[:, 1] - 1e-6)
    assert np.abs(grad[free]).max() < 1e-2
    assert lml >= fitted.log_marginal_likelihood_value_ - 1e-9


def test_fit_is_deterministic_under_a_seed_and_recovers_a_smooth_function():
    X, y, Xs = data(6, n=30)
    a = GaussianProcess(seed=3).fit(X, y)
    b = GaussianProcess(seed=3).fit(X, y)
    np.testing.assert_array_equal(a.theta_, b.theta_)
    truth = 5 * np.sin(3 * Xs).sum(axis=1) + 2
    mean, std = a.predict(Xs)
    assert np.abs(mean - truth).max() < 0.1 * np.ptp(y)
    assert np.all(np.abs(mean - truth) < 3 * std)  # the error bars cover the truth


def test_prior_mean_is_where_the_posterior_returns_far_from_the_data():
    X, y, _ = data(7)
    far = np.full((1, 3), 50.0)  # 50 lengthscales away
    for prior_mean, value in [("mean", y.mean()), ("max", y.max()), (1.5, 1.5)]:
        model = GaussianProcess(lengthscales=ELL, optimize=False, prior_mean=prior_mean).fit(X, y)
        assert model.predict(far, return_std=False)[0] == pytest.approx(value, abs=1e-9)


# ---------------------------------------------------------------------- jitter, sampling
def test_jitter_makes_a_duplicated_point_kernel_factorisable():
    rng = np.random.default_rng(0)
    X = rng.random((10, 2))
    X = np.vstack([X, X[:3]])  # three duplicated rows: K is exactly singular
    K = matern52(X, None, 0.3)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(K)
    L, jitter = cholesky_with_jitter(K)
    assert jitter > 0
    np.testing.assert_allclose(L @ L.T, K + jitter * np.eye(len(K)), atol=1e-12)
    # a well-conditioned matrix needs none
    assert cholesky_with_jitter(K[:10, :10] + 0.1 * np.eye(10))[1] == 0.0
    # and a GP with zero noise on duplicated inputs still predicts
    y = np.sin(6 * X[:, 0])
    model = GaussianProcess(lengthscales=0.3, noise=0.0, optimize=False).fit(X, y)
    assert model.jitter_ > 0
    mean, std = model.predict(X)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    np.testing.assert_allclose(mean, y, atol=1e-3)


def test_cholesky_with_jitter_gives_a_clear_error_for_an_indefinite_matrix():
    with pytest.raises(ValueError, match="not positive definite"):
        cholesky_with_jitter(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        cholesky_with_jitter(np.ones((2, 3)))


def test_posterior_samples_have_the_predicted_mean_and_covariance():
    X, y, Xs = data(8, n=12)
    model = fixed_gp("matern52", True, X, y, noise=0.01)
    Xs = Xs[:4]
    samples = model.sample_y(Xs, n_samples=20000, seed=0)
    assert samples.shape == (4, 20000)
    mean, cov = model.predict(Xs, return_std=False, return_cov=True)
    sd = np.sqrt(np.diag(cov))
    # Monte-Carlo error of the mean ~ sd / sqrt(20000) < 1% of sd
    np.testing.assert_array_less(np.abs(samples.mean(axis=1) - mean), 0.03 * sd)
    np.testing.assert_allclose(np.cov(samples), cov, atol=0.05 * sd.max() ** 2)
    np.testing.assert_array_equal(samples[:, :5], model.sample_y(Xs, 20000, seed=0)[:, :5])
    # sampling at training inputs (posterior variance ~0) works too
    assert np.all(np.isfinite(model.sample_y(X, 3, seed=1)))


# ------------------------------------------------------------------------------ errors
def test_errors_on_bad_input():
    X, y, Xs = data()
    with pytest.raises(ValueError, match="rows but y has"):
        GaussianProcess().fit(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        GaussianProcess().fit(X, np.r_[y[:-1], np.nan])
    with pytest.raises(ValueError, match="unknown kernel"):
        GaussianProcess(kernel="cubic")
    with pytest.raises(ValueError, match="not fitted"):
        GaussianProcess().predict(Xs)
    model = GaussianProcess(optimize=False).fit(X, y)
    with pytest.raises(ValueError, match="columns"):
        model.predict(Xs[:, :2])
    with pytest.raises(ValueError, match="either"):
        model.predict(Xs, return_std=True, return_cov=True)
    with pytest.raises(ValueError, match="params must have shape"):
        model.log_marginal_likelihood(np.zeros(2))
    with pytest.raises(ValueError, match="lengthscales"):
        GaussianProcess(lengthscales=[0.5, 0.5]).fit(X, y)
    with pytest.raises(ValueError, match="lengthscales must be > 0"):
        matern52(X, None, [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="columns"):
        rbf(X, Xs[:, :2], 1.0)
    with pytest.raises(ValueError, match="prior_mean"):
        GaussianProcess(prior_mean="median")
