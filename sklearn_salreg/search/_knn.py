"""k-nearest-neighbour retrieval by dot product: exact in batches, or pynndescent."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ..neighbors import NNDescentIndex, build_index, exact_top_k
from ..utils._param_validation import Interval, StrOptions, fit_context
from ._base import RetrieverMixin, _result_count

__all__ = ["KNNRetriever"]

# Below this many database items the exact search of a batch of queries costs about
# a millisecond per query on two cores, and building an approximate index would take
# longer than answering many thousands of queries exactly.
AUTO_NNDESCENT_MIN_SAMPLES = 300_000
# Denser index graph and wider search than pynndescent's defaults (30, 0.1): on the
# benchmark's noisy 512-D curves narrower searches got stuck far from the query
# (recall@10 0.43 at 100,000 items with epsilon 0.3; see the docstring).
INDEX_DEFAULTS = {"n_neighbors": 60, "epsilon": 1.0}


class KNNRetriever(RetrieverMixin, BaseEstimator):
    """Rank a database of descriptors by dot-product similarity to each query.

    The database is meant to hold L2-normalised global descriptors, so that the dot
    product is the cosine similarity. Exact search multiplies batches of queries with
    the database in float32 (one query: a matrix-vector product) to screen candidates,
    re-scores them in float64 and ranks them by decreasing score, ties by increasing
    index (:func:`~sklearn_salreg.neighbors.exact_top_k`), so a query gets the same ranking alone or in any
    batch; full rankings sort the float32 similarities (``torch.sort``). ``fit`` keeps
    a C-ordered float32 copy of the database. The memory of a batch is bounded by
    scikit-learn's ``working_memory`` (``sklearn.set_config``). Approximate search queries a
    :class:`~sklearn_salreg.neighbors.NNDescentIndex`; the similarities it returns are
    recomputed exactly and its results re-sorted by them.

    Parameters
    ----------
    n_neighbors : int, default=None
        Default number of results of :meth:`rank`, :meth:`kneighbors` and
        :meth:`predict`; ``None`` means the whole database (a full ranking, as the
        mAP protocols assume). Capped at the database size.
    algorithm : {'auto', 'brute', 'nndescent'}, default='auto'
        'brute': exact search. 'nndescent': approximate search with pynndescent
        (metric 'dot'), for large databases. 'auto': 'nndescent' from
        300,000 database items on, else 'brute'. A full ranking is always exact.
    index_params : dict, default=None
        Keyword arguments of :class:`pynndescent.NNDescent`, plus ``"epsilon"``, the
        search parameter of ``NNDescent.query`` (larger is slower and more
        accurate). Our defaults are ``{"n_neighbors": 60, "epsilon": 1.0}``; given
        keys replace them (pynndescent's own, 30 and 0.1, gave a lower recall; the
        measured curves are on the docs' benchmarks page).
    n_jobs : int, default=None
        Threads of pynndescent's index construction. The exact search is a matrix
        product: its threads are those of the BLAS library (set them with
        ``threadpoolctl``).
    random_state : int, RandomState instance or None, default=None
        Seed of pynndescent's index construction.

    Attributes
    ----------
    n_features_in_ : int
        Dimension of the descriptors.
    n_samples_fit_ : int
        Number of database items.
    algorithm_ : str
        The search used: 'brute' or 'nndescent'.
    index_ : NNDescentIndex or None
        The approximate index (``None`` for exact search).
    database_labels_ : ndarray of shape (n_samples_fit_,) or None
        Labels given to :meth:`fit`, used by :meth:`score` with query labels.

    See Also
    --------
    Diffusion : Re-rank by diffusion on the database's mutual k-NN graph.
    sklearn.neighbors.NearestNeighbors : Distance-based neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.search import KNNRetriever
    >>> database = np.eye(4, dtype=np.float32)
    >>> queries = np.array([[0.1, 0.9, 0.4, 0.0]], dtype=np.float32)
    >>> retriever = KNNRetriever(n_neighbors=2).fit(database)
    >>> retriever.rank(queries)
    array([[1, 2]])
    >>> sims, idx = retriever.kneighbors(queries)
    >>> sims.round(2)
    array([[0.9, 0.4]], dtype=float32)
    >>> retriever.score(queries, [{"ok": [2], "junk": []}])  # trapezoid: (0/1 + 1/2) / 2
    0.25
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
        "algorithm": [StrOptions({"auto", "brute", "nndescent"})],
        "index_params": [dict, None],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_neighbors=None, *, algorithm="auto", index_params=None, n_jobs=None,
                 random_state=None):
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.index_params = index_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Store the database (and build the approximate index if one is used).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Database descriptors, preferably L2-normalised.
        y : array-like of shape (n_samples,), default=None
            Optional labels of the database items, for :meth:`score` with query
            labels.

        Returns
        -------
        self : KNNRetriever
        """
        # A private C-ordered float32 copy, made once: queries never copy or convert it.
        X = validate_data(self, X, dtype=np.float32, order="C", copy=True)
        self._store_labels(y, X.shape[0])
        self._fit_X = X
        self._max_norm = float(np.sqrt(np.max(np.einsum("ij,ij->i", X, X), initial=0.0)))
        self.n_samples_fit_ = X.shape[0]
        algorithm = self.algorithm
        if algorithm == "auto":
            algorithm = "nndescent" if X.shape[0] >= AUTO_NNDESCENT_MIN_SAMPLES else "brute"
        self.algorithm_ = algorithm
        self.index_ = None
        if algorithm == "nndescent":
            params = {**INDEX_DEFAULTS, **(self.index_params or {})}
            params.setdefault("n_jobs", self.n_jobs if self.n_jobs is not None else 1)
            self.index_ = NNDescentIndex(X, random_state=self.random_state, **params)
            self.index_.prepare()
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_similarity=True):
        """Most similar database items of each query, by decreasing dot product.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Query descriptors. ``None`` queries every database item with itself
            left out of its own results (as in scikit-learn's ``kneighbors``).
        n_neighbors : int, default=None
            Number of results; ``None`` uses the estimator's ``n_neighbors``.
            Capped at the number of database items available.
        return_similarity : bool, default=True
            Also return the similarities.

        Returns
        -------
        similarities : ndarray of shape (n_queries, k), float32
            Only if ``return_similarity``.
        indices : ndarray of int, shape (n_queries, k)
            With the approximate search, a result the index could not fill is -1
            (similarity ``-inf``), last in its row.
        """
        check_is_fitted(self)
        itself = X is None
        Q = self._fit_X if itself else validate_data(self, X, dtype=np.float32, reset=False)
        available = self.n_samples_fit_ - int(itself)
        k = _result_count(n_neighbors, self.n_neighbors, "n_neighbors", available)
        sims, idx = self._search(Q, k, itself)
        return (sims, idx) if return_similarity else idx

    def rank(self, X, n_results=None, return_scores=False):
        """Rank the database for each query by decreasing similarity.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query descriptors.
        n_results : int, default=None
            Length of each ranking; ``None`` uses ``n_neighbors``.
        return_scores : bool, default=False
            Also return the similarities, as ``(scores, indices)``.

        Returns
        -------
        indices : ndarray of int, shape (n_queries, n_results)
            Database indices, most similar first.
        """
        if X is None:
            raise ValueError("rank needs query descriptors X; got None.")
        sims, idx = self.kneighbors(X, n_results)
        return (sims, idx) if return_scores else idx

    def _search(self, Q, k, itself=False):
        """The ``k`` nearest database items of validated queries ``Q`` (``k`` at most
        the items available), or of every database item with ``itself``."""
        if self.algorithm_ == "brute" or k >= self.n_samples_fit_ - int(itself):
            return self._brute(Q, k, itself)
        # Exact similarities of the candidates; missing candidates (-1) go last.
        return self.index_.neighbor_graph(k) if itself else self.index_.query(Q, k)

    def _brute(self, Q, k, itself):
        if not itself and k < self.n_samples_fit_:
            return exact_top_k(Q, self._fit_X, k, max_norm=getattr(self, "_max_norm", None))
        # The exact search shared with the region graph: blocked products, whose size
        # follows scikit-learn's working_memory, and the shared row-wise top-k.
        index = build_index(self._fit_X, "brute", k)
        return index.neighbor_graph(k) if itself else index.query(Q, k)
