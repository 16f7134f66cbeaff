"""minnas.hpo.search: result fields, determinism, and grid/random search on known functions."""

import numpy as np
import pytest

from minnas.hpo.search import (OptimizeResult, check_value, grid_search, random_search,
                               result_from_history, successive_halving)
from minnas.hpo.space import Categorical, Integer, Real, Space

SPACE = Space({"x": Real(-2.0, 2.0), "n": Integer(0, 4), "kind": Categorical(["a", "b"])})


def bowl(p):
    """Minimised on the grid at x = 0.5 (k = 9 hits it), n = 3, kind = 'b'."""
    return (p["x"] - 0.5) ** 2 + (p["n"] - 3) ** 2 + (p["kind"] == "a")


def test_random_search_result_has_the_skopt_fields():
    res = random_search(bowl, SPACE, n_calls=30, seed=0)
    assert isinstance(res, OptimizeResult)
    assert len(res.x_iters) == 30 and res.func_vals.shape == (30,)
    assert res.space is SPACE
    np.testing.assert_allclose(res.func_vals, [bowl(p) for p in res.x_iters])
    i = int(np.argmin(res.func_vals))
    assert res.x == res.x_iters[i] and res.fun == res.func_vals[i] == res.func_vals.min()
    assert res.x_iters == SPACE.sample(30, seed=0)  # random search evaluates space.sample
    assert "fun=" in repr(res)


def test_best_so_far_is_the_running_minimum():
    res = random_search(bowl, SPACE, n_calls=50, seed=1)
    best = res.best_so_far()
    assert best.shape == (50,)
    assert np.all(np.diff(best) <= 0)
    np.testing.assert_array_equal(best, [res.func_vals[:t + 1].min() for t in range(50)])
    assert best[-1] == res.fun


def test_random_search_is_deterministic_under_a_seed():
    a = random_search(bowl, SPACE, 20, seed=5)
    b = random_search(bowl, SPACE, 20, seed=5)
    c = random_search(bowl, SPACE, 20, seed=6)
    assert a.x_iters == b.x_iters and np.array_equal(a.func_vals, b.func_vals)
    assert a.x_iters != c.x_iters


def test_grid_search_finds_the_grid_minimiser():
    res = grid_search(bowl, SPACE, k=9)
    assert len(res.x_iters) == 9 * 5 * 2  # Integer(0, 4) has 5 grid values, the category 2
    assert res.x == {"x": 0.5, "n": 3, "kind": "b"} and res.fun == 0.0
    brute = min(SPACE.grid(9), key=bowl)
    assert res.x == brute


def test_ties_keep_the_first_point():
    res = result_from_history(SPACE, [{"x": 0.0, "n": 0, "kind": "a"},
                                      {"x": 1.0, "n": 1, "kind": "b"}], [2.0, 2.0])
    assert res.x["x"] == 0.0


def test_func_gets_a_copy_of_the_point():
    def rude(p):
        p["x"] = 99.0  # must not change what the result records
        return 0.0
    res = random_search(rude, SPACE, 3, seed=0)
    assert all(-2.0 <= p["x"] <= 2.0 for p in res.x_iters)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None, "abc"])
def test_a_non_finite_or_non_numeric_objective_raises(bad):
    with pytest.raises(ValueError, match="the objective returned"):
        random_search(lambda p: bad, SPACE, 5, seed=0)


def test_check_value_returns_a_float():
    assert check_value(np.float32(0.25), {}) == 0.25 and type(check_value(1, {})) is float


def test_nan_error_names_the_point():
    def nan_at_positive_x(p):
        return np.nan if p["x"] > 0 else 1.0
    with pytest.raises(ValueError, match=r"at \{'x': 2.0"):
        grid_search(nan_at_positive_x, Space({"x": Real(-2.0, 2.0)}), k=3)


def test_argument_errors():
    with pytest.raises(ValueError, match="n_calls must be an integer >= 1"):
        random_search(bowl, SPACE, 0)
    with pytest.raises(ValueError, match="space must be"):
        random_search(bowl, {"x": Real(0, 1)}, 3)
    with pytest.raises(ValueError, match="func must be callable"):
        grid_search(3.0, SPACE)
    with pytest.raises(ValueError, match="must match"):
        result_from_history(SPACE, [{}], [1.0, 2.0])
    with pytest.raises(ValueError, match="func_vals is empty"):
        result_from_history(SPACE, [], [])


def test_successive_halving_rungs_budgets_and_survivors():
    space = Space({"x": Real(0.0, 1.0)})
    calls = []

    def loss(p, budget):
        calls.append((p["x"], budget))
        return (p["x"] - 0.3) ** 2 + 1.0 / budget

    res = successive_halving(loss, space, n=27, min_budget=1, max_budget=100, eta=3, seed=0)
    assert [len(r["indices"]) for r in res.rungs] == [27, 9, 3, 1]
    assert [r["budget"] for r in res.rungs] == [1.0, 3.0, 9.0, 27.0]
    assert len(calls) == 40 and res.total_budget == 27 + 27 + 27 + 27
    assert res.configs == space.sample(27, seed=0)
    for prev, nxt in zip(res.rungs, res.rungs[1:]):  # the survivors are the best of each rung
        cut = np.sort(prev["losses"])[len(nxt["indices"]) - 1]
        kept = {i for i, v in zip(prev["indices"], prev["losses"]) if v <= cut}
        assert set(nxt["indices"]) == kept
    best = min(res.configs, key=lambda p: abs(p["x"] - 0.3))
    assert res.x == best and res.fun == loss(best, 27.0)


def test_successive_halving_stops_at_the_maximum_budget_and_keeps_the_first_of_ties():
    space = Space({"x": Real(0.0, 1.0)})
    res = successive_halving(lambda p, b: 1.0, space, n=20, min_budget=1, max_budget=4, eta=2,
                             seed=1)
    assert [len(r["indices"]) for r in res.rungs] == [20, 10, 5]
    assert res.rungs[1]["indices"] == list(range(10)) and res.rungs[2]["indices"] == list(range(5))
    assert res.x == res.configs[0] and res.fun == 1.0
    one = successive_halving(lambda p, b: p["x"], space, n=1, min_budget=2, max_budget=2, seed=0)
    assert len(one.rungs) == 1 and one.rungs[0]["budget"] == 2.0


def test_successive_halving_argument_errors():
    space = Space({"x": Real(0.0, 1.0)})
    f = lambda p, b: p["x"]
    for kwargs, match in [({"n": 0}, "n must be"), ({"eta": 1}, "eta must be"),
                          ({"min_budget": 0}, "min_budget"),
                          ({"min_budget": 5, "max_budget": 4}, "min_budget")]:
        args = {"n": 9, "min_budget": 1, "max_budget": 9, "eta": 3} | kwargs
        with pytest.raises(ValueError, match=match):
            successive_halving(f, space, **args)
    with pytest.raises(ValueError, match="the objective returned"):
        successive_halving(lambda p, b: np.nan, space, 3, 1, 9)
