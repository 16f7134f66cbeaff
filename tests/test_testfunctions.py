"""minnas.hpo.testfunctions: the literature minima, and the real task's determinism and range."""

import numpy as np
import pytest

from minnas.hpo import testfunctions as tf
from minnas.hpo.space import Space

H6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)


def point(*xs):
    return {f"x{i + 1}": float(x) for i, x in enumerate(xs)}


@pytest.mark.parametrize("objective, argmins", [
    (tf.branin(), [(-np.pi, 12.275), (np.pi, 2.275), (9.42478, 2.475)]),
    (tf.hartmann6(), [H6_ARGMIN]),
    (tf.rosenbrock(2), [(1, 1)]),
    (tf.rosenbrock(5), [(1,) * 5]),
    (tf.ackley(1), [(0,)]),
    (tf.ackley(3), [(0, 0, 0)]),
    (tf.camel(), [(0.0898, -0.7126), (-0.0898, 0.7126)]),
    (tf.hartmann3(), [(0.114614, 0.555649, 0.852547)]),
    (tf.levy(2), [(1, 1)]),
    (tf.levy(5), [(1,) * 5]),
    (tf.styblinski_tang(1), [(-2.903534,)]),
    (tf.styblinski_tang(4), [(-2.903534,) * 4]),
    (tf.michalewicz(2), [(2.202906, np.pi / 2)]),
    (tf.dixon_price(4), [tuple(2.0 ** (-(2**i - 2) / 2**i) for i in range(1, 5))]),
    (tf.griewank(3), [(0, 0, 0)]),
    (tf.shekel5(), [(4.00004, 4.00013, 4.00004, 4.00013)]),
    (tf.goldstein_price(), [(0, -1)]),
    (tf.colville(), [(1, 1, 1, 1)]),
    (tf.powell(8), [(0,) * 8]),
    (tf.zakharov(5), [(0,) * 5]),
    (tf.rastrigin(3), [(0, 0, 0)]),
    (tf.beale(), [(3, 0.5)]),
], ids=lambda o: getattr(o, "name", ""))
def test_known_minimum_is_reached_at_the_literature_argmin(objective, argmins):
    for xs in argmins:
        assert objective(point(*xs)) == pytest.approx(objective.minimum, abs=1e-5)


@pytest.mark.parametrize("objective", [
    tf.branin(), tf.hartmann6(), tf.rosenbrock(3), tf.ackley(2), tf.camel(), tf.hartmann3(),
    tf.levy(4), tf.styblinski_tang(3), tf.michalewicz(5), tf.dixon_price(3), tf.griewank(2),
    tf.shekel5(), tf.goldstein_price(), tf.colville(), tf.powell(4), tf.zakharov(3),
    tf.rastrigin(2), tf.beale(),
], ids=lambda o: o.name)
def test_no_sampled_point_beats_the_minimum(objective):
    values = [objective(p) for p in objective.space.sample(3000, seed=0)]
    assert min(values) >= objective.minimum - 1e-6
    assert isinstance(objective.space, Space) and objective.space.names[0] == "x1"


def test_formulas_at_other_points():
    # Values worked out by hand from the formulas in the module docstring.
    assert tf.rosenbrock(3)(point(0, 0, 0)) == pytest.approx(2.0)             # (0-1)^2 twice
    assert tf.rosenbrock(2)(point(-1, 1)) == pytest.approx(4.0)
    assert tf.ackley(2)(point(1, 1)) == pytest.approx(20 - 20 * np.exp(-0.2), abs=1e-12)
    b = 5.1 / (4 * np.pi ** 2)
    expected = (0 - b * 0 + 0 - 6) ** 2 + 10 * (1 - 1 / (8 * np.pi)) + 10  # x = (0, 0)
    assert tf.branin()(point(0, 0)) == pytest.approx(expected)
    assert tf.hartmann6()(point(*[0.5] * 6)) < 0


def test_local_search_from_many_starts_never_beats_the_minimum():
    # A stronger check than sampling: L-BFGS-B from 50 random starts finds (nearly) the
    # published minimum and never a lower value, for the functions whose minimum is numeric.
    from scipy.optimize import minimize

    for objective in [tf.camel(), tf.hartmann3(), tf.michalewicz(2), tf.shekel5(),
                      tf.goldstein_price()]:
        names = objective.space.names
        bounds = [(objective.space.dimensions[n].low, objective.space.dimensions[n].high)
                  for n in names]

        def f(v, objective=objective, names=names):
            return objective.func(dict(zip(names, v)))

        rng = np.random.default_rng(0)
        found = min(minimize(f, [rng.uniform(lo, hi) for lo, hi in bounds], method="L-BFGS-B",
                             bounds=bounds).fun for _ in range(50))
        assert objective.minimum - 1e-9 <= found <= objective.minimum + 0.05, objective.name

def test_formulas_at_known_points():
    # Values worked out by hand from the formulas in the module docstring.
    assert tf.camel()(point(0, 0)) == 0.0
    assert tf.camel()(point(1, 0)) == pytest.approx(4 - 2.1 + 1 / 3)
    # w1 = 0, w2 = 1: only the middle term is left, (0 - 1)^2 (1 + 10 sin^2(1))
    assert tf.levy(2)(point(-3, 1)) == pytest.approx(1 + 10 * np.sin(1) ** 2)
    assert tf.styblinski_tang(2)(point(0, 0)) == 0.0
    assert tf.styblinski_tang(1)(point(1)) == pytest.approx(0.5 * (1 - 16 + 5))
    assert tf.dixon_price(2)(point(1, 0)) == pytest.approx(2 * (0 - 1) ** 2)
    assert tf.griewank(1)(point(np.pi)) == pytest.approx(np.pi ** 2 / 4000 - np.cos(np.pi) + 1)
    assert tf.michalewicz(2)(point(0, 0)) == 0.0
    assert tf.goldstein_price()(point(0, 0)) == pytest.approx((1 + 19) * (30 + 0))
    assert tf.beale()(point(0, 0)) == pytest.approx(1.5**2 + 2.25**2 + 2.625**2)
    assert tf.rastrigin(2)(point(0.5, 0)) == pytest.approx(20 + (0.25 + 10) + (0 - 10))
    assert tf.zakharov(2)(point(1, 0)) == pytest.approx(1 + 0.25 + 0.0625)   # s = 1/2
    assert tf.powell(4)(point(1, 0, 0, 0)) == pytest.approx(1 + 10)
    assert tf.colville()(point(0, 0, 0, 0)) == pytest.approx(1 + 1 + 10.1 * 2 + 19.8)
    # Shekel-5: at the centre of its deepest well only that term is large
    assert tf.shekel5()(point(4, 4, 4, 4)) < -10.15


def test_noisy_adds_seeded_gaussian_noise():
    base = tf.levy(2)
    x = point(1, 1)
    a, b = tf.noisy(base, 0.3, seed=4), tf.noisy(base, 0.3, seed=4)
    first = [a(x) for _ in range(2000)]
    assert first[:5] == [b(x) for _ in range(5)]                    # same seed, same values
    assert first[0] != first[1]                                     # a new draw per call
    assert np.mean(first) == pytest.approx(0.0, abs=0.03)           # f(x*) = 0, unbiased
    assert np.std(first) == pytest.approx(0.3, rel=0.05)
    assert a.minimum == base.minimum and a.space is base.space and "noise" in a.name
    assert tf.noisy(base, 0.0)(x) == base(x)
    with pytest.raises(ValueError, match="sd"):
        tf.noisy(base, -1.0)


def test_svm_digits_mixed_space_and_values(svm):
    mixed = tf.svm_digits_mixed()
    assert mixed.minimum is None and mixed.space.names == ["kernel", "degree", "C", "gamma"]
    rbf = {"kernel": "rbf", "degree": 3, "C": 10.0, "gamma": 1e-3}
    # The rbf kernel ignores the degree and matches svm_digits on the same subsample and folds.
    assert mixed(rbf) == mixed({**rbf, "degree": 5}) == svm({"C": 10.0, "gamma": 1e-3})
    assert mixed({**rbf, "kernel": "poly"}) != mixed({**rbf, "kernel": "poly", "degree": 5})
    with pytest.raises(ValueError):
        mixed({**rbf, "kernel": "linear"})
    with pytest.raises(ValueError):
        mixed({**rbf, "degree": 2.5})


def test_svm_cancer_mixed_is_deterministic_and_in_range():
    cancer = tf.svm_cancer_mixed()
    assert cancer.minimum is None and cancer.space.names == ["kernel", "degree", "C", "gamma"]
    x = {"kernel": "rbf", "degree": 3, "C": 10.0, "gamma": 1e-2}
    assert cancer(x) == tf.svm_cancer_mixed()(x) < 0.05   # standardised features: easy
    assert cancer({**x, "kernel": "poly"}) > cancer(x)
    assert tf.svm_cancer_mixed(cv=4, seed=1).name == "svm_cancer_mixed(cv=4, seed=1)"


def test_objective_validates_its_input():
    with pytest.raises(ValueError, match="lies outside"):
        tf.branin()(point(11.0, 0.0))
    with pytest.raises(ValueError, match="missing"):
        tf.branin()({"x1": 0.0})
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        tf.rosenbrock(1)
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        tf.ackley(0)
    with pytest.raises(ValueError, match="d must be one of"):
        tf.michalewicz(3)
    with pytest.raises(ValueError, match="multiple of 4"):
        tf.powell(6)


@pytest.fixture(scope="module")
def svm():
    return tf.svm_digits()


def test_svm_digits_is_deterministic_and_in_range(svm):
    assert svm.minimum is None and svm.space.names == ["C", "gamma"]
    points = svm.space.sample(4, seed=0) + [{"C": 1e-2, "gamma": 1e-1}, {"C": 1e3, "gamma": 1e-5}]
    values = [svm(p) for p in points]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == [svm(p) for p in points]                        # same call, same number
    assert values[:2] == [tf.svm_digits()(p) for p in points[:2]]    # a fresh copy agrees
    # Good settings classify digits well; a huge gamma makes the RBF kernel memorise.
    assert svm({"C": 10.0, "gamma": 1e-3}) < 0.1 < svm({"C": 10.0, "gamma": 1e-1})


def test_svm_digits_arguments(svm):
    other = tf.svm_digits(n_samples=300, cv=4, seed=1)
    assert other.name == "svm_digits(n_samples=300, cv=4, seed=1)" != svm.name
    assert 0.0 <= other({"C": 10.0, "gamma": 1e-3}) < 0.2
    with pytest.raises(ValueError, match="n_samples"):
        tf.svm_digits(n_samples=5)
    with pytest.raises(ValueError, match="cv must be"):
        tf.svm_digits(cv=1)
