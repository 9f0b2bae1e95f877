"""Diffusion on the database's mutual k-NN graph: at query time (Iscen et al., CVPR
2017), or decoupled into offline diffusions from every database item summed online
(Yang et al., AAAI 2019)."""

from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import rows_per_batch
from ..neighbors import (SOLVER_PARAMETERS, mutual_graph_from_neighbors, normalize_graph,
                         similarities)
from ..neighbors import top_k_rows as _top_k
from ..utils._param_validation import Interval, StrOptions, fit_context
from ._base import RetrieverMixin, _result_count
from ._graph import _diffuse
from ._knn import KNNRetriever

__all__ = ["Diffusion"]


def item_diffusions(graph, subsets, *, alpha=0.99, tol=1e-6, max_iter=20, n_jobs=None):
    """The diffusion from each database item over its own neighbourhood.

    Row ``i`` of the result holds the solution ``x`` of
    ``(I - alpha Wn[s, s]) x = e``, ``s = subsets[i]``, ``e`` the indicator of item
    ``i``, at the columns ``s``: the diffusion from item ``i``, truncated to the
    sub-graph of ``s`` (the graph's entries restricted to it, not re-normalised, so
    that with ``s`` the whole database the row is row ``i`` of
    ``(I - alpha Wn)^-1``). Solved by conjugate gradients (float64), each row on
    its own.

    Parameters
    ----------
    graph : sparse matrix of shape (n, n)
        ``Wn``, symmetric normalised affinities.
    subsets : ndarray of int, shape (m, T)
        Database items of each sub-graph; row ``i`` must contain item ``i``. Entries
        below 0 are left out.
    alpha, tol, max_iter
        As in :func:`diffuse`.
    n_jobs : int, default=None
        Threads (the rows are split between them).

    Returns
    -------
    F : scipy.sparse.csr_array of shape (m, n), float32
        Row ``i``: the diffusion from item ``i`` (its nonzero entries only).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_array
    >>> from sklearn_salreg.neighbors import normalize_graph
    >>> from sklearn_salreg.search import item_diffusions
    >>> W = normalize_graph(csr_array(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)))
    >>> F = item_diffusions(W, np.array([[0, 1], [1, 2]]), alpha=0.5)
    >>> F.shape, F.toarray().astype(float).round(3).tolist()
    ((2, 3), [[1.143, 0.404, 0.0], [0.0, 1.143, 0.404]])
    """
    from ._diffusion_kernels import diffuse_subsets  # numba: compiled (or loaded) on first use

    graph = sp.csr_array(graph)
    n = graph.shape[0]
    subsets = np.asarray(subsets)
    m, T = subsets.shape
    rows = np.arange(m)
    if m and not (subsets == rows[:, None]).any(axis=1).all():
        raise ValueError("Each row i of subsets must contain the database item i.")
    indptr = graph.indptr.astype(np.int64)
    indices = graph.indices.astype(np.int64)
    data = graph.data.astype(np.float64)
    max_degree = int(np.diff(indptr).max(initial=0))
    values = np.empty((m, T), dtype=np.float32)
    workers = max(1, min(effective_n_jobs(n_jobs), m))
    # Blocks of rows small enough for their float64 work arrays, several per thread.
    step = max(1, min(rows_per_batch(16 * T, m), -(-m // (4 * workers))))

    def run(lo):
        hi = min(m, lo + step)
        block = subsets[lo:hi].astype(np.int64)
        rhs = (block == rows[lo:hi, None]).astype(np.float64)
        out = np.empty(block.shape)
        diffuse_subsets(indptr, indices, data, n, block, rhs, float(alpha), float(tol),
                        int(max_iter), max_degree, out)
        values[lo:hi] = out

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(0, m, step)))
    keep = (values != 0) & (subsets >= 0)
    indptr_out = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    F = sp.csr_array((values[keep], subsets[keep], indptr_out), shape=(m, n))
    F.sort_indices()
    return F


class Diffusion(RetrieverMixin, BaseEstimator):
    """Rank a database by diffusion from each query on the mutual k-NN graph.

    ``fit`` builds the graph of the database descriptors: ``W_ij = max(s_ij, 0)^gamma``
    for mutual ``n_neighbors``-nearest neighbours ``i, j`` (``s`` the dot product),
    normalised as ``Wn = D^-1/2 W D^-1/2``. For a query, ``y`` holds
    ``max(s, 0)^gamma`` at its ``n_query_neighbors`` most similar database items and 0
    elsewhere; ``(I - alpha Wn) f = y`` is solved by conjugate gradients for all
    queries of a batch at once, and the database is ranked by ``f``. Items that ``f``
    leaves tied (typically at 0, out of reach of the query's neighbours) keep their
    order of the initial k-NN ranking.

    With ``truncate=T``, each query diffuses only on the sub-graph of its ``T`` most
    similar database items (re-normalised), which is what makes diffusion fast on
    large databases; the ranking continues after those ``T`` with the k-NN order.

    ``method='decoupled'`` moves the solves offline (Yang et al.): ``fit`` computes
    the diffusion from every database item ``j`` over the sub-graph of its own ``T``
    nearest items (:func:`item_diffusions`), and a query is scored by
    ``f = sum_j y_j F_j``, the rows of its ``n_query_neighbors`` neighbours weighted
    by its query vector: a sparse sum, far cheaper than a solve. Without
    truncation, ``F = (I - alpha Wn)^-1`` and ``f`` is exactly the query-time
    diffusion (``Wn`` is symmetric); with it, each neighbour's diffusion reaches the
    neighbourhood of that neighbour rather than only the query's own top ``T``,
    which ranks clustered data better than the truncated query-time diffusion.
    Items that ``f`` does not reach (score 0) follow in k-NN order. Its ``fit``
    stores ``n_samples * T`` scores (``T = truncate``, the whole database if
    ``None``: small databases only).

    Parameters
    ----------
    n_neighbors : int, default=50
        Neighbours per database item in the graph (``k``).
    n_query_neighbors : int, default=10
        Database items that start the diffusion from a query (``kq``).
    gamma : float, default=3.0
        Exponent of the similarities, in the graph and in the query vector.
    alpha : float in [0, 1), default=0.99
        Diffusion strength (the weight of the graph against the query).
    max_iter : int, default=20
        Conjugate-gradient iterations at most.
    tol : float, default=1e-6
        Relative residual at which the conjugate gradients of a query stop.
    truncate : int, default=None
        Diffuse on the top ``truncate`` items of each query's k-NN ranking only
        (``method='decoupled'``: of each database item's); ``None`` diffuses on the
        whole graph. Must be at least ``n_query_neighbors``.
    method : {'query', 'decoupled'}, default='query'
        'query': the diffusion is solved at query time (Iscen et al., the paper's
        choice). 'decoupled': offline diffusions from every database item, summed
        at query time (Yang et al.).
    n_results : int, default=None
        Default length of the rankings of :meth:`rank` and :meth:`predict`;
        ``None`` means the whole database.
    algorithm : {'auto', 'brute', 'nndescent'}, default='auto'
        k-NN search used to build the graph and to find the queries' neighbours
        (see :class:`KNNRetriever`).
    n_jobs : int, default=None
        Threads of the approximate k-NN index construction and of the offline
        diffusions of ``method='decoupled'`` (``None``: one, ``-1``: all cores).
    random_state : int, RandomState instance or None, default=None
        Seed of the approximate k-NN index construction.

    Attributes
    ----------
    n_features_in_ : int
        Dimension of the descriptors.
    n_samples_fit_ : int
        Number of database items.
    knn_ : KNNRetriever
        The k-NN search over the database.
    affinity_matrix_ : scipy.sparse.csr_array of shape (n_samples_fit_, n_samples_fit_)
        ``W``, the mutual k-NN affinities (float64, symmetric, zero diagonal).
    normalized_affinity_ : scipy.sparse.csr_array of shape (n_samples_fit_, n_samples_fit_)
        ``Wn = D^-1/2 W D^-1/2``.
    item_diffusions_ : scipy.sparse.csr_array of shape (n_samples_fit_, n_samples_fit_) or None
        ``method='decoupled'``: row ``j`` is the (truncated) diffusion from database
        item ``j`` (float32); ``None`` otherwise.
    database_labels_ : ndarray of shape (n_samples_fit_,) or None
        Labels given to :meth:`fit`, used by :meth:`score` with query labels.

    See Also
    --------
    KNNRetriever : The initial ranking, by dot product.
    diffuse : The conjugate-gradient solve, as a function.
    sklearn.semi_supervised.LabelSpreading : Diffusion of labels on a k-NN graph.

    References
    ----------
    A. Iscen, G. Tolias, Y. Avrithis, T. Furon, O. Chum. "Efficient diffusion on
    region manifolds: recovering small objects with compact CNN representations",
    CVPR 2017.

    F. Yang, R. Hinami, Y. Matsui, S. Ly, S. Satoh. "Efficient image retrieval via
    decoupling diffusion into online and offline processing", AAAI 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.search import Diffusion, KNNRetriever

    Two arcs of the unit circle that start at the same point; a query in the middle
    of the first arc finds more of its own arc by diffusion than by k-NN:

    >>> t = np.linspace(0, 1.5, 30)
    >>> arc_a = np.c_[np.cos(t), np.sin(t), 0 * t]
    >>> arc_b = np.c_[np.cos(t), 0 * t, np.sin(t)]
    >>> database = np.r_[arc_a, arc_b].astype(np.float32)
    >>> diffusion = Diffusion(n_neighbors=5, n_query_neighbors=3).fit(database)
    >>> ranks = diffusion.rank(database[[10]], n_results=30)
    >>> knn_ranks = KNNRetriever(n_neighbors=30).fit(database).rank(database[[10]])
    >>> bool((ranks < 30).sum() > (knn_ranks < 30).sum())  # among the top 30
    True
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_query_neighbors": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        **SOLVER_PARAMETERS,
        "truncate": [Interval(Integral, 1, None, closed="left"), None],
        "method": [StrOptions({"query", "decoupled"})],
        "n_results": [Interval(Integral, 1, None, closed="left"), None],
        "algorithm": [StrOptions({"auto", "brute", "nndescent"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_neighbors=50, *, n_query_neighbors=10, gamma=3.0, alpha=0.99,
                 max_iter=20, tol=1e-6, truncate=None, method="query", n_results=None,
                 algorithm="auto", n_jobs=None, random_state=None):
        self.n_neighbors = n_neighbors
        self.n_query_neighbors = n_query_neighbors
        self.gamma = gamma
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.truncate = truncate
        self.method = method
        self.n_results = n_results
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the mutual k-NN graph of the database descriptors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Database descriptors, preferably L2-normalised.
        y : array-like of shape (n_samples,), default=None
            Optional labels of the database items, for :meth:`score` with query
            labels.

        Returns
        -------
        self : Diffusion
        """
        if self.truncate is not None and self.truncate < self.n_query_neighbors:
            raise ValueError(
                f"truncate={self.truncate} must be at least n_query_neighbors="
                f"{self.n_query_neighbors}: the query's neighbours start the diffusion.")
        X = validate_data(self, X, dtype=np.float32, order="C")
        self._store_labels(y, X.shape[0])
        n = X.shape[0]
        self.n_samples_fit_ = n
        self.knn_ = KNNRetriever(
            algorithm=self.algorithm, n_jobs=self.n_jobs, random_state=self.random_state
        ).fit(X)
        k = min(self.n_neighbors, n - 1)
        subsets = None
        if self.method == "decoupled":
            # One search gives both the graph's neighbours and the sub-graphs.
            subsets, idx, sims = self._neighbourhoods(k)
        elif k >= 1:
            sims, idx = self.knn_.kneighbors(n_neighbors=k)
        if k >= 1:
            W = mutual_graph_from_neighbors(sims, idx, beta=self.gamma).astype(np.float64)
        else:
            W = sp.csr_array((n, n), dtype=np.float64)
        self.affinity_matrix_ = W
        self.normalized_affinity_ = normalize_graph(W)
        self.item_diffusions_ = None
        if subsets is not None:
            self.item_diffusions_ = item_diffusions(
                self.normalized_affinity_, subsets, alpha=self.alpha, tol=self.tol,
                max_iter=self.max_iter, n_jobs=self.n_jobs)
        return self

    def _neighbourhoods(self, k):
        """The top ``T`` items of each database item (itself first; int32) and its
        ``k`` nearest other items with their similarities (for the graph)."""
        X = self.knn_._fit_X
        n = X.shape[0]
        T = n if self.truncate is None else min(self.truncate, n)
        depth = min(n, max(T, k + 1))
        subsets = np.empty((n, T), dtype=np.int32)
        idx = np.empty((n, k), dtype=np.intp)
        sims = np.empty((n, k), dtype=np.float32)
        from ..neighbors import blas_threads, on_threads, top_k_rows_float32

        brute = self.knn_.algorithm_ == "brute"
        threads = blas_threads()
        step = min(rows_per_batch(4 * n + 12 * depth, n), 512)
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            if brute:  # one float32 product, then the top of each row
                S = X[lo:hi] @ X.T
                near = np.empty((hi - lo, depth), dtype=np.int64)
                s = np.empty((hi - lo, depth), dtype=np.float32)

                def select(a, b, S=S, near=near, s=s):
                    top_k_rows_float32(S[a:b], depth, near[a:b], s[a:b])

                on_threads(select, hi - lo, threads)
            else:
                s, near = self.knn_.kneighbors(X[lo:hi], depth)
            rows = np.arange(lo, hi)[:, None]
            is_self = near == rows
            # An item missing from its own list (an approximate search, or more
            # duplicates than the list holds) replaces the list's last entry.
            missing = ~is_self.any(axis=1)
            near[missing, -1], s[missing, -1] = rows[missing, 0], np.inf
            is_self[missing, -1] = True
            order = np.argsort(~is_self, axis=1, kind="stable")
            near = np.take_along_axis(near, order, axis=1)
            s = np.take_along_axis(s, order, axis=1)
            subsets[lo:hi] = near[:, :T]
            idx[lo:hi], sims[lo:hi] = near[:, 1 : k + 1], s[:, 1 : k + 1]
        return subsets, idx, sims

    def rank(self, X, n_results=None, return_scores=False):
        """Rank the database for each query by decreasing diffusion score.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query descriptors.
        n_results : int, default=None
            Length of each ranking; ``None`` uses the estimator's ``n_results``
            (and the whole database if that is ``None`` too).
        return_scores : bool, default=False
            Also return the diffusion scores ``f``, as ``(scores, indices)``; with
            truncation, items ranked after the top ``truncate`` score 0.

        Returns
        -------
        indices : ndarray of int, shape (n_queries, n_results)
            Database indices, most relevant first. With an approximate k-NN search
            (``algorithm='nndescent'``) and truncation, results the index could not
            find are -1, at the end of their row.
        """
        check_is_fitted(self)
        Q = validate_data(self, X, dtype=np.float32, reset=False)
        n_db = self.n_samples_fit_
        n_res = _result_count(n_results, self.n_results, "n_results", n_db)
        if self.method == "decoupled":
            scores, idx = self._rank_decoupled(Q, n_res)
        elif self.truncate is None or self.truncate >= n_db:
            scores, idx = self._rank_full(Q, n_res)
        else:
            scores, idx = self._rank_truncated(Q, n_res)
        return (scores, idx) if return_scores else idx

    def _query_vectors(self, sims):
        return np.maximum(sims.astype(np.float64), 0.0) ** self.gamma

    def _rank_full(self, Q, n_res):
        D = self.knn_._fit_X
        n_q, n_db = Q.shape[0], D.shape[0]
        kq = min(self.n_query_neighbors, n_db)
        scores = np.empty((n_q, n_res))
        idx = np.empty((n_q, n_res), dtype=np.intp)
        # Per query: similarities, two sort orders, and about six float64 CG vectors.
        step = rows_per_batch(n_db * (4 + 16 + 6 * 8), n_q)
        for lo in range(0, n_q, step):
            hi = min(n_q, lo + step)
            S = similarities(Q[lo:hi], D)
            _, initial = _top_k(S, n_db)
            seeds = initial[:, :kq]
            Y = np.zeros((n_db, hi - lo))
            Y[seeds, np.arange(hi - lo)[:, None]] = self._query_vectors(
                np.take_along_axis(S, seeds, axis=1))
            F = _diffuse(self.normalized_affinity_, Y, alpha=self.alpha, tol=self.tol,
                         max_iter=self.max_iter)
            # Sort by f within the initial order: a stable sort keeps ties in k-NN order.
            f = np.take_along_axis(F.T, initial, axis=1)
            order = _top_k(f, n_db)[1][:, :n_res]
            idx[lo:hi] = np.take_along_axis(initial, order, axis=1)
            scores[lo:hi] = np.take_along_axis(f, order, axis=1)
        return scores, idx

    def _rank_decoupled(self, Q, n_res):
        from ..neighbors import on_threads
        from ._diffusion_kernels import fill_rows_in_knn_order, sum_rows_and_rank

        F = self.item_diffusions_
        n_q, n_db = Q.shape[0], self.n_samples_fit_
        kq = min(self.n_query_neighbors, n_db)
        # Where the neighbours' rows hold fewer than n_res items in all (their
        # diffusions stay in small clusters), most rankings go on in k-NN order: one
        # search n_res deep then costs less than a shallow one and a second, deep one
        # for those rankings. The choice depends on the fitted data only, not on the
        # batch; the rankings are the same either way.
        deep = kq * F.nnz < n_res * n_db
        sims, near = self.knn_._search(Q, max(kq, n_res) if deep else kq)
        weights = self._query_vectors(sims[:, :kq])
        seeds = np.ascontiguousarray(near[:, :kq])
        knn = near if deep else np.empty((n_q, 0), dtype=near.dtype)
        scores = np.zeros((n_q, n_res))
        idx = np.empty((n_q, n_res), dtype=np.int64)
        reached = np.empty(n_q, dtype=np.int64)

        def run(lo, hi):  # the weighted sum of the neighbours' rows, ranked
            sum_rows_and_rank(F.indptr, F.indices, F.data, n_db, seeds[lo:hi], weights[lo:hi],
                              n_res, knn[lo:hi], idx[lo:hi], scores[lo:hi], reached[lo:hi])

        on_threads(run, n_q, min_rows=16)
        # The rest of a short ranking: the items not reached, in k-NN order (a ranking
        # n_res deep holds at least the n_res - reached that are missing).
        short = np.flatnonzero(reached < n_res) if not deep else np.empty(0, dtype=np.intp)
        for lo in range(0, len(short), 256):
            rows = short[lo : lo + 256]
            _, ranking = self.knn_._search(Q[rows], n_res)
            fill_rows_in_knn_order(rows, idx, reached, ranking, n_db)
        return scores, idx.astype(np.intp, copy=False)

    def _rank_truncated(self, Q, n_res):
        from ._diffusion_kernels import diffuse_truncated
        from ..neighbors import on_threads

        T = self.truncate
        n_q, n_db = Q.shape[0], self.n_samples_fit_
        kq = self.n_query_neighbors
        depth, top = max(T, n_res), min(T, n_res)
        W = self.affinity_matrix_
        max_degree = int(np.diff(W.indptr).max(initial=0))
        scores = np.zeros((n_q, n_res))
        idx = np.empty((n_q, n_res), dtype=np.intp)
        # Per query: its k-NN list (12 bytes per item) and its query vector.
        step = rows_per_batch(12 * depth + 8 * T, n_q)
        for lo in range(0, n_q, step):
            hi = min(n_q, lo + step)
            sims, near = self.knn_._search(Q[lo:hi], depth)
            subsets = near[:, :T]
            rhs = np.zeros((hi - lo, T))
            rhs[:, :kq] = self._query_vectors(sims[:, :kq])

            def run(a, b, lo=lo, subsets=subsets, rhs=rhs):  # rows a:b of the block
                diffuse_truncated(W.indptr, W.indices, W.data, n_db, subsets[a:b], rhs[a:b],
                                  float(self.alpha), float(self.tol), int(self.max_iter),
                                  max_degree, top, idx[lo + a : lo + b, :top],
                                  scores[lo + a : lo + b, :top])

            on_threads(run, hi - lo, min_rows=4)
            if n_res > T:  # after the sub-graph, the k-NN order
                idx[lo:hi, T:] = near[:, T:n_res]
        return scores, idx
