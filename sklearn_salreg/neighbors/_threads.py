"""Blocks of rows on threads, as many as the BLAS library uses."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["blas_threads", "on_threads"]


def blas_threads():
    """Threads of the BLAS library (set with threadpoolctl): the selections that
    follow a product use as many."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts, default=1)


def on_threads(func, n_rows, n_threads=None, min_rows=8):
    """``func(lo, hi)`` over contiguous slices of ``range(n_rows)``, one per thread
    (the kernels above release the GIL); fewer threads when slices would be under
    ``min_rows`` rows. ``n_threads=None``: :func:`blas_threads`."""
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
