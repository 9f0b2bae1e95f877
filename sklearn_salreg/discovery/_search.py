"""Nearest-neighbour search by dot product over a database of region descriptors.

Two indexes with one interface (``query(U, k)`` and ``neighbor_graph(k)``):
:class:`ExactIndex`, a blocked float32 matrix product and a top-k per row, for
small databases, and :class:`NNDescentIndex`, an approximate pynndescent graph, for
large ones. Both return neighbours by decreasing dot product with exact float32
similarities, and never hold more than a block of the (queries x database)
similarity matrix, so a million regions never need an n x n array.
"""

import warnings

import numpy as np
import torch

from ..utils.topk import top_k_rows

__all__ = ["ExactIndex", "NNDescentIndex", "build_index", "row_similarities"]

# Entries of the similarity block held at once by the exact search (float32: 128 MiB;
# more for databases over 500,000 rows, which take blocks of 64 rows).
_BLOCK_ENTRIES = 1 << 25


def row_similarities(U, V, indices):
    """``sims[i, j] = U[i] . V[indices[i, j]]``, blocked so memory stays small.

    Indices below 0 (no neighbour found) get similarity -inf.
    """
    sims = np.empty(indices.shape, dtype=np.float32)
    k = max(indices.shape[1], 1)
    step = max(1, _BLOCK_ENTRIES // (k * max(V.shape[1], 1)))
    for lo in range(0, len(U), step):
        ind = indices[lo : lo + step]
        gathered = V[np.maximum(ind, 0)]  # (b, k, d)
        sims[lo : lo + step] = np.matmul(gathered, U[lo : lo + step, :, None])[:, :, 0]
    sims[indices < 0] = -np.inf
    return sims


def _as_tensor(X):
    """A CPU tensor sharing the memory of a float32 array (read-only arrays included:
    the search never writes to its inputs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))


def _sort_rows(indices, sims):
    order = np.argsort(-sims, axis=1, kind="stable")
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(sims, order, axis=1)


class ExactIndex:
    """Exact search: blocked ``U @ V.T`` then the top ``k`` of each row (torch, CPU).

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
        Database vectors; kept by reference.
    """

    def __init__(self, V):
        self.V = V

    def _search(self, U, k, offset=None):
        n = len(self.V)  # callers ensure 1 <= k <= n (n - 1 for the self-graph)
        indices = np.empty((len(U), k), dtype=np.int64)
        sims = np.empty((len(U), k), dtype=np.float32)
        # At least 64 rows a block: fewer would re-read a large V for too little work.
        step = max(64, _BLOCK_ENTRIES // max(n, 1))
        V, U = _as_tensor(self.V), _as_tensor(U)
        # One similarity buffer for all blocks: a fresh 128 MiB block each time costs
        # as much in page faults as the product itself (2-3x slower on 2 cores).
        buffer = torch.empty((min(step, len(U)), n), dtype=torch.float32)
        for lo in range(0, len(U), step):
            S = buffer[: len(U[lo : lo + step])]
            torch.mm(U[lo : lo + step], V.T, out=S)
            if offset is not None:  # self-search: a vertex is not its own neighbour
                rows = torch.arange(len(S))
                S[rows, offset + lo + rows] = -torch.inf
            # the shared row-wise top-k (torch.topk, ties broken by increasing index);
            # numpy's argpartition would return an
            # int64 index of the whole block and is ~20x slower.
            top_sims, top = top_k_rows(S.numpy(), k)
            indices[lo : lo + step] = top
            sims[lo : lo + step] = top_sims
        return indices, sims

    def query(self, U, k):
        """Indices (q, k) and similarities (q, k) of the ``k`` most similar rows of V."""
        return self._search(U, k)

    def neighbor_graph(self, k):
        """The ``k`` nearest other rows of every row of V (self excluded)."""
        return self._search(self.V, k, offset=0)


class NNDescentIndex:
    """Approximate search with a pynndescent graph (dot product metric).

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
    n_neighbors : int
        Degree of the NN-descent graph; the self-graph can give up to
        ``n_neighbors - 1`` neighbours.
    random_state, n_jobs, verbose
        Passed to :class:`pynndescent.NNDescent`.
    """

    def __init__(self, V, n_neighbors, random_state=None, n_jobs=None, verbose=False):
        from pynndescent import NNDescent  # numba compiles on first use: import late

        self.V = V
        self.nnd = NNDescent(
            V, metric="dot", n_neighbors=n_neighbors, random_state=random_state,
            n_jobs=n_jobs, verbose=bool(verbose),
        )

    def query(self, U, k, epsilon=0.1):
        """Approximate ``k`` most similar rows of V; similarities recomputed exactly."""
        indices, _ = self.nnd.query(U, k=k, epsilon=epsilon)
        indices = indices.astype(np.int64)
        return _sort_rows(indices, row_similarities(U, self.V, indices))

    def neighbor_graph(self, k):
        """Approximate ``k`` nearest other rows of every row of V (self excluded)."""
        indices, _ = self.nnd.neighbor_graph
        indices = indices.astype(np.int64)
        # pynndescent lists each point first; drop it wherever it appears.
        is_self = indices == np.arange(len(indices))[:, None]
        keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
        indices = np.take_along_axis(indices, keep, axis=1)
        return _sort_rows(indices, row_similarities(self.V, self.V, indices))

    def prepare(self):
        """Build the search structures now (otherwise on the first query)."""
        self.nnd.prepare()


def build_index(V, algorithm, n_neighbors, *, random_state=None, n_jobs=None, verbose=0):
    """An :class:`ExactIndex` (``'brute'``) or :class:`NNDescentIndex` (``'nndescent'``) of V."""
    if algorithm == "brute":
        return ExactIndex(V)
    # NN-descent finds the first k neighbours far more reliably in a wider graph: on
    # clustered 512-D descriptors the recall of 10 neighbours is ~0.9 with degree 20
    # and ~0.97 with 30 (tests/test_discovery.py), for a build time barely longer.
    degree = min(len(V) - 1, max(2 * n_neighbors, 30))
    return NNDescentIndex(V, degree, random_state=random_state, n_jobs=n_jobs, verbose=verbose)
