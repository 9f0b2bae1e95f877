"""Small array helpers shared by the stages, retrieval and evaluation."""

import numpy as np
from sklearn import get_config

__all__ = ["l2_normalize", "rows_per_batch"]


def l2_normalize(X, axis=-1):
    """Divide by the L2 norm along ``axis``; all-zero vectors stay zero (0/0 = 0).

    Floating input keeps its dtype; other input becomes float32.

    Examples
    --------
    >>> from sklearn_salreg.utils import l2_normalize
    >>> l2_normalize([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    X = np.asarray(X)
    if X.dtype.kind != "f":
        X = X.astype(np.float32)
    if X.ndim == 2 and axis in (-1, 1):
        # The hot path (millions of patch descriptors): an einsum norm and a plain
        # division (a zero row divided by 1 stays zero), ~2x faster than linalg.norm
        # and a masked divide.
        norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
        norms[norms == 0] = 1
        return np.divide(X, norms, out=np.empty_like(X))
    norms = np.linalg.norm(X, axis=axis, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def rows_per_batch(row_bytes, n_rows):
    """Number of rows whose work fits in scikit-learn's ``working_memory``.

    ``sklearn.set_config(working_memory=...)`` (MiB) bounds the memory of every
    batched loop over queries in this package.
    """
    budget = get_config()["working_memory"] * 2**20
    return int(max(1, min(n_rows, budget // max(1, row_bytes))))
