"""minnas.hpo.warmstart: PMF against low-rank truth and least-squares oracles; kNN against
scikit-learn's NearestNeighbors; the ask/tell loops over a finite set of configurations."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import comb
from sklearn.linear_model import Ridge
from sklearn.neighbors import NearestNeighbors

from minnas.hpo.bayesopt import BayesianOptimizer
from minnas.hpo.metafeatures import task_distances
from minnas.hpo.metadataset import MetaDataset, load_metadataset
from minnas.hpo.space import Categorical, Real, Space
from minnas.hpo.warmstart import (PMF, PMFOptimizer, best_on_average, knn_warm_start,
                                  normalize_errors)


def low_rank_tasks(T=30, C=40, rank=2, seed=0):
    """Errors y_tc = m_t + s_t (u_t . v_c): low rank up to each task's offset and scale."""
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((T, rank)), rng.standard_normal((C, rank))
    offset, scale = rng.uniform(0.1, 0.4, T), rng.uniform(0.02, 0.1, T)
    return offset[:, None] + scale[:, None] * (U @ V.T), V


def synthetic_meta(T=25, C=30, F=4, seed=0):
    """A small meta-dataset: a 2-D space, C configurations, T tasks, F meta-features."""
    rng = np.random.default_rng(seed)
    space = Space({"C": Real(1e-3, 1e3, log=True), "kernel": Categorical(["rbf", "linear"])})
    configs = list({tuple(sorted(x.items())): x for x in space.sample(C + 10, seed=seed)}
                   .values())[:C]
    errors, _ = low_rank_tasks(T, C, seed=seed)
    return MetaDataset(task_names=[f"task{t}" for t in range(T)], space=space, configs=configs,
                       errors=errors, metafeatures=rng.standard_normal((T, F)) * [1, 10, 100, 0.1],
                       metafeature_names=[f"f{i}" for i in range(F)])


# ------------------------------------------------------------------------ normalisation
def test_normalize_errors_z_scores_each_task_and_keeps_missing_entries():
    Y = np.array([[0.1, 0.3, np.nan, 0.2], [0.5, 0.5, 0.5, 0.5]])
    Z, mean, std = normalize_errors(Y)
    np.testing.assert_allclose(mean, [0.2, 0.5])
    np.testing.assert_allclose(std, [np.std([0.1, 0.3, 0.2]), 1.0])  # a constant row: s = 1
    np.testing.assert_allclose(Z[0], [-np.sqrt(1.5), np.sqrt(1.5), np.nan, 0.0],
                               atol=1e-12)
    np.testing.assert_array_equal(Z[1], 0.0)


# ----------------------------------------------------------------------- best on average
def test_best_on_average_is_the_order_of_mean_ranks():
    rng = np.random.default_rng(1)
    Y = rng.integers(0, 6, size=(7, 9)) / 10  # many ties within tasks
    T, C = Y.shape
    mean_rank = np.zeros(C)
    for t in range(T):  # rank = 1 + (number strictly lower) + (ties - 1) / 2
        for c in range(C):
            mean_rank[c] += 1 + np.sum(Y[t] < Y[t, c]) + (np.sum(Y[t] == Y[t, c]) - 1) / 2
    expected = sorted(range(C), key=lambda c: (mean_rank[c], c))
    assert best_on_average(Y) == expected
    assert best_on_average(Y, 3) == expected[:3]


# ---------------------------------------------------------------------------- kNN (3)
def nearest_tasks(meta, target, train, k=3):
    """Oracle: z-score with the training tasks' statistics, then L1 nearest neighbours."""
    M = meta.metafeatures
    mu, sd = M[train].mean(axis=0), M[train].std(axis=0)
    nn = NearestNeighbors(n_neighbors=k, metric="manhattan").fit((M[train] - mu) / sd)
    return np.asarray(train)[nn.kneighbors(((M[target] - mu) / sd)[None])[1][0]]


def test_knn_warm_start_takes_the_best_configs_of_the_nearest_tasks_in_turn():
    meta = synthetic_meta()
    target, train = 4, [t for t in range(25) if t != 4]
    M = meta.metafeatures
    neighbours = nearest_tasks(meta, target, train)
    ranked = np.argsort(meta.errors[neighbours], axis=1)
    interleaved = list(dict.fromkeys(ranked.T.reshape(-1).tolist()))  # drop repeats, keep order
    design = knn_warm_start(meta, M[target], train, k=3, n_configs=6)
    assert design == interleaved[:6]
    assert design[:1] == [ranked[0, 0]]  # the nearest task's best configuration comes first
    assert knn_warm_start(meta, M[target], train, k=1, n_configs=4) == ranked[0, :4].tolist()


def test_knn_default_design_is_the_best_configuration_of_each_of_the_3_nearest_tasks():
    # The defaults chosen on the tuning split (benchmarks/warmstart.py --tune): k = n_configs = 3.
    meta = synthetic_meta()
    target, train = 9, [t for t in range(25) if t != 9]
    best = np.argmin(meta.errors[nearest_tasks(meta, target, train)], axis=1).tolist()
    assert len(set(best)) == 3  # this example has no shared optimum
    assert knn_warm_start(meta, meta.metafeatures[target], train) == best


def test_defaults_are_the_ones_chosen_on_the_tuning_split():
    import inspect

    knn = inspect.signature(knn_warm_start).parameters
    assert (knn["k"].default, knn["n_configs"].default) == (3, 3)
    pmf = PMF()
    assert (pmf.n_latent, pmf.lam) == (5, 0.1)


def test_knn_warm_start_skips_a_configuration_two_neighbours_share():
    meta = synthetic_meta()
    errors, metafeatures = meta.errors.copy(), np.zeros((25, 2))
    metafeatures[:, 0] = np.arange(25)  # task t is at distance |t - target|
    errors[[1, 2], 7] = -1.0  # tasks 1 and 2 share their best configuration, 7
    meta = replace(meta, errors=errors, metafeatures=metafeatures, metafeature_names=["a", "b"])
    design = knn_warm_start(meta, np.array([0.0, 0.0]), range(1, 25), k=2, n_configs=3)
    second = [int(np.argsort(meta.errors[t])[1]) for t in (1, 2)]
    assert design == list(dict.fromkeys([7, *second]))[:3]


# ------------------------------------------------------------------------------ PMF (4)-(8)
def test_pmf_recovers_a_low_rank_matrix_with_missing_entries():
    Y, _ = low_rank_tasks(T=30, C=40, rank=2, seed=0)
    missing = np.random.default_rng(1).random(Y.shape) < 0.3
    pmf = PMF(n_latent=3, lam=0.1, seed=0).fit(np.where(missing, np.nan, Y))
    rmse = np.sqrt(np.mean((pmf.reconstruct() - Y)[missing] ** 2))
    # baseline that knows each task's offset: its mean over the observed entries
    row_mean = np.nanmean(np.where(missing, np.nan, Y), axis=1)
    baseline = np.sqrt(np.mean((row_mean[:, None] - Y)[missing] ** 2))
    assert rmse < 0.05 * baseline
    assert np.all(np.diff(pmf.objective_) <= 1e-9 * pmf.objective_[0])  # ALS never goes up
    assert pmf.U_.shape == (30, 3) and pmf.V_.shape == (40, 3)
    again = PMF(n_latent=3, lam=0.1, seed=0).fit(np.where(missing, np.nan, Y))
    np.testing.assert_array_equal(again.V_, pmf.V_)  # same seed, same factors


def test_infer_task_is_bayesian_linear_regression_on_the_config_features():
    Y, V = low_rank_tasks(T=30, C=40, rank=2, seed=2)
    pmf = PMF(n_latent=3, seed=0).fit(Y[1:])
    rng = np.random.default_rng(3)
    idx = rng.choice(40, size=6, replace=False)
    observed = {int(i): float(Y[0, i]) for i in idx}
    mean, std = pmf.infer_task(observed)
    Phi, (theta0, S0), sigma2 = pmf.features(), pmf.prior(), pmf.noise_
    y = (Y[0, idx] - pmf.offset_) / pmf.scale_  # the units of a typical task
    # weight space (Bishop 3.50-3.51):
    # min |y - Phi theta|^2 / sigma2 + (theta - theta0)' S0^-1 (...)
    R = np.linalg.cholesky(np.linalg.inv(S0)).T  # R'R = S0^-1
    A = np.vstack([Phi[idx] / np.sqrt(sigma2), R])
    b = np.concatenate([y / np.sqrt(sigma2), R @ theta0])
    theta = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(mean, pmf.offset_ + pmf.scale_ * Phi @ theta, rtol=1e-6, atol=1e-9)
    SN = np.linalg.inv(np.linalg.inv(S0) + Phi[idx].T @ Phi[idx] / sigma2)
    np.testing.assert_allclose(std, pmf.scale_ * np.sqrt(np.einsum("ck,kl,cl->c", Phi, SN, Phi)),
                               rtol=1e-5)
    # the same as ridge regression (alpha = sigma2) after whitening the prior
    W = np.linalg.cholesky(S0)  # theta = theta0 + W beta, beta ~ N(0, I)
    ridge = Ridge(alpha=sigma2, fit_intercept=False).fit(Phi[idx] @ W, y - Phi[idx] @ theta0)
    np.testing.assert_allclose(theta, theta0 + W @ ridge.coef_, rtol=1e-6, atol=1e-9)
    # no observations: the prior mean, and more evidence shrinks the uncertainty
    prior_mean, prior_std = pmf.infer_task({})
    np.testing.assert_allclose(prior_mean, pmf.offset_ + pmf.scale_ * Phi @ theta0)
    assert np.all(std <= prior_std + 1e-12)
    # with enough observations the new task is predicted well
    mean_all, _ = pmf.infer_task({i: float(Y[0, i]) for i in range(0, 40, 2)})
    assert np.corrcoef(mean_all[1::2], Y[0, 1::2])[0, 1] > 0.95


# ------------------------------------------------------------------------- PMF + EI (9)
def test_pmf_optimizer_never_repeats_is_deterministic_and_finds_the_best_quickly():
    Y, _ = low_rank_tasks(T=31, C=40, rank=2, seed=4)
    pmf = PMF(n_latent=3, seed=0).fit(Y[1:])

    def run(n):
        opt = PMFOptimizer(pmf, seed=0)
        for _ in range(n):
            c = opt.ask()
            assert opt.ask() == c  # asking twice gives the same index
            opt.tell(c, Y[0, c])
        return opt

    opt = run(40)
    assert sorted(opt.indices) == list(range(40))  # every configuration exactly once
    assert opt.indices == run(40).indices  # deterministic
    assert opt.indices[0] == int(np.argmin(pmf.infer_task({})[0]))  # first: lowest prior mean
    assert opt.indices[:10].count(int(np.argmin(Y[0]))) == 1  # the best within 10 of 40
    assert opt.best == (int(np.argmin(Y[0])), float(Y[0].min()))
    step = opt.history_[3]  # a model step picks the largest EI among the unevaluated
    assert step.index == int(np.argmax(step.acquisition))
    assert np.all(np.isneginf(step.acquisition[opt.indices[:3]]))
    with pytest.raises(ValueError, match="all 40 configurations"):
        opt.ask()


def test_knn_warm_bo_starts_with_the_design_and_proposes_only_new_candidates():
    meta = synthetic_meta()
    train = list(range(1, 25))
    design = knn_warm_start(meta, meta.metafeatures[0], train, k=3, n_configs=4)
    opt = BayesianOptimizer(meta.space, candidates=meta.configs, n_initial=len(design),
                            initial_points=[meta.configs[i] for i in design], seed=0)
    keys = [tuple(sorted(x.items())) for x in meta.configs]
    asked = []
    for _ in range(12):
        x = opt.ask()
        asked.append(keys.index(tuple(sorted(x.items()))))  # fails unless x is a candidate
        opt.tell(x, meta.errors[0, asked[-1]])
    assert asked[:4] == design and len(set(asked)) == 12


def test_on_the_shipped_meta_dataset_pmf_predicts_held_out_tasks_and_beats_random_order():
    meta = load_metadataset()
    T, C = meta.errors.shape
    n = 10  # evaluations
    hits, expected_random, correlations = 0, 0.0, []
    for t in range(0, T, 4):  # every fourth task held out in turn
        train = [s for s in range(T) if s != t]
        row = meta.errors[t]
        design = knn_warm_start(meta, meta.metafeatures[t], train)
        nearest = train[int(np.argmin(task_distances(meta.metafeatures[t],
                                                     meta.metafeatures[train])))]
        assert design[0] == int(np.argmin(meta.errors[nearest]))
        opt = PMFOptimizer(PMF(seed=0).fit(meta.errors[train]))
        for _ in range(n):
            c = opt.ask()
            opt.tell(c, row[c])
        rest = np.setdiff1d(np.arange(C), opt.indices)
        mean, _ = opt.pmf.infer_task(dict(zip(opt.indices, opt.func_vals)))
        correlations.append(np.corrcoef(mean[rest], row[rest])[0, 1])
        good = row <= row.min() + 0.01  # within 1 % error of the task's best
        hits += bool(good[opt.indices].any())
        # oracle: P(n configurations drawn without replacement include a good one)
        expected_random += 1 - comb(C - good.sum(), n) / comb(C, n)
    assert np.median(correlations) > 0.7, correlations  # the matrix completion generalises
    assert hits > expected_random + 2, (hits, expected_random)


# ---------------------------------------------------------------------------- errors
def test_errors_on_bad_input():
    meta = synthetic_meta()
    with pytest.raises(ValueError, match="NaN or infinite"):
        best_on_average([[0.1, np.nan]])
    with pytest.raises(ValueError, match="n must be an integer"):
        best_on_average(meta.errors, 0)
    with pytest.raises(ValueError, match="k must be"):
        knn_warm_start(meta, meta.metafeatures[0], [1, 2], k=3)
    with pytest.raises(ValueError, match="n_configs must be"):
        knn_warm_start(meta, meta.metafeatures[0], [1, 2], k=1, n_configs=31)
    with pytest.raises(ValueError, match="distinct indices"):
        knn_warm_start(meta, meta.metafeatures[0], [1, 1, 2])
    with pytest.raises(ValueError, match="meta-features"):
        knn_warm_start(meta, meta.metafeatures[0, :2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least one observed"):
        PMF().fit([[0.1, 0.2], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="lam"):
        PMF(lam=0.0)
    with pytest.raises(ValueError, match="not fitted"):
        PMF().infer_task({})
    pmf = PMF(n_latent=2, seed=0).fit(meta.errors)
    with pytest.raises(ValueError, match="configuration index"):
        pmf.infer_task({30: 0.1})
    with pytest.raises(ValueError, match="dict"):
        pmf.infer_task([0.1, 0.2])
    opt = PMFOptimizer(pmf)
    opt.tell(3, 0.2)
    with pytest.raises(ValueError, match="evaluated already"):
        opt.tell(3, 0.1)
    with pytest.raises(ValueError, match="finite"):
        opt.tell(4, float("nan"))
    with pytest.raises(ValueError, match="PMF"):
        PMFOptimizer("pmf")
