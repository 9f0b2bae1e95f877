"""Per-image work spread over joblib workers.

Every per-image stage goes through :func:`map_images`, so ``n_jobs`` and a user's
``joblib.parallel_config(backend=...)`` (threads, processes, dask) apply everywhere.
Images are sent in contiguous chunks: a disk-backed collection pickles as a path and
an index, an in-memory one as its arrays.
"""

import sys
import time

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

__all__ = ["group_by_shape", "map_batches", "map_by_shape", "map_images"]


def _run_chunk(func, X, first, kwargs):
    return [func(X, i, first + i, **kwargs) for i in range(len(X))]


def map_images(func, X, *, n_jobs=None, verbose=0, desc="images", **kwargs):
    """Return ``[func(X, i, i, **kwargs) for i in range(len(X))]``, possibly in parallel.

    Parameters
    ----------
    func : callable ``func(chunk, i, index, **kwargs)``
        Work for image ``i`` of the collection ``chunk`` (a slice of ``X``), which is
        image ``index`` of ``X`` (the number to quote in error messages). It must be
        picklable (a module-level function) when ``n_jobs`` is not 1.
    X : MapCollection
        The images.
    n_jobs : int, default=None
        Number of joblib workers; None means 1 unless inside a
        ``joblib.parallel_config`` context.
    verbose : int, default=0
        Progress messages on stderr: 0 none, >= 1 about ten per call.
    desc : str
        What is being processed, for the progress messages.

    Examples
    --------
    >>> from sklearn_salreg import MapCollection
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.utils import map_images
    >>> def cells(chunk, i, index):
    ...     return chunk.map_shape(i)[0] * chunk.map_shape(i)[1]
    >>> map_images(cells, MapCollection(make_maps(n_maps=3)))
    [132, 54, 70]
    """
    n = len(X)
    workers = effective_n_jobs(n_jobs)
    if workers == 1 or n < 2:
        out = []
        step = max(1, n // 10)
        start = time.perf_counter()
        for i in range(n):
            out.append(func(X, i, i, **kwargs))
            if verbose and ((i + 1) % step == 0 or i + 1 == n):
                rate = (i + 1) / max(time.perf_counter() - start, 1e-9)
                print(f"[{desc}] {i + 1}/{n} ({rate:.0f}/s)", file=sys.stderr, flush=True)
        return out
    n_chunks = min(n, 4 * workers)
    bounds = np.linspace(0, n, n_chunks + 1).astype(int)
    chunks = Parallel(n_jobs=n_jobs, verbose=max(0, 10 * int(verbose) - 1))(
        delayed(_run_chunk)(func, X[lo:hi], lo, kwargs) for lo, hi in zip(bounds[:-1], bounds[1:]))
    return [r for chunk in chunks for r in chunk]


def group_by_shape(arrays):
    """``{shape: [indices]}`` of the arrays, in order of first appearance.

    Parameters
    ----------
    arrays : sequence of ndarray

    Returns
    -------
    dict
        Each shape found, mapped to the positions of the arrays of that shape.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.utils import group_by_shape
    >>> group_by_shape([np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((2, 3))])
    {(2, 3): [0, 2], (4, 3): [1]}
    """
    groups = {}
    for i, A in enumerate(arrays):
        groups.setdefault(A.shape, []).append(i)
    return groups


def map_by_shape(func, arrays, *others):
    """Apply a batched ``func`` to each group of same-shape arrays, results in input order.

    The batched stages stack the maps of one shape into one tensor: ``func`` receives
    the arrays of one shape (and the matching items of every sequence in ``others``)
    and returns one result per array.

    Parameters
    ----------
    func : callable ``func(arrays, *others) -> sequence``
    arrays : sequence of ndarray
    *others : sequences of the length of ``arrays``
        Per-array inputs (boxes, saliency maps), grouped with their array.

    Returns
    -------
    list
        ``func``'s result for each array, in the order of ``arrays``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.utils import map_by_shape
    >>> maps = [np.ones((2, 3)), np.ones((4, 3)), 2 * np.ones((2, 3))]
    >>> map_by_shape(lambda batch, k: [float(A.sum()) * c for A, c in zip(batch, k)],
    ...              maps, [1, 10, 100])
    [6.0, 120.0, 1200.0]
    """
    out = [None] * len(arrays)
    for members in group_by_shape(arrays).values():
        results = func([arrays[i] for i in members], *([o[i] for i in members] for o in others))
        for i, result in zip(members, results):
            out[i] = result
    return out


def _run_batch(func, X, first, kwargs):
    return func(X, first, **kwargs)


def map_batches(func, X, *, batch_size, n_jobs=None, verbose=0, desc="images", prefer=None,
                **kwargs):
    """Concatenate ``func(X[lo:hi], lo, **kwargs)`` over batches of ``batch_size`` images.

    For the stages that compute a whole batch at once (in torch, on a device): each
    call returns one result per image of its batch. Batches go through joblib like
    :func:`map_images`, so ``n_jobs`` and ``joblib.parallel_config`` apply; on a GPU
    the default ``n_jobs=None`` runs them one after the other in this process.

    Parameters
    ----------
    func : callable ``func(batch, first, **kwargs)``
        ``batch`` is a slice of ``X`` whose first image is image ``first`` of ``X``.
    X : MapCollection
        The images.
    batch_size : int
        Images per call of ``func``.
    n_jobs, verbose, desc
        As in :func:`map_images`.
    prefer : {"threads", "processes"} or None, default=None
        joblib's backend hint with several workers: ``"threads"`` where ``func`` releases
        the GIL and its arguments (e.g. a search index) are better shared than copied.

    Examples
    --------
    >>> from sklearn_salreg import MapCollection
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.utils import map_batches
    >>> def firsts(batch, first):
    ...     return [first + i for i in range(len(batch))]
    >>> map_batches(firsts, MapCollection(make_maps(n_maps=5)), batch_size=2)
    [0, 1, 2, 3, 4]
    """
    n = len(X)
    bounds = list(range(0, n, batch_size)) + [n]
    pairs = list(zip(bounds[:-1], bounds[1:]))
    if effective_n_jobs(n_jobs) == 1 or len(pairs) < 2:
        out = []
        start = time.perf_counter()
        for lo, hi in pairs:
            out.extend(func(X[lo:hi], lo, **kwargs))
            if verbose:
                rate = hi / max(time.perf_counter() - start, 1e-9)
                print(f"[{desc}] {hi}/{n} ({rate:.0f}/s)", file=sys.stderr, flush=True)
        return out
    batches = Parallel(n_jobs=n_jobs, prefer=prefer, verbose=max(0, 10 * int(verbose) - 1))(
        delayed(_run_batch)(func, X[lo:hi], lo, kwargs) for lo, hi in pairs)
    return [r for batch in batches for r in batch]
