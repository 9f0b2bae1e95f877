"""Approximate nearest-neighbour search by dot product (pynndescent), and the factory
of the indexes."""

import numpy as np

from ._exact import ExactIndex, row_similarities
from ._ivf import IVFIndex
from ._topk import sort_rows

__all__ = ["NNDescentIndex", "build_index", "nndescent_degree"]


class NNDescentIndex:
    """Approximate search with a pynndescent graph (dot product metric).

    Neighbours come back with exact float32 similarities, recomputed from ``V``, by
    decreasing similarity (ties by increasing index); a neighbour the index could not
    find is index -1 with similarity -inf, last in its row.

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
        Database vectors (kept by reference).
    n_neighbors : int
        Degree of the NN-descent graph (see :func:`nndescent_degree`).
    epsilon : float, default=0.1
        Search breadth of the queries (larger: slower, more accurate).
    random_state, n_jobs, verbose
        Passed to :class:`pynndescent.NNDescent`.
    **params
        Other keyword arguments of :class:`pynndescent.NNDescent`.

    Attributes
    ----------
    nnd : pynndescent.NNDescent
        The index.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import NNDescentIndex
    >>> rng = np.random.default_rng(0)
    >>> V = rng.normal(size=(60, 8)).astype(np.float32)
    >>> V /= np.linalg.norm(V, axis=1, keepdims=True)
    >>> # numba compiles pynndescent on first use (about 30 s per process)
    >>> sims, indices = NNDescentIndex(V, 10, random_state=0).query(V[:3], 2)  # doctest: +SKIP
    >>> indices[:, 0].tolist(), sims.shape, sims.dtype  # doctest: +SKIP
    ([0, 1, 2], (3, 2), dtype('float32'))
    """

    def __init__(self, V, n_neighbors, *, epsilon=0.1, random_state=None, n_jobs=None,
                 verbose=0, **params):
        from pynndescent import NNDescent  # numba compiles on first use: import late

        self.V = V
        self.epsilon = epsilon
        self.nnd = NNDescent(V, metric="dot", n_neighbors=n_neighbors,
                             random_state=random_state, n_jobs=n_jobs, verbose=bool(verbose),
                             **params)

    def query(self, U, k, epsilon=None):
        """Approximate ``k`` most similar rows of V of every row of ``U``.

        Returns
        -------
        sims : ndarray of shape (m, k), float32
        indices : ndarray of shape (m, k), int64
        """
        epsilon = self.epsilon if epsilon is None else epsilon
        indices, _ = self.nnd.query(U, k=k, epsilon=epsilon)
        indices = np.asarray(indices, dtype=np.int64)
        return sort_rows(row_similarities(U, self.V, indices), indices)

    def neighbor_graph(self, k):
        """Approximate ``k`` nearest other rows of every row of V (self excluded): the
        index's own graph where it is wide enough, a query of V itself otherwise.

        Returns
        -------
        sims : ndarray of shape (n, k), float32
        indices : ndarray of shape (n, k), int64
        """
        graph = self.nnd.neighbor_graph[0]
        if graph is not None and graph.shape[1] >= k + 1:
            indices = np.asarray(graph, dtype=np.int64)
        else:
            indices = np.asarray(self.nnd.query(self.V, k=k + 1, epsilon=self.epsilon)[0],
                                 dtype=np.int64)
        # pynndescent lists each point first; drop it wherever it appears.
        is_self = indices == np.arange(len(indices))[:, None]
        keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
        indices = np.take_along_axis(indices, keep, axis=1)
        return sort_rows(row_similarities(self.V, self.V, indices), indices)

    def prepare(self):
        """Build the search structures now (otherwise on the first query)."""
        self.nnd.prepare()


def nndescent_degree(n_samples, n_neighbors):
    """Degree of the NN-descent graph that finds ``n_neighbors`` neighbours reliably.

    NN-descent finds the first ``k`` neighbours far more reliably in a wider graph: on
    clustered 512-D descriptors the recall of 10 neighbours is about 0.9 with degree
    20 and 0.97 with 30, for a build time barely longer. Hence ``max(2 k, 30)``,
    at most ``n_samples - 1``.

    Examples
    --------
    >>> from sklearn_salreg.neighbors import nndescent_degree
    >>> nndescent_degree(1000, 10), nndescent_degree(1000, 20), nndescent_degree(12, 10)
    (30, 40, 11)
    """
    return min(n_samples - 1, max(2 * n_neighbors, 30))


def build_index(V, algorithm, n_neighbors, *, random_state=None, n_jobs=None, verbose=0, **params):
    """The index of ``V`` for ``algorithm``: the one place that dispatches on it.

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
    algorithm : {'brute', 'nndescent', 'ivf'}
        :class:`ExactIndex`, :class:`NNDescentIndex` (of degree
        :func:`nndescent_degree`) or :class:`IVFIndex` (approximate: k-means lists).
    n_neighbors : int
        The ``k`` the index will be asked for.
    random_state, n_jobs, verbose
        Seed, workers and progress messages of the index construction
        (``n_jobs``: the blocks of the exact self-graph).
    **params
        Keyword arguments of the index class (``precision``, ``device`` for
        ``'brute'``; ``epsilon`` for ``'nndescent'``; ``n_lists``, ``n_probe`` for
        ``'ivf'``).

    Returns
    -------
    index : ExactIndex, NNDescentIndex or IVFIndex

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import build_index
    >>> V = np.eye(3, dtype=np.float32)
    >>> type(build_index(V, "brute", 2)).__name__
    'ExactIndex'
    """
    if algorithm == "brute":
        return ExactIndex(V, n_jobs=n_jobs, **params)
    if algorithm == "nndescent":
        return NNDescentIndex(V, nndescent_degree(len(V), n_neighbors), random_state=random_state,
                              n_jobs=n_jobs, verbose=verbose, **params)
    if algorithm == "ivf":
        return IVFIndex(V, random_state=random_state, **params)
    raise ValueError(f"algorithm={algorithm!r} is not one of 'brute', 'nndescent', 'ivf'.")
