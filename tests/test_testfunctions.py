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
], ids=lambda o: getattr(o, "name", ""))
def test_known_minimum_is_reached_at_the_literature_argmin(objective, argmins):
    for xs in argmins:
        assert objective(point(*xs)) == pytest.approx(objective.minimum, abs=1e-5)


@pytest.mark.parametrize("objective", [tf.branin(), tf.hartmann6(), tf.rosenbrock(3),
                                       tf.ackley(2)], ids=lambda o: o.name)
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


def test_objective_validates_its_input():
    with pytest.raises(ValueError, match="lies outside"):
        tf.branin()(point(11.0, 0.0))
    with pytest.raises(ValueError, match="missing"):
        tf.branin()({"x1": 0.0})
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        tf.rosenbrock(1)
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        tf.ackley(0)


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
