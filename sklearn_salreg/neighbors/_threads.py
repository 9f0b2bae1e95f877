"""Blocks of rows on threads, as many as the BLAS library uses."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["blas_threads", "on_threads"]


def blas_threads():
    """Threads of the BLAS library (set with threadpoolctl): the selections that
    follow a product use as many.

    Examples
    --------
    >>> from sklearn_salreg.neighbors import blas_threads
    >>> blas_threads() >= 1
    True
    """
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts, default=1)


def on_threads(func, n_rows, n_threads=None, min_rows=8):
    """``func(lo, hi)`` over contiguous slices of ``range(n_rows)``, one per thread
    (the kernels above release the GIL); fewer threads when slices would be under
    ``min_rows`` rows. ``n_threads=None``: :func:`blas_threads`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import on_threads
    >>> out = np.zeros(10, dtype=int)
    >>> def square(lo, hi):
    ...     out[lo:hi] = np.arange(lo, hi) ** 2
    >>> on_threads(square, 10, n_threads=2, min_rows=2)
    >>> out.tolist()
    [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    """
    if n_rows < 2 * min_rows:
        func(0, n_rows)
        return
    n_threads = blas_threads() if n_threads is None else n_threads
    n_threads = max(1, min(n_threads, n_rows // max(1, min_rows)))
    if n_threads == 1:
        func(0, n_rows)
        return
    cuts = np.linspace(0, n_rows, n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(func, cuts[:-1], cuts[1:]))
