"""Inverted-file (IVF) search by dot product: spherical k-means lists, a few probed.

The database rows are clustered by a spherical k-means (cosine centroids) into
``n_lists`` lists, stored sorted by list so that each list is one contiguous block.
A query scores every centroid (one matrix product per batch of queries), keeps the
``n_probe`` lists of largest score and scores only their members, exactly, in
float32; the ``k`` best are returned. The work per query is ``n_lists * d`` for the
centroids plus about ``n_probe * n / n_lists * d`` for the candidates, instead of
``n * d``: with ``n_lists`` about ``sqrt(n)`` the search grows as ``n^1.5`` in the
database size for as many queries, instead of ``n^2``.

What it claims: the similarities it returns are the exact float32 dot products of the
rows it returns, in decreasing order, and with ``n_probe >= n_lists`` the result is
that of the exact search (every list is probed). With fewer probed lists a true
neighbour is missed only when it lies in a list whose centroid ranks below the
``n_probe``-th for that query; the recall of the true top-k is measured (tests and
the benchmarks), not bounded.
"""

from numbers import Integral

import numpy as np
import torch
from numba import njit, prange
from scipy.sparse import csr_matrix
from sklearn.utils import check_random_state

from ._screen_kernel import insert_sorted

__all__ = ["IVFIndex"]

# Entries of the (queries x centroids) score block held at once (float32: 64 MiB).
_SCORE_ENTRIES = 1 << 24


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def _probe_lists(U, V, ids, offsets, probes, self_offset, out_sims, out_ids):
    """For each query ``i`` (in parallel), the best ``k`` members of its probed lists.

    ``V``/``ids``: database rows sorted by list and their original indices;
    ``offsets[l]:offsets[l + 1]`` the rows of list ``l``; ``probes[i]`` the lists of
    query ``i``; ``self_offset >= 0``: query ``i`` is database row ``self_offset + i``
    and is left out. ``out_sims``/``out_ids`` of shape (q, k) are filled, padded with
    -inf / -1.
    """
    q, d = U.shape
    for i in prange(q):
        sims = out_sims[i]
        best = out_ids[i]
        sims[:] = -np.inf
        best[:] = -1
        count = 0
        me = self_offset + i if self_offset >= 0 else -1
        for p in range(probes.shape[1]):
            lst = probes[i, p]
            for r in range(offsets[lst], offsets[lst + 1]):
                j = ids[r]
                if j == me:
                    continue
                s = np.float32(0.0)
                for t in range(d):
                    s += U[i, t] * V[r, t]
                count = insert_sorted(sims, best, count, s, j)


def _unit_rows(X):
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.where(norms > 0, X / np.where(norms > 0, norms, 1), 0).astype(np.float32)


def _nearest_centroid(X, C):
    """Index of the centroid of largest dot product for every row of X, in blocks."""
    X_t, C_t = torch.from_numpy(X), torch.from_numpy(C)
    step = max(1, _SCORE_ENTRIES // max(len(C), 1))
    out = np.empty(len(X), dtype=np.int64)
    for lo in range(0, len(X), step):
        out[lo:lo + step] = torch.argmax(X_t[lo:lo + step] @ C_t.T, dim=1).numpy()
    return out


def spherical_kmeans(X, n_clusters, *, n_iter=10, random_state=None):
    """Cosine k-means: unit centroids, each row assigned to its largest dot product.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32
    n_clusters : int, 1 <= n_clusters <= n
    n_iter : int, default=10
        Lloyd iterations (assignment then normalised sums).
    random_state : int, RandomState instance or None
        Initial centroids (distinct rows of X) and the rows that re-seed an empty cluster.

    Returns
    -------
    ndarray of shape (n_clusters, d), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import spherical_kmeans
    >>> X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    >>> C = spherical_kmeans(X, 2, random_state=0)
    >>> C.shape, np.linalg.norm(C, axis=1).round(3).tolist()
    ((2, 2), [1.0, 1.0])
    >>> labels = np.argmax(X @ C.T, axis=1)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    rng = check_random_state(random_state)
    X = np.ascontiguousarray(X, dtype=np.float32)
    C = _unit_rows(X[rng.choice(len(X), n_clusters, replace=False)])
    for _ in range(n_iter):
        assign = _nearest_centroid(X, C)
        # Sums of each cluster's rows: one sparse (clusters x rows) product.
        members = csr_matrix((np.ones(len(X), np.float32), (assign, np.arange(len(X)))),
                             shape=(n_clusters, len(X)))
        sums = np.asarray(members @ X, dtype=np.float64)
        empty = np.flatnonzero(np.bincount(assign, minlength=n_clusters) == 0)
        sums[empty] = X[rng.choice(len(X), len(empty), replace=False)]
        C = _unit_rows(sums)
    return C


class IVFIndex:
    """Approximate dot-product search through an inverted file of k-means lists.

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
        Database vectors (a copy sorted by list is kept).
    n_lists : int or None, default=None
        Lists (k-means centroids); None: ``round(2 * sqrt(n))``, at most ``n``.
    n_probe : int, default=16
        Lists scored per query (all of them: the exact search).
    n_iter : int, default=10
        Iterations of the spherical k-means.
    sample_size : int, default=32
        The k-means is fitted on at most ``sample_size * n_lists`` rows drawn from V
        (then every row is assigned to its nearest centroid).
    random_state : int, RandomState instance or None, default=None
        Seed of the k-means.

    Attributes
    ----------
    centroids_ : ndarray of shape (n_lists, d), float32
    offsets_ : ndarray of shape (n_lists + 1,), int64
        List ``l`` holds the sorted rows ``offsets_[l]:offsets_[l + 1]``.
    ids_ : ndarray of shape (n,), int64
        Original index of each sorted row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import IVFIndex
    >>> V = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
    >>> V /= np.linalg.norm(V, axis=1, keepdims=True)  # cosine: each row finds itself first
    >>> index = IVFIndex(V, n_lists=10, n_probe=10, random_state=0)
    >>> sims, ids = index.query(V[:2], 3)
    >>> ids[:, 0].tolist()
    [0, 1]
    """

    def __init__(self, V, n_lists=None, n_probe=16, *, n_iter=10, sample_size=32,
                 random_state=None):
        V = np.ascontiguousarray(V, dtype=np.float32)
        if V.ndim != 2 or len(V) == 0:
            raise ValueError(f"IVFIndex needs a non-empty 2-D array V; got shape {V.shape}.")
        for name, value in (("n_probe", n_probe), ("n_iter", n_iter), ("sample_size", sample_size)):
            if not isinstance(value, Integral) or value < 1:
                raise ValueError(f"IVFIndex: {name} must be an integer >= 1; got {value!r}.")
        n = len(V)
        if n_lists is None:
            n_lists = int(round(2 * np.sqrt(n)))
        elif not isinstance(n_lists, Integral) or n_lists < 1:
            raise ValueError(f"IVFIndex: n_lists must be an integer >= 1; got {n_lists!r}.")
        self.n_lists = min(int(n_lists), n)
        self.n_probe = int(n_probe)
        self.V = V
        rng = check_random_state(random_state)
        sample = V
        if n > sample_size * self.n_lists:
            sample = V[np.sort(rng.choice(n, sample_size * self.n_lists, replace=False))]
        self.centroids_ = spherical_kmeans(sample, self.n_lists, n_iter=n_iter, random_state=rng)
        assign = _nearest_centroid(V, self.centroids_)
        order = np.argsort(assign, kind="stable")
        self.ids_ = order.astype(np.int64)
        self.offsets_ = np.concatenate(
            [[0], np.cumsum(np.bincount(assign, minlength=self.n_lists))]).astype(np.int64)
        self._sorted = np.ascontiguousarray(V[order])

    def _search(self, U, k, self_offset=-1):
        U = np.ascontiguousarray(U, dtype=np.float32)
        if U.ndim != 2 or U.shape[1] != self.V.shape[1]:
            raise ValueError(f"IVFIndex.query: U must have shape (n, {self.V.shape[1]}); "
                             f"got {U.shape}.")
        sims = np.empty((len(U), k), dtype=np.float32)
        ids = np.empty((len(U), k), dtype=np.int64)
        if k == 0 or len(U) == 0:
            return sims, ids
        n_probe = min(self.n_probe, self.n_lists)
        C = torch.from_numpy(self.centroids_)
        step = max(256, _SCORE_ENTRIES // self.n_lists)
        for lo in range(0, len(U), step):
            block = U[lo:lo + step]
            if n_probe == self.n_lists:
                probes = np.broadcast_to(np.arange(self.n_lists), (len(block), self.n_lists))
            else:
                probes = torch.topk(torch.from_numpy(block) @ C.T, n_probe, dim=1,
                                    sorted=False).indices.numpy()
            # Parallel over queries, one pass over the members of each probed list: as
            # fast as the same kernel parallel over lists with all queries probing a
            # list in a row (its rows in cache), and >10x faster than one torch product
            # per list (Python and gather overheads); see the docs' scaling page.
            _probe_lists(block, self._sorted, self.ids_, self.offsets_,
                         np.ascontiguousarray(probes, dtype=np.int64),
                         self_offset + lo if self_offset >= 0 else -1,
                         sims[lo:lo + step], ids[lo:lo + step])
        return sims, ids

    def query(self, U, k):
        """Similarities and indices of the (approximately) ``k`` most similar rows of V.

        Parameters
        ----------
        U : ndarray of shape (q, d)
        k : int

        Returns
        -------
        similarities : ndarray of shape (q, k), float32
            Exact dot products, decreasing; -inf where fewer than ``k`` rows were found.
        indices : ndarray of shape (q, k), int64
            -1 where fewer than ``k`` rows were found.
        """
        return self._search(U, int(k))

    def neighbor_graph(self, k):
        """The (approximately) ``k`` nearest other rows of every row of V, self excluded;
        ``(similarities, indices)`` as :meth:`query`."""
        return self._search(self.V, int(k), self_offset=0)
