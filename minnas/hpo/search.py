r"""Grid search and random search, and the result type that every optimiser in minnas returns.

Hyperparameter optimisation (HPO) looks for

.. math:: \lambda^\star = \arg\min_{\lambda \in \Lambda} f(\lambda),                    \tag{1}

where :math:`\Lambda` is a search space (:class:`~minnas.hpo.space.Space`) and :math:`f` is an
expensive black box, typically a validation error. With a budget of :math:`n` evaluations:

(2) Grid search evaluates the Cartesian product :math:`G_1 \times \dots \times G_d` of
    :math:`k` values per dimension, :math:`n = k^d` points.
(3) Random search evaluates :math:`n` independent draws :math:`\lambda_i \sim p(\lambda)`
    (uniform in the unit cube, hence log-uniform on log scales).
(4) Both return :math:`\hat\lambda = \lambda_{i^\star}`, :math:`i^\star = \arg\min_i f(\lambda_i)`,
    and the best-so-far curve :math:`y^\star_t = \min_{i \le t} f(\lambda_i)`.
(5) Successive halving with a budget (epochs, data, iterations) and a factor :math:`\eta`: rung 0
    evaluates :math:`n` random configurations at budget :math:`b_0`; rung :math:`i + 1` evaluates
    the best :math:`\max(1, \lfloor m_i / \eta \rfloor)` of the :math:`m_i` configurations of
    rung :math:`i` at budget :math:`b_{i+1} = \eta\, b_i`; it stops after a rung of one
    configuration, or when :math:`\eta\, b_i` would exceed the maximum budget.

Why random search beats grid search (Bergstra & Bengio, 2012): when only a few of the
:math:`d` dimensions matter (low *effective dimensionality*), the grid's :math:`n` points show
only :math:`k = n^{1/d}` distinct values of each important dimension, while :math:`n` random
points show :math:`n` distinct values of every dimension.

Sources
-------
- J. Bergstra and Y. Bengio, "Random search for hyper-parameter optimization", *JMLR* 13,
  281-305, 2012.
- K. Jamieson and A. Talwalkar, "Non-stochastic best arm identification and hyperparameter
  optimization", *AISTATS* 2016; L. Li et al., "Hyperband: a novel bandit-based approach to
  hyperparameter optimization", *JMLR* 18(185), 2018: successive halving, equation (5).
- The result fields follow ``scipy.optimize.OptimizeResult`` and scikit-optimize
  (``x``, ``fun``, ``x_iters``, ``func_vals``), so results compare side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from minnas._validation import as_float_array, check_callable, check_int
from minnas.hpo.space import Space

__all__ = ["HalvingResult", "OptimizeResult", "check_value", "grid_search", "random_search",
           "result_from_history", "successive_halving"]

Objective = Callable[[dict], float]


@dataclass
class OptimizeResult:
    """What an optimiser found, and everything it evaluated on the way.

    Attributes
    ----------
    x : dict
        The best point found (the first one, if several tie).
    fun : float
        Its objective value, ``min(func_vals)``.
    x_iters : list of dict
        Every evaluated point, in evaluation order.
    func_vals : ndarray, shape (n_calls,)
        The objective value of each point in ``x_iters``.
    space : Space
        The search space.
    """

    x: dict
    fun: float
    x_iters: list[dict]
    func_vals: np.ndarray
    space: Space

    def best_so_far(self) -> np.ndarray:
        r"""Running minimum :math:`y^\star_t = \min_{i \le t} f(\lambda_i)`, equation (4)."""
        return np.minimum.accumulate(self.func_vals)

    def __repr__(self) -> str:  # the dataclass repr would print every evaluated point
        return (f"OptimizeResult(x={self.x}, fun={self.fun:.6g}, "
                f"n_calls={len(self.func_vals)}, space={self.space!r})")


def check_value(y: float, x: dict) -> float:
    """Return the objective value ``y`` as a float; a NaN, inf or non-number raises ValueError.

    One NaN would poison every comparison that follows (``min`` of a list with NaN depends on
    its position), so the search stops at once and names the point that produced it.
    """
    try:
        value = float(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the objective returned {y!r} at {x}; it must return a float") from exc
    if not math.isfinite(value):
        raise ValueError(f"the objective returned {value} at {x}; it must be finite "
                         "(return a large penalty value for failed configurations instead)")
    return value


def result_from_history(space: Space, x_iters: Sequence[dict],
                        func_vals: ArrayLike) -> OptimizeResult:
    """Build an :class:`OptimizeResult` from evaluated points and their values, equation (4)."""
    func_vals = as_float_array(func_vals, "func_vals", ndim=1)
    x_iters = [dict(x) for x in x_iters]
    if len(x_iters) != len(func_vals):
        raise ValueError(f"x_iters has {len(x_iters)} points but func_vals has "
                         f"{len(func_vals)} values; they must match")
    best = int(np.argmin(func_vals))  # the first of tied minima
    return OptimizeResult(x=dict(x_iters[best]), fun=float(func_vals[best]),
                          x_iters=x_iters, func_vals=func_vals, space=space)


def _evaluate(func: Objective, space: Space, points: list[dict]) -> OptimizeResult:
    """Evaluate ``func`` at every point, in order, checking each value."""
    check_callable(func, "func")
    values = [check_value(func(dict(x)), x) for x in points]  # a copy: func may not alter x_iters
    return result_from_history(space, points, values)


def grid_search(func: Objective, space: Space, k: int = 5) -> OptimizeResult:
    """Evaluate ``func`` on the grid ``space.grid(k)``, equation (2).

    Parameters
    ----------
    func : callable
        Objective to minimise; takes a dict ``{name: value}`` and returns a float.
    space : Space
        The search space.
    k : int, default 5
        Grid points per numeric dimension (evenly spaced in the unit encoding, so log-spaced on
        log scales); categorical dimensions contribute all their choices.

    Returns
    -------
    OptimizeResult
        With ``len(x_iters) = k ** d`` (fewer when integer grids merge, more with categories).
    """
    _check_space(space)
    return _evaluate(func, space, space.grid(k))


def random_search(func: Objective, space: Space, n_calls: int,
                  seed: int | np.random.Generator | None = None) -> OptimizeResult:
    """Evaluate ``func`` at ``n_calls`` points drawn from ``space``, equation (3).

    Parameters
    ----------
    func : callable
        Objective to minimise; takes a dict ``{name: value}`` and returns a float.
    space : Space
        The search space; each point is drawn uniformly in its unit encoding.
    n_calls : int
        Number of evaluations (>= 1).
    seed : int, Generator or None
        Same seed, same points.

    Returns
    -------
    OptimizeResult
    """
    _check_space(space)
    n_calls = check_int(n_calls, "n_calls", low=1)
    return _evaluate(func, space, space.sample(n_calls, seed=seed))


@dataclass
class HalvingResult:
    """What successive halving found, rung by rung.

    Attributes
    ----------
    x : dict
        The winner: the best configuration of the last rung (the first drawn, if several tie).
    fun : float
        Its objective value at the last rung's budget.
    configs : list of dict
        The ``n`` configurations drawn, in drawing order.
    rungs : list of dict
        One per rung: ``budget`` (float), ``indices`` (positions in ``configs``, in the order
        evaluated) and ``losses`` (ndarray aligned with ``indices``).
    """

    x: dict
    fun: float
    configs: list[dict]
    rungs: list[dict]

    @property
    def total_budget(self) -> float:
        """The budget spent: the sum over rungs of budget times configurations evaluated."""
        return float(sum(r["budget"] * len(r["indices"]) for r in self.rungs))


def successive_halving(func: Callable[[dict, float], float], space: Space, n: int,
                       min_budget: float, max_budget: float, eta: int = 3,
                       seed: int | np.random.Generator | None = None) -> HalvingResult:
    """Successive halving over ``n`` configurations drawn from ``space``, equation (5).

    Parameters
    ----------
    func : callable
        ``func(params, budget)`` returns the loss of configuration ``params`` trained with
        ``budget`` (epochs, iterations, data); lower is better.
    space : Space
        The search space; the configurations are ``space.sample(n, seed)``.
    n : int
        Configurations in the first rung (>= 1).
    min_budget, max_budget : float
        ``0 < min_budget <= max_budget``; no rung's budget exceeds ``max_budget``.
    eta : int, default 3
        Keep the best ``1 / eta`` of each rung (an integer >= 2).
    seed : int, Generator or None

    Returns
    -------
    HalvingResult
    """
    _check_space(space)
    check_callable(func, "func")
    n = check_int(n, "n", low=1)
    eta = check_int(eta, "eta", low=2)
    if not 0 < min_budget <= max_budget:
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget} and {max_budget}")
    configs = space.sample(n, seed=seed)
    alive, budget, rungs = list(range(n)), float(min_budget), []
    while True:
        losses = np.array([check_value(func(dict(configs[i]), budget), configs[i]) for i in alive])
        rungs.append({"budget": budget, "indices": list(alive), "losses": losses})
        if len(alive) == 1 or budget * eta > max_budget:
            break
        order = np.argsort(losses, kind="stable")  # ties: the earlier position (drawn first) wins
        alive = sorted(alive[j] for j in order[:max(1, len(alive) // eta)])
        budget *= eta
    best = min(range(len(alive)), key=lambda j: (losses[j], alive[j]))
    return HalvingResult(x=dict(configs[alive[best]]), fun=float(losses[best]), configs=configs,
                         rungs=rungs)


def _check_space(space: Space) -> None:
    if not isinstance(space, Space):
        raise ValueError(f"space must be a minnas.hpo.space.Space, got {type(space).__name__}")
