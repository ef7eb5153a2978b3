"""Private input checks shared by the ``algorithms`` modules.

Each rule is written once here and used by every module:

* ``_array``: the one "finite numeric array" validator (shape, dtype, NaN/inf), with the library's
  dtype rule (see ``algorithms/README.md``, "Dtypes"): results are float64 (complex128) unless a
  function documents that it keeps a float32 input's precision (``keep_float=True``);
* ``_int``/``_count``/``_int_in``: integers with bounds;
* ``_rng``: the one ``rng`` contract of every function that samples;
* ``_n_samples``: the sample-count argument ``n_samples`` (with the old keyword names it replaced).

Bad values raise ``ValueError``; an ``rng`` of the wrong type raises ``TypeError``.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

RngLike = np.random.Generator | int | None
"""What every ``rng`` argument accepts: a Generator (used as is), an int seed, or None (fresh entropy)."""


def _array(
    x: Any,
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int = 0,
    complex_ok: bool = False,
    neg_inf_ok: bool = False,
    keep_float: bool = False,
) -> npt.NDArray[Any]:
    """``x`` as a finite numeric array.

    Integers and booleans become float64. Floats become float64 (complex: complex128) unless
    ``keep_float``, which keeps a float32/complex64 input's precision. ``ndim`` requires exactly that
    many dimensions, ``min_ndim`` at least that many. NaN and ±inf are refused (−inf is allowed with
    ``neg_inf_ok``, for log-probabilities). A PyTorch-like tensor (``.detach``/``.cpu``) is accepted.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged input
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if a.dtype.kind == "c" and not complex_ok:
        raise ValueError(f"{name} must be real, got a complex array")
    if a.dtype.kind not in "biufc":
        kind = "numeric" if complex_ok else "real numeric"
        raise ValueError(f"{name} must be a {kind} array, got dtype {a.dtype}")
    if a.dtype.kind == "c":
        target: Any = a.dtype if keep_float and a.dtype.itemsize >= 8 else np.complex128
    elif a.dtype.kind == "f":
        target = a.dtype if keep_float and a.dtype.itemsize >= 4 else np.float64
    else:
        target = np.float64
    a = a.astype(target, copy=False)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {a.shape}")
    if neg_inf_ok:
        if np.isnan(a).any() or np.isposinf(a.real if a.dtype.kind == "c" else a).any():
            raise ValueError(f"{name} must be finite or -inf (it contains NaN or +inf)")
    elif not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite (it contains NaN or inf)")
    return a


def _int(x: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """``x`` as a Python int (bools refused) with optional bounds, each reported on its own."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {x!r}")
    v = int(x)
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def _count(x: Any, name: str, *, minimum: int = 1) -> int:
    """A count: an integer >= ``minimum`` (1 unless told)."""
    return _int(x, name, lo=minimum)


def _int_in(x: Any, name: str, lo: int, hi: int | None = None) -> int:
    """``x`` as a Python int in ``[lo, hi]``; the message names the whole interval."""
    v = _int(x, name)
    if v < lo or (hi is not None and v > hi):
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {bounds}, got {v}")
    return v


def _rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """The ``rng`` contract of every function that samples.

    A ``numpy.random.Generator`` is used as is (and advanced); an int seed gives
    ``np.random.default_rng(seed)`` (so equal seeds give equal results); None gives a generator
    seeded from fresh OS entropy. Anything else (a float, a string, a legacy ``RandomState``)
    raises ``TypeError``; a negative seed raises ``ValueError``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"{name} seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be an int seed, None or a numpy.random.Generator, got {type(rng).__name__} {rng!r}"
    )


@overload
def _n_samples(n_samples: Any, *, minimum: int = 1, optional: Literal[False] = False, **old: Any) -> int: ...


@overload
def _n_samples(n_samples: Any, *, minimum: int = 1, optional: bool, **old: Any) -> int | None: ...


def _n_samples(n_samples: Any, *, minimum: int = 1, optional: bool = False, **old: Any) -> int | None:
    """The sample count ``n_samples``; ``old`` holds the keyword it replaced (``size=…``), still accepted.

    Passing the old keyword emits a ``DeprecationWarning``; passing both is a ``TypeError``.
    ``optional``: None is allowed (and returned), meaning "one draw, not wrapped in a list".
    """
    given = {k: v for k, v in old.items() if v is not None}
    if given:
        ((old_name, value),) = given.items()
        if n_samples is not None:
            raise TypeError(f"pass n_samples, not both n_samples and {old_name}")
        warnings.warn(f"{old_name}= is deprecated, use n_samples=", DeprecationWarning, stacklevel=3)
        n_samples = value
    if n_samples is None and optional:
        return None
    return _int_in(n_samples, "n_samples", minimum)
