r"""Search spaces for hyperparameter optimisation, and their encoding in the unit cube.

A search space is a product of *dimensions*, one per hyperparameter: a real interval, an integer
range, or a set of categories. Optimisers such as random search (:mod:`minnas.hpo.search`) and
Bayesian optimisation (:mod:`minnas.hpo.bayesopt`) do not work on these values directly but on
their encoding in the unit cube :math:`[0, 1]^D`, where "uniform" and "distance" mean the same
for every dimension.

Sources
-------
- J. Bergstra and Y. Bengio, "Random search for hyper-parameter optimization", *JMLR* 13,
  281-305, 2012: log-uniform priors for scale parameters such as learning rates and penalties.
- M. Feurer and F. Hutter, "Hyperparameter optimization", chapter 1 of *Automated Machine
  Learning: Methods, Systems, Challenges*, Springer, 2019: search spaces, conditional and
  categorical hyperparameters.
- J. Snoek, H. Larochelle and R. P. Adams, "Practical Bayesian optimization of machine learning
  algorithms", *NeurIPS* 2012: optimising in the unit hypercube.

Equations implemented
---------------------
(1) Real dimension on :math:`[a, b]`: :math:`u = (v - a) / (b - a)`, and back
    :math:`v = a + u (b - a)`.
(2) Log-scaled real dimension (:math:`0 < a`): the same map on :math:`\log v`,

    .. math:: u = \frac{\log v - \log a}{\log b - \log a}, \qquad
              v = a \left(\frac{b}{a}\right)^{u}.

    A uniform :math:`u` then gives a log-uniform :math:`v`, density
    :math:`p(v) = 1 / (v \log(b/a))`: every decade of :math:`[a, b]` is equally likely.
(3) Integer dimension on :math:`\{a, \dots, b\}`: map (1) or (2) on the widened interval
    :math:`[a - \tfrac12, b + \tfrac12]`, and back by rounding to the nearest integer, clipped to
    :math:`[a, b]`. Each integer then owns a cell of width 1 (in :math:`v`), so a uniform
    :math:`u` makes every integer equally likely; on a log scale integer :math:`v` has
    probability :math:`\log\frac{v + 1/2}{v - 1/2} / \log\frac{b + 1/2}{a - 1/2}`.
(4) Categorical dimension with choices :math:`c_1, \dots, c_m`: one-hot, :math:`u = e_i` for
    :math:`c_i`, and back by :math:`i = \arg\max_j u_j`. The argmax of :math:`m` independent
    uniforms is uniform on :math:`\{1, \dots, m\}`, so rule (5) needs no special case.
(5) Sampling: draw :math:`u` uniformly in the unit cube and decode it, :math:`v = \mathrm{dec}(u)`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from minnas._validation import as_float_array, check_int

__all__ = ["Categorical", "Dimension", "Integer", "Real", "Space"]


# ------------------------------------------------------------------------------ dimensions
class Dimension:
    """One hyperparameter: encodes values into ``n_unit`` columns of the unit cube and back."""

    n_unit: int = 1

    def to_unit(self, values: Sequence) -> np.ndarray:  # pragma: no cover - abstract
        """Encode ``n`` values as an array of shape ``(n, n_unit)`` in [0, 1]."""
        raise NotImplementedError

    def from_unit(self, u: ArrayLike) -> list:  # pragma: no cover - abstract
        """Decode an array of shape ``(n, n_unit)`` (clipped to [0, 1]) into ``n`` values."""
        raise NotImplementedError

    def grid(self, k: int) -> list:  # pragma: no cover - abstract
        """Values of a grid with ``k`` points per dimension."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:  # pragma: no cover - abstract
        """Whether ``value`` is a legal value of this dimension."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> list:
        """``n`` values drawn by decoding uniform points of the unit cube, equation (5)."""
        return self.from_unit(rng.uniform(size=(check_int(n, "n", low=0), self.n_unit)))

    def _unit_columns(self, u: ArrayLike) -> np.ndarray:
        """``u`` as a float array of shape ``(n, n_unit)``, clipped to [0, 1]."""
        u = as_float_array(u, "u", ndim=(1, 2), allow_empty=True)
        if u.ndim == 1:  # a 1-D array holds one value per row for a one-column dimension
            u = u.reshape(-1, self.n_unit)
        if u.shape[1] != self.n_unit:
            raise ValueError(f"{self!r} is encoded in {self.n_unit} column(s), "
                             f"got u of shape {u.shape}")
        return np.clip(u, 0.0, 1.0)  # optimisers may step slightly outside the cube


class _Numeric(Dimension):
    """Shared code of Real and Integer: an interval mapped linearly (or log-linearly) to [0, 1]."""

    def __init__(self, low: float, high: float, log: bool) -> None:
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{type(self).__name__} bounds must be finite, "
                             f"got low={low}, high={high}")
        if not low < high:
            raise ValueError(f"{type(self).__name__} needs low < high, got low={low}, high={high}")
        self.low, self.high, self.log = low, high, bool(log)

    # The encoded interval [lo, hi] before the (log) transform; Integer widens it, eq. (3).
    def _edges(self) -> tuple[float, float]:
        return float(self.low), float(self.high)

    def _t(self, v: np.ndarray) -> np.ndarray:
        """The transform whose scale is linear in u: log for log dimensions, eq. (2)."""
        return np.log(v) if self.log else v

    def _inside(self, v: np.ndarray) -> np.ndarray:  # pragma: no cover - defined by subclasses
        """Elementwise: is each value legal?"""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        return bool(self._inside(np.array([v]))[0])

    def to_unit(self, values: Sequence) -> np.ndarray:
        v = as_float_array(values, "values", ndim=(0, 1), allow_empty=True).reshape(-1)
        bad = v[~self._inside(v)]
        if bad.size:
            raise ValueError(f"value {bad[0]} lies outside {self!r}")
        lo, hi = self._t(np.array(self._edges()))
        u = (self._t(v) - lo) / (hi - lo)  # equations (1)-(3)
        return np.clip(u, 0.0, 1.0).reshape(-1, 1)  # clip: contains() allows a rounding error

    def _decode(self, u: ArrayLike) -> np.ndarray:
        """Inverse of :meth:`to_unit` before any rounding: :math:`v = a (b/a)^u` on a log scale."""
        a, b = self._edges()
        u = self._unit_columns(u)[:, 0]
        v = a * (b / a) ** u if self.log else a + u * (b - a)  # exactly a at u = 0
        return np.clip(v, self.low, self.high)  # (b/a)**1 * a may land a rounding error above b

    def _grid_values(self, k: int) -> np.ndarray:
        """``k`` points evenly spaced from low to high in the (log) scale; k = 1: the middle."""
        k = check_int(k, "k", low=1)
        spaced = np.geomspace if self.log else np.linspace  # both hit low and high exactly
        return spaced(self.low, self.high, k) if k > 1 else spaced(self.low, self.high, 3)[1:2]

    def __repr__(self) -> str:
        log = ", log=True" if self.log else ""
        return f"{type(self).__name__}({self.low!r}, {self.high!r}{log})"


class Real(_Numeric):
    """A real hyperparameter on ``[low, high]``, optionally on a log scale (then ``low > 0``).

    Examples
    --------
    >>> Real(1e-4, 1e-1, log=True).from_unit([[0.0], [0.5], [1.0]])  # u = 0.5: the geometric mean
    [0.0001, 0.0031622776601683794, 0.1]
    """

    def __init__(self, low: float, high: float, log: bool = False) -> None:
        low, high = _as_number(low, "low"), _as_number(high, "high")
        super().__init__(low, high, log)
        if self.log and low <= 0:
            raise ValueError(f"a log-scaled Real needs low > 0, got low={low}")

    def from_unit(self, u: ArrayLike) -> list[float]:
        return [float(v) for v in self._decode(u)]

    def grid(self, k: int) -> list[float]:
        return [float(v) for v in self._grid_values(k)]

    def _inside(self, v: np.ndarray) -> np.ndarray:
        # A relative slack of 1e-9 accepts bounds computed with rounding, e.g.
        # np.logspace(-5, -1)[0] = 9.999999999999999e-06 for low = 1e-5; NaN is never inside.
        return (v >= self.low - 1e-9 * abs(self.low)) & (v <= self.high + 1e-9 * abs(self.high))


class Integer(_Numeric):
    """An integer hyperparameter on ``{low, ..., high}``, optionally on a log scale (``low >= 1``).

    Encoded on the widened interval ``[low - 1/2, high + 1/2]`` (equation 3), so that uniform
    sampling in the unit cube gives every integer the same chance (on a linear scale).
    """

    def __init__(self, low: int, high: int, log: bool = False) -> None:
        super().__init__(_as_int(low, "low"), _as_int(high, "high"), log)
        if self.log and self.low < 1:
            raise ValueError(f"a log-scaled Integer needs low >= 1, got low={self.low}")

    def _edges(self) -> tuple[float, float]:
        return self.low - 0.5, self.high + 0.5

    def from_unit(self, u: ArrayLike) -> list[int]:
        # _decode clipped v to [low, high], whose ends are integers, so rounding stays inside.
        return [int(v) for v in np.rint(self._decode(u))]

    def grid(self, k: int) -> list[int]:
        # Rounding may merge neighbouring grid points (k larger than the range, or a log scale);
        # dict.fromkeys keeps the first of each and the order.
        return list(dict.fromkeys(int(v) for v in np.rint(self._grid_values(k))))

    def _inside(self, v: np.ndarray) -> np.ndarray:
        return (v == np.round(v)) & (v >= self.low) & (v <= self.high)  # 3 and 3.0, not 3.5


class Categorical(Dimension):
    """A categorical hyperparameter: one of ``choices``, one-hot encoded (equation 4)."""

    def __init__(self, choices: Sequence[Hashable]) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable):
            raise ValueError(f"choices must be a sequence of values, got {choices!r}")
        choices = list(choices)
        if len(choices) < 2:
            raise ValueError(f"a Categorical needs at least 2 choices, got {choices!r}")
        try:
            self._index = {c: i for i, c in enumerate(choices)}
        except TypeError as exc:
            raise ValueError(f"choices must be hashable, got {choices!r}") from exc
        if len(self._index) < len(choices):
            raise ValueError(f"choices must be distinct, got {choices!r}")
        self.choices = choices
        self.n_unit = len(choices)

    def to_unit(self, values: Sequence) -> np.ndarray:
        values = list(values)
        bad = [v for v in values if not self.contains(v)]
        if bad:
            raise ValueError(f"value {bad[0]!r} is not one of {self!r}")
        onehot = np.zeros((len(values), self.n_unit))
        onehot[np.arange(len(values)), [self._index[v] for v in values]] = 1.0
        return onehot

    def from_unit(self, u: ArrayLike) -> list:
        return [self.choices[i] for i in np.argmax(self._unit_columns(u), axis=1)]

    def grid(self, k: int) -> list:
        check_int(k, "k", low=1)  # k is ignored, but a bad k is still a mistake
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        try:
            return value in self._index
        except TypeError:  # unhashable
            return False

    def __repr__(self) -> str:
        return f"Categorical({self.choices!r})"


# ---------------------------------------------------------------------------------- space
class Space:
    """A product of named dimensions; points are dicts ``{name: value}``.

    Parameters
    ----------
    dimensions : dict of str to Real, Integer or Categorical
        The hyperparameters, in the order used for the unit-cube columns.

    Examples
    --------
    >>> space = Space({"C": Real(1e-2, 1e3, log=True), "kernel": Categorical(["rbf", "poly"])})
    >>> space.n_unit
    3
    >>> space.to_unit({"C": 10.0, "kernel": "poly"})  # log10(C) is 3/5 of the way; one-hot
    array([[0.6, 0. , 1. ]])
    >>> space.sample(2, seed=0)
    [{'C': 15.30412261686664, 'kernel': 'rbf'}, {'C': 0.22332305940548558, 'kernel': 'poly'}]
    """

    def __init__(self, dimensions: Mapping[str, Dimension]) -> None:
        if not isinstance(dimensions, Mapping):
            raise ValueError("dimensions must be a dict {name: Real | Integer | Categorical}, "
                             f"got {type(dimensions).__name__}")
        if not dimensions:
            raise ValueError("a Space needs at least one dimension")
        for name, dim in dimensions.items():
            if not isinstance(name, str):
                raise ValueError(f"dimension names must be strings, got {name!r}")
            if not isinstance(dim, Dimension):
                raise ValueError(f"dimension {name!r} must be a Real, Integer or Categorical, "
                                 f"got {dim!r}")
        self.dimensions = dict(dimensions)
        self.names = list(self.dimensions)
        # Column blocks of the unit encoding: dimension i owns n_unit_i columns from start_i on.
        starts = np.cumsum([0] + [d.n_unit for d in self.dimensions.values()])
        self._columns = {name: slice(int(a), int(b)) for name, a, b
                         in zip(self.names, starts[:-1], starts[1:])}
        self.n_unit = int(starts[-1])

    def __len__(self) -> int:
        return len(self.dimensions)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {d!r}" for n, d in self.dimensions.items())
        return f"Space({{{inner}}})"

    def validate(self, point: Mapping[str, Any]) -> dict:
        """Return ``point`` as a dict in the space's key order; ValueError names a bad key."""
        if not isinstance(point, Mapping):
            raise ValueError(f"a point must be a dict {{name: value}}, got {type(point).__name__}")
        missing = [n for n in self.names if n not in point]
        extra = [k for k in point if k not in self.dimensions]
        if missing:
            raise ValueError(f"point {dict(point)} is missing key(s) {missing}")
        if extra:
            raise ValueError(f"point {dict(point)} has unknown key(s) {extra}; "
                             f"the space has {self.names}")
        for name, dim in self.dimensions.items():
            if not dim.contains(point[name]):
                raise ValueError(f"point[{name!r}] = {point[name]!r} lies outside {dim!r}")
        return {name: point[name] for name in self.names}

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> list[dict]:
        """``n`` independent points, each dimension sampled by equation (5); seeded."""
        rng = np.random.default_rng(seed)  # passes a Generator through unchanged
        n = check_int(n, "n", low=0)
        columns = {name: dim.sample(rng, n) for name, dim in self.dimensions.items()}
        return [{name: columns[name][i] for name in self.names} for i in range(n)]

    def to_unit(self, points: Mapping | Sequence[Mapping]) -> np.ndarray:
        """Encode one point (a dict) or a list of points as an array of shape ``(n, n_unit)``."""
        points = [points] if isinstance(points, Mapping) else list(points)
        points = [self.validate(p) for p in points]
        blocks = [dim.to_unit([p[name] for p in points]) for name, dim in self.dimensions.items()]
        return np.hstack(blocks) if points else np.zeros((0, self.n_unit))

    def from_unit(self, U: ArrayLike) -> list[dict]:
        """Decode an array of shape ``(n, n_unit)`` or ``(n_unit,)`` into ``n`` points."""
        U = as_float_array(U, "U", ndim=(1, 2), allow_empty=True)
        U = U.reshape(1, -1) if U.ndim == 1 else U
        if U.shape[1] != self.n_unit:
            raise ValueError(f"U must have {self.n_unit} columns (the space's n_unit), "
                             f"got shape {U.shape}")
        columns = {name: dim.from_unit(U[:, self._columns[name]])
                   for name, dim in self.dimensions.items()}
        return [{name: columns[name][i] for name in self.names} for i in range(U.shape[0])]

    def grid(self, k: int) -> list[dict]:
        """The Cartesian product of each dimension's ``grid(k)``; the last name varies fastest."""
        values = [dim.grid(k) for dim in self.dimensions.values()]
        return [dict(zip(self.names, combo)) for combo in itertools.product(*values)]


# ------------------------------------------------------------------------------- helpers
def _as_number(x: Any, name: str) -> float:
    # Not check_number: NaN and inf pass here, so that the bounds check names them "not finite".
    try:
        return float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {x!r}") from exc


def _as_int(x: Any, name: str) -> int:
    # Accepts 3 and np.int64(3) and 3.0, but not 3.5: an Integer bound must be a whole number.
    if isinstance(x, bool) or not float(_as_number(x, name)).is_integer():
        raise ValueError(f"{name} of an Integer must be a whole number, got {x!r}")
    return int(x)

