"""minnas.hpo.space: unit-cube round trips, sampling against scipy.stats, grids against sklearn."""

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn.model_selection import ParameterGrid

from minnas.hpo.space import Categorical, Integer, Real, Space


def mixed_space():
    return Space({"lr": Real(1e-4, 1e-1, log=True), "dropout": Real(0.0, 0.5),
                  "layers": Integer(1, 6), "width": Integer(8, 512, log=True),
                  "act": Categorical(["relu", "tanh", "gelu"])})


# -------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dim, values", [
    (Real(-2.0, 3.0), [-2.0, 0.0, 1.234, 3.0]),
    (Real(1e-4, 1e-1, log=True), [1e-4, 3.3e-3, 0.1]),
    (Integer(-3, 7), [-3, 0, 4, 7]),
    (Integer(1, 1000, log=True), [1, 2, 37, 1000]),
    (Categorical(["a", 2, None]), ["a", None, 2, "a"]),
], ids=["real", "real-log", "integer", "integer-log", "categorical"])
def test_every_dimension_round_trips_through_the_unit_cube(dim, values):
    u = dim.to_unit(values)
    assert u.shape == (len(values), dim.n_unit)
    assert u.min() >= 0.0 and u.max() <= 1.0
    back = dim.from_unit(u)
    if isinstance(dim, Real):
        np.testing.assert_allclose(back, values, rtol=1e-12)
    else:
        assert back == values


def test_real_maps_linearly_and_log_real_maps_log_linearly():
    np.testing.assert_allclose(Real(2.0, 6.0).to_unit([2.0, 3.0, 6.0])[:, 0], [0.0, 0.25, 1.0])
    # u = (log v - log a) / (log b - log a): each decade of [1e-4, 1e-1] is a third of [0, 1].
    u = Real(1e-4, 1e-1, log=True).to_unit([1e-4, 1e-3, 1e-2, 1e-1])[:, 0]
    np.testing.assert_allclose(u, [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-12)


def test_from_unit_clips_and_rounds():
    assert Real(0.0, 1.0).from_unit([[-0.5], [1.5]]) == [0.0, 1.0]
    assert Integer(0, 3).from_unit([[-1.0], [0.0], [0.3], [0.99], [2.0]]) == [0, 0, 1, 3, 3]
    assert Categorical(["x", "y", "z"]).from_unit([[0.2, 0.9, 0.1], [0.0, 0.0, 0.3]]) == ["y", "z"]
    values = Integer(1, 100, log=True).from_unit(np.linspace(0, 1, 50)[:, None])
    assert all(isinstance(v, int) and 1 <= v <= 100 for v in values)
    assert values == sorted(values)  # the encoding is monotone


def test_space_round_trip_and_shapes():
    space = mixed_space()
    assert space.n_unit == 1 + 1 + 1 + 1 + 3 and len(space) == 5
    assert space.names == ["lr", "dropout", "layers", "width", "act"]
    points = space.sample(20, seed=3)
    U = space.to_unit(points)
    assert U.shape == (20, space.n_unit)
    back = space.from_unit(U)
    for p, q in zip(points, back):
        assert p.keys() == q.keys()
        assert (p["layers"], p["width"], p["act"]) == (q["layers"], q["width"], q["act"])
        np.testing.assert_allclose([p["lr"], p["dropout"]], [q["lr"], q["dropout"]], rtol=1e-12)
    assert space.to_unit(points[0]).shape == (1, space.n_unit)  # one dict, one row
    assert space.from_unit(U[0]) == space.from_unit(U[:1])       # one vector, one point


# ------------------------------------------------------------------------------ sampling
def test_sample_is_inside_the_bounds_and_seeded():
    space = mixed_space()
    points = space.sample(500, seed=0)
    for p in points:
        assert space.validate(p) == p
    assert space.sample(500, seed=0) == points
    assert space.sample(500, seed=1) != points
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert space.sample(5, seed=rng_a) == space.sample(5, seed=rng_b)


def test_log_real_samples_are_log_uniform():
    a, b = 1e-5, 1e-1
    rng = np.random.default_rng(0)
    values = Real(a, b, log=True).sample(rng, 4000)
    assert stats.kstest(values, stats.loguniform(a, b).cdf).pvalue > 0.01
    # ...and clearly not uniform on [a, b]: most uniform draws would be above 1e-2.
    assert stats.kstest(values, stats.uniform(a, b - a).cdf).pvalue < 1e-10


def test_integers_and_categories_are_equally_likely():
    rng = np.random.default_rng(1)
    counts = np.bincount(Integer(3, 8).sample(rng, 6000), minlength=9)[3:]
    assert stats.chisquare(counts).pvalue > 0.01  # includes the end points 3 and 8
    cats = Categorical(["a", "b", "c", "d"]).sample(rng, 4000)
    counts = [cats.count(c) for c in "abcd"]
    assert stats.chisquare(counts).pvalue > 0.01


def test_log_integer_samples_follow_the_discretised_log_uniform():
    low, high = 1, 20
    values = Integer(low, high, log=True).sample(np.random.default_rng(2), 20000)
    v = np.arange(low, high + 1)
    p = np.log((v + 0.5) / (v - 0.5)) / np.log((high + 0.5) / (low - 0.5))
    counts = np.bincount(values, minlength=high + 1)[low:]
    assert stats.chisquare(counts, 20000 * p).pvalue > 0.01


# ---------------------------------------------------------------------------------- grids
def test_dimension_grids():
    np.testing.assert_allclose(Real(0.0, 1.0).grid(5), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(Real(1e-3, 1e1, log=True).grid(5), np.logspace(-3, 1, 5))
    assert Integer(1, 3).grid(10) == [1, 2, 3]  # unique rounded values
    assert Integer(1, 1000, log=True).grid(4) == [1, 10, 100, 1000]
    assert Categorical(["a", "b"]).grid(7) == ["a", "b"]
    assert Real(2.0, 4.0).grid(1) == [3.0]


def test_space_grid_matches_itertools_product_and_parameter_grid():
    space = Space({"C": Real(1e-2, 1e2, log=True), "k": Integer(1, 3),
                   "kind": Categorical(["x", "y"])})
    grid = space.grid(3)
    values = {"C": np.logspace(-2, 2, 3), "k": [1, 2, 3], "kind": ["x", "y"]}
    expected = [dict(zip(values, combo)) for combo in itertools.product(*values.values())]
    assert len(grid) == len(expected) == 18
    for g, e in zip(grid, expected):  # same order: the last name varies fastest
        assert g.keys() == e.keys()
        assert (g["k"], g["kind"]) == (e["k"], e["kind"])
        assert np.isclose(g["C"], e["C"])
    def as_set(points):
        return {(round(np.log10(p["C"]), 9), p["k"], p["kind"]) for p in points}
    assert as_set(grid) == as_set(ParameterGrid(values))


# -------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, match", [
    (lambda: Real(1.0, 1.0), "low < high"),
    (lambda: Real(2.0, 1.0), "low < high"),
    (lambda: Real(0.0, np.inf), "finite"),
    (lambda: Real(np.nan, 1.0), "finite"),
    (lambda: Real(0.0, 1.0, log=True), "low > 0"),
    (lambda: Real("a", 1.0), "low must be a number"),
    (lambda: Integer(0, 10, log=True), "low >= 1"),
    (lambda: Integer(1.5, 4), "whole number"),
    (lambda: Integer(3, 3), "low < high"),
    (lambda: Categorical(["only"]), "at least 2"),
    (lambda: Categorical([]), "at least 2"),
    (lambda: Categorical(["a", "b", "a"]), "distinct"),
    (lambda: Categorical([[1], [2]]), "hashable"),
    (lambda: Categorical("abc"), "sequence"),
    (lambda: Space([("x", Real(0, 1))]), "must be a dict"),
    (lambda: Space({}), "at least one"),
    (lambda: Space({"x": (0, 1)}), "'x' must be a Real"),
])
def test_bad_definitions_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_validate_names_the_problem():
    space = mixed_space()
    good = space.sample(1, seed=0)[0]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['lr'\]"):
        space.validate({k: v for k, v in good.items() if k != "lr"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lrr'\]"):
        space.validate({**good, "lrr": 0.1})
    with pytest.raises(ValueError, match=r"point\['lr'\] = 0.5 lies outside"):
        space.validate({**good, "lr": 0.5})
    with pytest.raises(ValueError, match=r"point\['layers'\] = 2.5"):
        space.validate({**good, "layers": 2.5})
    with pytest.raises(ValueError, match=r"point\['act'\] = 'elu'"):
        space.validate({**good, "act": "elu"})
    with pytest.raises(ValueError, match="must be a dict"):
        space.validate([0.1, 0.2])
    # A bound computed with rounding is still inside: np.logspace(-4, -1)[0] may be 1e-4 - 1 ulp.
    assert space.validate({**good, "lr": 1e-4 * (1 - 1e-15)})


def test_encoding_errors():
    with pytest.raises(ValueError, match="outside"):
        Real(0.0, 1.0).to_unit([0.5, 2.0])
    with pytest.raises(ValueError, match="not one of"):
        Categorical(["a", "b"]).to_unit(["c"])
    with pytest.raises(ValueError, match="3 column"):
        Categorical(["a", "b", "c"]).from_unit(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="7 columns"):
        mixed_space().from_unit(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="NaN"):
        mixed_space().from_unit(np.full(7, np.nan))
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        mixed_space().sample(-1)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        mixed_space().grid(0)
