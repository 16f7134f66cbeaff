"""minnas.foundations.entropy against scipy / scikit-learn oracles and information properties."""

import numpy as np
import pytest
from scipy import special, stats
from sklearn.metrics import mutual_info_score
from sklearn.tree import DecisionTreeClassifier

from minnas.foundations import entropy as ent


def _dirichlet(seed, k, size=None):
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=size)


# ------------------------------------------------------------------ entropy, cross-entropy, KL

@pytest.mark.parametrize("seed,k", [(0, 2), (1, 5), (2, 17)])
@pytest.mark.parametrize("base", [None, 2, 10, np.e])
def test_entropy_matches_scipy(seed, k, base):
    p = _dirichlet(seed, k)
    assert ent.entropy(p, base=base) == pytest.approx(stats.entropy(p, base=base), rel=1e-12)


def test_entropy_bits_and_nats():
    p = _dirichlet(3, 6)
    # log_2 x = ln x / ln 2
    assert ent.entropy(p, base=2) == pytest.approx(ent.entropy(p) / np.log(2), rel=1e-12)
    assert ent.entropy([0.5, 0.5], base=2) == pytest.approx(1.0)
    assert ent.entropy(np.full(8, 1 / 8), base=2) == pytest.approx(3.0)


def test_entropy_zero_probabilities():
    assert ent.entropy([0.5, 0.5, 0.0], base=2) == pytest.approx(1.0)
    assert ent.entropy([0.0, 1.0, 0.0]) == 0.0
    assert np.isfinite(ent.entropy([1.0, 0.0]))


def test_entropy_bounds_and_return_type():
    p = _dirichlet(4, 7)
    h = ent.entropy(p)
    assert isinstance(h, float)
    assert 0.0 <= h <= np.log(7) + 1e-12
    assert ent.entropy(np.full(7, 1 / 7)) == pytest.approx(np.log(7))


def test_entropy_axis_batch():
    p = _dirichlet(5, 4, size=6)  # 6 distributions over 4 outcomes, rows
    np.testing.assert_allclose(ent.entropy(p, axis=1), stats.entropy(p, axis=1), rtol=1e-12)
    np.testing.assert_allclose(ent.entropy(p.T, axis=0), stats.entropy(p.T, axis=0), rtol=1e-12)


def test_entropy_normalize_matches_scipy_on_counts():
    counts = np.array([3, 0, 5, 2])
    assert ent.entropy(counts, normalize=True) == pytest.approx(stats.entropy(counts))
    with pytest.raises(ValueError, match="sum to 1"):
        ent.entropy(counts)
    with pytest.raises(ValueError, match="sums to 0"):
        ent.entropy([0, 0], normalize=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_and_cross_entropy_match_scipy(seed):
    p, q = _dirichlet(seed, 6), _dirichlet(seed + 10, 6)
    assert ent.kl_divergence(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)
    assert ent.kl_divergence(p, q, base=2) == pytest.approx(stats.entropy(p, q, base=2), rel=1e-12)
    # H(p, q) = H(p) + KL(p || q), and the scipy elementwise oracle -sum xlogy(p, q)
    assert ent.cross_entropy(p, q) == pytest.approx(-special.xlogy(p, q).sum(), rel=1e-12)
    assert ent.cross_entropy(p, q) == pytest.approx(ent.entropy(p) + ent.kl_divergence(p, q))
    np.testing.assert_allclose(ent.kl_divergence(p, q), special.rel_entr(p, q).sum(), rtol=1e-12)


def test_kl_properties():
    p, q = _dirichlet(7, 5), _dirichlet(8, 5)
    assert ent.kl_divergence(p, p) == 0.0
    assert ent.kl_divergence(p, q) > 0
    assert ent.kl_divergence(p, q) != pytest.approx(ent.kl_divergence(q, p))  # not symmetric


def test_kl_zero_and_infinite_cases():
    # 0 log(0/q) = 0: p may have zeros where q has mass
    assert ent.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(np.log(2))
    # p > 0 where q = 0: infinite, like scipy
    assert ent.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert stats.entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert ent.cross_entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
    # both zero: the term is 0
    assert ent.kl_divergence([1.0, 0.0], [1.0, 0.0]) == 0.0


def test_kl_axis_batch():
    p, q = _dirichlet(9, 3, size=4), _dirichlet(10, 3, size=4)
    np.testing.assert_allclose(ent.kl_divergence(p, q, axis=1), stats.entropy(p, q, axis=1),
                               rtol=1e-12)


# ------------------------------------------------------------------ logsumexp, softmax

@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_family_matches_scipy(axis):
    z = np.random.default_rng(0).normal(scale=5.0, size=(4, 6))
    np.testing.assert_allclose(ent.log_softmax(z, axis=axis), special.log_softmax(z, axis=axis),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ent.softmax(z, axis=axis), special.softmax(z, axis=axis),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ent.logsumexp(z, axis=axis), special.logsumexp(z, axis=axis),
                               rtol=1e-12)


def test_logsumexp_axis_none_and_keepdims():
    z = np.random.default_rng(1).normal(size=(3, 5))
    assert ent.logsumexp(z, axis=None) == pytest.approx(special.logsumexp(z))
    assert ent.logsumexp(z, axis=1, keepdims=True).shape == (3, 1)
    assert isinstance(ent.logsumexp([1.0, 2.0]), float)


def test_huge_logits_do_not_overflow():
    z = np.array([1e4, -1e4, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        ls = ent.log_softmax(z)
        lse = ent.logsumexp(z)
        s = ent.softmax(z)
    assert np.all(np.isfinite(ls[[0, 2]])) and not np.any(np.isnan(ls))
    np.testing.assert_allclose(ls, special.log_softmax(z), atol=1e-12)
    assert lse == pytest.approx(1e4)
    np.testing.assert_allclose(s, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(ent.log_softmax([1000.0, 0.0]), [0.0, -1000.0], atol=1e-12)


def test_softmax_temperature_limits():
    z = np.array([2.0, -1.0, 0.5, 1.9])
    np.testing.assert_allclose(ent.softmax(z, temperature=1e-3), [1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(ent.softmax(z, temperature=1e-300), [1, 0, 0, 0])
    np.testing.assert_allclose(ent.softmax(z, temperature=1e6), np.full(4, 0.25), atol=1e-5)
    np.testing.assert_allclose(ent.softmax(z, temperature=np.inf), np.full(4, 0.25))
    # softmax(z, T) == softmax(z / T); entropy grows with T
    np.testing.assert_allclose(ent.softmax(z, temperature=3.0), special.softmax(z / 3.0))
    temps = np.logspace(-2, 2, 20)
    h = [ent.entropy(ent.softmax(z, temperature=t)) for t in temps]
    assert np.all(np.diff(h) > 0)
    # ties at T -> 0 share the mass
    np.testing.assert_allclose(ent.softmax([1.0, 1.0, 0.0], temperature=1e-9), [0.5, 0.5, 0])


def test_softmax_is_a_distribution_and_shift_invariant():
    z = np.random.default_rng(2).normal(size=(5, 3))
    s = ent.softmax(z, axis=1)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(ent.softmax(z + 123.0, axis=1), s, rtol=1e-12)


# ------------------------------------------------------------------ binary cross-entropy

def _bce_oracle(z, y):
    # -y log sigma(z) - (1 - y) log sigma(-z), with scipy's stable log_expit
    return -(y * special.log_expit(z) + (1 - y) * special.log_expit(-z))


def test_bce_with_logits_matches_oracle():
    rng = np.random.default_rng(3)
    z = rng.normal(scale=4.0, size=50)
    y = rng.uniform(size=50)  # soft targets too
    np.testing.assert_allclose(ent.binary_cross_entropy_with_logits(z, y, reduction="none"),
                               _bce_oracle(z, y), rtol=1e-12, atol=1e-14)
    assert ent.binary_cross_entropy_with_logits(z, y) == pytest.approx(_bce_oracle(z, y).mean())
    total = ent.binary_cross_entropy_with_logits(z, y, "sum")
    assert total == pytest.approx(_bce_oracle(z, y).sum())
    # naive form in float64 for moderate logits
    p = special.expit(z)
    naive = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(ent.binary_cross_entropy_with_logits(z, y, "none"), naive, rtol=1e-9)


def test_bce_with_huge_logits():
    z = np.array([1e4, -1e4, 1e4, -1e4])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = ent.binary_cross_entropy_with_logits(z, y, reduction="none")
    np.testing.assert_allclose(loss, [0.0, 0.0, 1e4, 1e4])


# ------------------------------------------------------------------ information gain, MI

def _manual_ig(y, mask):
    def h(labels):
        _, c = np.unique(labels, return_counts=True)
        return stats.entropy(c, base=2)
    n = len(y)
    return h(y) - mask.sum() / n * h(y[mask]) - (~mask).sum() / n * h(y[~mask])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_information_gain_matches_manual(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=60)
    mask = rng.uniform(size=60) < 0.4
    assert ent.information_gain(y, mask, base=2) == pytest.approx(_manual_ig(y, mask), abs=1e-12)


def test_information_gain_extremes_and_labels():
    y = np.array(["a", "a", "b", "b"])
    assert ent.information_gain(y, [True, True, False, False], base=2) == pytest.approx(1.0)
    assert ent.information_gain(y, [True, False, True, False]) == 0.0  # independent of the labels
    assert ent.information_gain(y, [True] * 4) == 0.0  # nothing split off
    # multiway split equals the mutual information between labels and branch ids
    rng = np.random.default_rng(4)
    labels, branches = rng.integers(0, 4, 80), rng.integers(0, 3, 80)
    assert ent.information_gain(labels, branches) == pytest.approx(
        mutual_info_score(labels, branches), abs=1e-12)


def test_information_gain_matches_decision_tree_root():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    tree = DecisionTreeClassifier(criterion="entropy", max_depth=1, random_state=0).fit(X, y)
    t = tree.tree_
    feature, threshold = t.feature[0], t.threshold[0]
    mask = X[:, feature] <= threshold
    n = t.weighted_n_node_samples
    decrease = t.impurity[0] - (n[1] * t.impurity[1] + n[2] * t.impurity[2]) / n[0]
    assert ent.information_gain(y, mask, base=2) == pytest.approx(decrease, abs=1e-12)
    assert ent.label_entropy(y, base=2) == pytest.approx(np.log2(3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutual_information_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=200)
    y = (x + rng.integers(0, 3, size=200)) % 5  # dependent on x
    mi = ent.mutual_information(x, y)
    assert mi == pytest.approx(mutual_info_score(x, y), rel=1e-12)
    assert ent.mutual_information(x, y, base=2) == pytest.approx(mi / np.log(2))
    # symmetric, and bounded by both marginal entropies
    assert ent.mutual_information(y, x) == pytest.approx(mi, rel=1e-12)
    assert 0 <= mi <= min(ent.label_entropy(x), ent.label_entropy(y)) + 1e-12
    # I(X; X) = H(X)
    assert ent.mutual_information(x, x) == pytest.approx(ent.label_entropy(x))


def test_mutual_information_of_strings_and_constant():
    mi = ent.mutual_information(["a", "b", "a", "b"], ["x", "y", "x", "y"], base=2)
    assert mi == pytest.approx(1.0)
    assert ent.mutual_information([1, 1, 1], [0, 1, 2]) == 0.0


# ------------------------------------------------------------------ input checks

@pytest.mark.parametrize("func", [ent.entropy, lambda p: ent.kl_divergence(p, p),
                                  lambda p: ent.cross_entropy(p, p)])
def test_distribution_checks(func):
    with pytest.raises(ValueError, match="negative"):
        func([0.5, -0.1, 0.6])
    with pytest.raises(ValueError, match="NaN"):
        func([0.5, np.nan])
    with pytest.raises(ValueError, match="empty"):
        func([])
    with pytest.raises(ValueError, match="sum to 1"):
        func([0.5, 0.6])
    with pytest.raises(ValueError, match="scalar"):
        func(1.0)


def test_shape_mismatches():
    with pytest.raises(ValueError, match="same shape"):
        ent.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="same shape"):
        ent.binary_cross_entropy_with_logits([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="same length"):
        ent.information_gain([0, 1, 1], [True, False])
    with pytest.raises(ValueError, match="same length"):
        ent.mutual_information([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="1-D"):
        ent.mutual_information([[0, 1]], [[0, 1]])


@pytest.mark.parametrize("base", [0, -2, 1, 1.0, np.nan, "two"])
def test_bad_base(base):
    with pytest.raises(ValueError, match="base"):
        ent.entropy([0.5, 0.5], base=base)
    with pytest.raises(ValueError, match="base"):
        ent.mutual_information([0, 1], [1, 0], base=base)


@pytest.mark.parametrize("temperature", [0.0, -1.0, np.nan])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        ent.softmax([1.0, 2.0], temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        ent.log_softmax([1.0, 2.0], temperature=temperature)


def test_other_input_checks():
    with pytest.raises(ValueError, match="NaN"):
        ent.log_softmax([1.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        ent.logsumexp([])
    with pytest.raises(ValueError, match="empty"):
        ent.information_gain([], [])
    with pytest.raises(ValueError, match="NaN"):
        ent.mutual_information([0.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ent.binary_cross_entropy_with_logits([0.0], [2.0])
    with pytest.raises(ValueError, match="reduction"):
        ent.binary_cross_entropy_with_logits([0.0], [1.0], reduction="avg")
