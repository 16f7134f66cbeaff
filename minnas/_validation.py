"""Input checks shared by the library: one clear ``ValueError`` instead of a silent wrong answer."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


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
