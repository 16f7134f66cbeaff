"""minnas.hpo.metafeatures: against pymfe on the same data, landmarkers, distances, errors."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_iris, load_wine, make_classification

from minnas.hpo import metafeatures as mf


def synthetic():
    return make_classification(n_samples=120, n_features=6, n_informative=3, n_classes=3,
                               weights=[0.5, 0.3, 0.2], random_state=0)


DATASETS = {"iris": lambda: load_iris(return_X_y=True),
            "wine": lambda: load_wine(return_X_y=True),
            "synthetic": synthetic}


def pymfe_values(X, y, features):
    """pymfe's values of ``features`` (names with their summary, e.g. 'skewness.mean')."""
    from pymfe.mfe import MFE

    groups = sorted({f.split(".")[0] for f in features})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor = MFE(features=groups, summary=["mean", "sd", "min", "max"])
        extractor.fit(X, y)
        names, values = extractor.extract()
    return dict(zip(names, values))


# ----------------------------------------------------------------------- oracle: pymfe
EXACT = ["nr_inst", "nr_attr", "nr_class", "class_ent", "freq_class.min", "freq_class.max",
         "skewness.mean", "skewness.sd", "kurtosis.mean", "kurtosis.sd", "cor.mean", "cor.sd"]


@pytest.mark.parametrize("name", DATASETS)
def test_simple_and_statistical_features_equal_pymfe(name):
    X, y = DATASETS[name]()
    ours = {**mf.simple(X, y), **mf.statistical(X, y), **mf.information_theoretic(X, y)}
    theirs = pymfe_values(X, y, EXACT)
    for feature in EXACT:
        assert ours[feature] == pytest.approx(theirs[feature], rel=1e-9, abs=1e-12), feature


@pytest.mark.parametrize("name", DATASETS)
def test_information_features_equal_pymfe_with_its_equal_frequency_bins(name):
    X, y = DATASETS[name]()
    bins = int(len(y) ** (1 / 3))  # pymfe's default: floor of the cube root of n
    ours = mf.information_theoretic(X, y, bins=bins, strategy="frequency")
    theirs = pymfe_values(X, y, ["attr_ent", "mut_inf", "eq_num_attr", "ns_ratio"])
    for feature in ["attr_ent.mean", "attr_ent.sd", "mut_inf.mean", "mut_inf.sd",
                    "eq_num_attr", "ns_ratio"]:
        # pymfe sums joint entropies in another order; the values agree to ~1e-6 relative.
        assert ours[feature] == pytest.approx(theirs[feature], rel=1e-4), feature


def test_equal_width_bins_property_and_oracle():
    X, y = load_iris(return_X_y=True)
    info = mf.information_theoretic(X, y, bins=4)
    # attr_ent of 4 equal-width bins, checked with numpy's histogram and scipy's entropy
    ents = [stats.entropy(np.histogram(X[:, j], bins=4)[0], base=2) for j in range(4)]
    assert info["attr_ent.mean"] == pytest.approx(np.mean(ents), rel=1e-12)
    assert 0 <= info["mut_inf.mean"] <= min(info["attr_ent.mean"], info["class_ent"]) + 1e-12
    assert info["class_ent"] == pytest.approx(np.log2(3))
    # a label-independent attribute carries no information
    flat = mf.information_theoretic(np.array([[0.0], [1.0], [0.0], [1.0]]),
                                    np.array([0, 0, 1, 1]))
    assert flat["mut_inf.mean"] == pytest.approx(0.0, abs=1e-12)
    assert flat["eq_num_attr"] == 1e6


def test_skewness_and_kurtosis_are_scipy_type_3():
    X, y = synthetic()
    n = len(y)
    st = mf.statistical(X, y)
    skew = stats.skew(X, bias=True) * ((n - 1) / n) ** 1.5
    kurt = (stats.kurtosis(X, bias=True) + 3) * (1 - 1 / n) ** 2 - 3
    assert st["skewness.mean"] == pytest.approx(skew.mean(), rel=1e-10)
    assert st["kurtosis.mean"] == pytest.approx(kurt.mean(), rel=1e-10)


def test_constant_columns_are_left_out_of_statistics():
    X, y = load_iris(return_X_y=True)
    padded = np.hstack([X, np.full((len(y), 2), 3.0)])
    a, b = mf.statistical(X, y), mf.statistical(padded, y)
    for key in ["skewness.mean", "kurtosis.sd", "cor.mean"]:
        assert a[key] == pytest.approx(b[key], rel=1e-12)
    assert all(np.isfinite(v) for v in mf.compute_metafeatures(padded, y).values())
    assert b["pca_95"] == pytest.approx(a["pca_95"] * 4 / 6)


def test_simple_log_features():
    X, y = synthetic()
    s = mf.simple(X, y)
    assert s["log_attr_to_inst"] == pytest.approx(np.log(6 / 120))
    assert s["freq_class.min"] < s["freq_class.max"]
    assert mf.simple(X, y.astype(str)) == s  # labels may be strings


# -------------------------------------------------------------------------- landmarking
def test_landmarkers_are_accuracies_and_seeded():
    X, y = load_wine(return_X_y=True)
    a = mf.landmarking(X, y, seed=0)
    assert list(a) == ["one_nn", "best_node", "naive_bayes"]
    assert all(0.0 <= v <= 1.0 for v in a.values())
    assert mf.landmarking(X, y, seed=0) == a
    assert a["one_nn"] > 0.9 and a["best_node"] < a["naive_bayes"]  # wine: a stump is weak


def test_compute_metafeatures_order_and_determinism():
    X, y = synthetic()
    m1, m2 = mf.compute_metafeatures(X, y, seed=3), mf.compute_metafeatures(X, y, seed=3)
    assert m1 == m2 and list(m1) == list(m2)
    assert len(m1) == 25 and list(m1)[:3] == ["nr_inst", "nr_attr", "nr_class"]
    assert all(isinstance(v, float) and np.isfinite(v) for v in m1.values())


# ----------------------------------------------------------------------------- distances
def test_standardize_z_scores_and_constant_columns():
    rng = np.random.default_rng(0)
    M = np.column_stack([rng.normal(5, 2, 10), np.full(10, 7.0), rng.uniform(size=10)])
    Z, mean, std = mf.standardize(M)
    np.testing.assert_allclose(Z[:, [0, 2]].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 2]].std(axis=0), 1, rtol=1e-12)
    assert np.all(Z[:, 1] == 0)
    Z1, _, _ = mf.standardize(M[0], mean, std)  # a new row scaled with the same statistics
    np.testing.assert_allclose(Z1, Z[0])
    np.testing.assert_allclose(Z1, (M[0] - M.mean(0)) / np.where(M.std(0) > 0, M.std(0), 1))


def test_task_distances_properties():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(8, 5)) * [1, 10, 100, 0, 1] + [0, 0, 0, 3, 0]
    D = mf.task_distances(M, M)
    assert D.shape == (8, 8)
    np.testing.assert_allclose(np.diag(D), 0, atol=1e-12)
    np.testing.assert_allclose(D, D.T, rtol=1e-12)
    Z, _, _ = mf.standardize(M)
    assert D[0, 1] == pytest.approx(np.abs(Z[0] - Z[1]).sum())  # L1 of z-scores
    D2 = mf.task_distances(M[2], M, p=2)
    assert D2.shape == (8,) and D2[2] == 0
    assert D2[5] == pytest.approx(np.linalg.norm(Z[2] - Z[5]))
    assert mf.task_distances(M[2], M, p=np.inf)[5] == pytest.approx(np.abs(Z[2] - Z[5]).max())
    # scale invariance: meta-features in other units give the same distances
    np.testing.assert_allclose(mf.task_distances(M * 7 + 1, M * 7 + 1), D, rtol=1e-9)


# -------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("X, y, match", [
    (np.ones((5, 2)), np.array([0, 1, 0, 1]), "same number of rows"),
    (np.array([[1.0, np.nan], [2.0, 3.0]]), np.array([0, 1]), "NaN"),
    (np.ones((4, 2)), np.zeros(4), "at least 2 classes"),
    (np.zeros((0, 2)), np.zeros(0), "empty"),
    (np.ones(4), np.array([0, 1, 0, 1]), "2-D"),
])
def test_bad_inputs_raise(X, y, match):
    with pytest.raises(ValueError, match=match):
        mf.compute_metafeatures(X, y)


def test_bad_arguments_raise():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="bins"):
        mf.information_theoretic(X, y, bins=1)
    with pytest.raises(ValueError, match="strategy"):
        mf.information_theoretic(X, y, strategy="kmeans")
    with pytest.raises(ValueError, match="smallest class"):
        mf.landmarking(X[:51], y[:51])
    with pytest.raises(ValueError, match="meta-features"):
        mf.task_distances(np.ones(3), np.ones((4, 2)))
    with pytest.raises(ValueError, match="p must be"):
        mf.task_distances(np.ones(2), np.ones((4, 2)), p=0.5)
    with pytest.raises(ValueError, match="both"):
        mf.standardize(np.ones((3, 2)), mean=np.zeros(2))
