"""Small array helpers shared by the stages, retrieval and evaluation."""

import numpy as np
from sklearn import get_config

__all__ = ["l2_normalize", "rows_per_batch"]


def l2_normalize(X, axis=-1, *, copy=True):
    """Divide by the L2 norm along ``axis``; all-zero vectors stay zero (0/0 = 0).

    Floating input keeps its dtype; other input becomes float32. The result does not
    depend on the scale of a vector: where its squares would overflow (entries above
    about 1e19 in float32) or lose digits to underflow (below about 1e-19), the vector
    is divided by its largest absolute entry first. Vectors of ordinary scale take the
    fast path and are not rescaled (their result is the same to the last bit).

    Parameters
    ----------
    X : array-like
        Vectors along ``axis`` (e.g. descriptors, one per row).
    axis : int, default=-1
        The axis the norms are taken along.
    copy : bool, default=True
        False divides a floating ``X`` in place (no second array of its size) and
        returns it; other input is converted to a new float32 array either way.

    Returns
    -------
    Y : ndarray, same shape as ``X``

    Raises
    ------
    ValueError
        Where a vector holds NaN or inf (found from the norms, without another pass
        over the data).

    Examples
    --------
    >>> from sklearn_salreg.utils import l2_normalize
    >>> l2_normalize([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    >>> import numpy as np
    >>> l2_normalize(np.float32([[3e30, 4e30], [3e-30, 4e-30]])).astype(float).round(6).tolist()
    [[0.6, 0.8], [0.6, 0.8]]
    """
    X = np.asarray(X)
    if X.dtype.kind != "f":
        if X.dtype.kind not in "iub":
            raise TypeError(f"cannot L2-normalise an array of dtype {X.dtype}: not real numbers.")
        X = X.astype(np.float32)
    if X.ndim == 2 and axis in (-1, 1):
        # The hot path (millions of patch descriptors): an einsum norm and a plain
        # division (a zero row divided by 1 stays zero), ~2x faster than linalg.norm
        # and a masked divide.
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
    else:
        with np.errstate(over="ignore", under="ignore"):  # handled below
            norms = np.linalg.norm(X, axis=axis, keepdims=True)
    unsafe = ~((norms >= _safe_lower_norm(X.dtype)) & (norms < np.inf))  # NaN included
    if unsafe.any():
        norms = _rescaled_norms(X, norms, unsafe, axis)
    norms[norms == 0] = 1
    return np.divide(X, norms, out=np.empty_like(X) if copy else X)


def _safe_lower_norm(dtype):
    """Below this norm, the squares summed were partly subnormal (digits lost)."""
    return np.sqrt(np.finfo(dtype).tiny)


def _rescaled_norms(X, norms, unsafe, axis):
    """``norms`` with the ``unsafe`` ones computed again from the vectors divided by
    their largest absolute entry (exact zeros stay zero)."""
    scale = np.max(np.abs(X), axis=axis, keepdims=True) if X.size else np.zeros_like(norms)
    if not np.isfinite(scale).all():
        raise ValueError(
            f"cannot L2-normalise an array of shape {X.shape} that contains NaN or inf.")
    safe_scale = np.where(unsafe & (scale > 0), scale, 1).astype(X.dtype)
    fixed = safe_scale * np.linalg.norm(X / safe_scale, axis=axis, keepdims=True)
    return np.where(unsafe, fixed, norms).astype(norms.dtype)


def rows_per_batch(row_bytes, n_rows):
    """Number of rows whose work fits in scikit-learn's ``working_memory``.

    ``sklearn.set_config(working_memory=...)`` (MiB) bounds the memory of every
    batched loop over queries in this package.

    Parameters
    ----------
    row_bytes : int
        Bytes of work memory one row needs.
    n_rows : int
        Rows to process; the batch is never larger.

    Returns
    -------
    n : int
        At least 1.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn_salreg.utils import rows_per_batch
    >>> with sklearn.config_context(working_memory=1):  # MiB
    ...     print(rows_per_batch(1024, 10_000))
    1024
    """
    budget = get_config()["working_memory"] * 2**20
    return int(max(1, min(n_rows, budget // max(1, row_bytes))))
