"""The library's input checks: one clear ``ValueError`` instead of a silent wrong answer.

Every public function of ``minnas`` runs its method first and calls these at its top; each
returns the checked value in the type the method needs, so a check and its conversion are one
line::

    n_calls = check_int(n_calls, "n_calls", low=1)
    xi = check_number(xi, "xi", low=0)
    kernel = check_choice(kernel, "kernel", KERNELS)

The messages name the argument, say what was expected and show what came instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

T = TypeVar("T")


def check_int(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int``: an integer (Python or NumPy, not a bool) in ``[low, high]``.

    Raises
    ------
    ValueError
        ``"{name} must be an integer >= {low}, got {value!r}"``, or ``<= {high}``,
        ``in [{low}, {high}]``.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (low is not None and value < low) or (high is not None and value > high)):
        raise ValueError(f"{name} must be an integer{_bounds(low, high)}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, low: float | None = None, high: float | None = None,
                 *, strict: bool = False, finite: bool = True) -> float:
    """``value`` as a ``float``: a real number (not a bool) in ``[low, high]``.

    Parameters
    ----------
    strict : bool, default False
        Exclude the bounds themselves: ``strict=True, low=0`` asks for a positive number.
    finite : bool, default True
        Reject NaN and infinities.

    Raises
    ------
    ValueError
        ``"{name} must be a finite number > 0, got {value!r}"`` and the like.
    """
    kind = "a finite number" if finite else "a number"
    try:
        if isinstance(value, bool):
            raise TypeError
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {kind}{_bounds(low, high, strict)}, "
                         f"got {value!r}") from None
    out_of_range = (
        (finite and not math.isfinite(x)) or math.isnan(x)
        or (low is not None and (x <= low if strict else x < low))
        or (high is not None and (x >= high if strict else x > high)))
    if out_of_range:
        raise ValueError(f"{name} must be {kind}{_bounds(low, high, strict)}, got {value!r}")
    return x


def check_choice(value: T, name: str, choices: Collection[T]) -> T:
    """``value`` itself, after checking that it is one of ``choices``.

    Raises
    ------
    ValueError
        ``"unknown {name} {value!r}; choose one of {choices}"``.
    """
    try:
        known = value in choices
    except TypeError:  # an unhashable value cannot be one of a set's members
        known = False
    if not known:
        raise ValueError(f"unknown {name} {value!r}; choose one of {tuple(choices)}")
    return value


def check_callable(value: Any, name: str) -> Any:
    """``value`` itself, after checking that it can be called."""
    if not callable(value):
        raise ValueError(f"{name} must be callable, got {type(value).__name__}")
    return value


def as_float_array(x: ArrayLike, name: str, ndim: int | tuple[int, ...] | None = None,
                   allow_empty: bool = False, finite: bool = True) -> np.ndarray:
    """Return ``x`` as a float array after checking its dimension, size and values.

    Parameters
    ----------
    x : array_like
        The input to check.
    name : str
        The argument's name, used in the error message.
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions; ``None`` accepts any.
    allow_empty : bool, default False
        Whether an array with zero elements is acceptable.
    finite : bool, default True
        Whether to reject NaN and infinite values.

    Raises
    ------
    ValueError
        If ``x`` cannot be converted to floats, has the wrong number of dimensions,
        is empty, or holds NaN/inf values.
    """
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _bounds(low: float | None, high: float | None, strict: bool = False) -> str:
    """`` >= 1``, `` in [0, 1]``, `` > 0``, or nothing: the range in words for a message."""
    if low is not None and high is not None:
        return f" in ({low}, {high})" if strict else f" in [{low}, {high}]"
    if low is not None:
        return f" > {low}" if strict else f" >= {low}"
    if high is not None:
        return f" < {high}" if strict else f" <= {high}"
    return ""
