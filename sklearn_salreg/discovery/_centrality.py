"""CentralityGraph: the region graph of a database and the Katz centrality of its regions."""

import numbers
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..collection import MapCollection, stack_regions
from ..neighbors import (GRAPH_PARAMETERS, build_index, extend_neighbor_graph,
                         mutual_graph_from_neighbors, mutual_knn_graph, normalize_graph)
from ..utils import check_device
from ..utils._param_validation import StrOptions, fit_context
from ._graph import KATZ_PARAMETERS, katz_centrality

__all__ = ["CentralityGraph", "BRUTE_MAX_REGIONS"]

#: Regions up to which ``algorithm='auto'`` uses the exact search, at dimension 512.
#: In dimension ``d`` the limit is ``BRUTE_MAX_REGIONS * sqrt(512 / d)`` (the same
#: ``n^2 d`` work: about 140,000 regions whitened to 64 dimensions). The exact
#: self-graph costs n^2 d operations, NN-descent about n log n plus a one-off numba
#: compilation per process; measured times are on the docs' benchmarks page. Staying
#: exact also keeps object saliency's ``algorithm='graph'`` exact.
BRUTE_MAX_REGIONS = 50_000


def _auto_algorithm(n_regions, n_features):
    """``'brute'`` or ``'nndescent'``: the choice of ``algorithm='auto'``."""
    limit = BRUTE_MAX_REGIONS * np.sqrt(512 / max(n_features, 1))
    return "brute" if n_regions <= limit else "nndescent"


class CentralityGraph(TransformerMixin, BaseEstimator):
    """Mutual k-NN graph of all database regions and their Katz centrality.

    Regions that recur across the database (objects) sit in densely connected parts
    of the graph and get a high centrality ``g``; clutter gets little (paper
    sections 3.6-3.7). Object saliency later looks up the nearest database regions of
    every patch with :meth:`query` and weighs them by ``f^theta g``.

    ``fit`` takes a :class:`~sklearn_salreg.MapCollection` whose
    ``region_descriptors`` (whitened, L2-normalised) and ``region_saliency`` were
    set by earlier stages, or a plain (n, d) array of descriptors (saliency 1).
    ``transform`` returns the collection with ``context['graph'] = self``.

    Parameters
    ----------
    n_neighbors : int, default=20
        ``k`` of the mutual k-NN graph. Clipped, with a warning, to
        ``n_regions - 1`` for a smaller database.
    beta : float, default=3
        Edge weight ``max(v_i . v_j, 0)^beta``.
    alpha : float in [0, 1), default=0.99
        Katz damping: ``(I - alpha Wn) g = (1 - alpha) 1``.
    tol : float, default=1e-6
        Relative residual at which conjugate gradients stop.
    max_iter : int, default=100
        Most CG iterations; a ConvergenceWarning tells when they did not suffice.
    algorithm : {'auto', 'brute', 'nndescent'}, default='auto'
        k-NN search: exact (blocked float32 products, memory bounded by a block of
        2^25 similarities), approximate NN-descent (pynndescent, compiled by numba
        at its first use in a process, which takes about half a minute), or
        ``'auto'``: exact up to :data:`BRUTE_MAX_REGIONS` regions in dimension 512,
        ``BRUTE_MAX_REGIONS * sqrt(512 / d)`` in dimension ``d``.
    device : None, str or torch.device, default=None
        Where the exact search runs: None is the CPU; a device (``'cpu'``, ``'cuda'``,
        ``'cuda:1'``) runs it in torch there. The fitted attributes stay on the CPU as
        NumPy arrays. NN-descent and the CG always run on the CPU.
    n_jobs : int, default=None
        Threads of NN-descent. The exact search uses torch's CPU threads; with
        ``n_jobs`` other than 1 its rows are also split into blocks that go through
        joblib (threads by default), so that ``joblib.parallel_config(backend="dask")``
        spreads the graph over the workers of a cluster.
    random_state : int, RandomState instance or None, default=None
        Seed of NN-descent.
    verbose : int, default=0
        Print the time of each step of ``fit`` to stderr.

    Attributes
    ----------
    descriptors_ : ndarray of shape (n_regions, d), float32
        The vertices ``V``.
    region_saliency_ : ndarray of shape (n_regions,), float32
        Region saliency ``f`` (ones for array input).
    image_index_ : ndarray of shape (n_regions,), int64
        Image of each region (``arange(n)`` for array input).
    centrality_ : ndarray of shape (n_regions,), float64
        Katz centrality ``g``; an isolated region (no mutual neighbour, or an
        all-zero descriptor, whose similarities are all 0) gets ``1 - alpha``.
    graph_ : scipy.sparse.csr_array of shape (n_regions, n_regions), float32
        Normalised graph ``Wn``.
    neighbors_ : ndarray of shape (n_regions, n_neighbors_), int64
        The k-NN list of every region (most similar first), from which the mutual
        graph was built; :meth:`partial_fit` updates it.
    neighbor_similarities_ : ndarray of shape (n_regions, n_neighbors_), float32
        Their similarities ``v_i . v_j``.
    n_images_ : int
        Images seen (rows for array input); regions of images added by
        :meth:`partial_fit` get the next image numbers.
    index_ : ExactIndex or NNDescentIndex
        Search index over ``descriptors_``, used by :meth:`query`.
    algorithm_ : str
        The search actually used.
    n_neighbors_ : int
        The ``k`` actually used.
    n_iter_ : int
        CG iterations.
    residual_ : float
        Relative residual of the CG solution.
    n_features_in_ : int
        Descriptor dimension ``d``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.discovery import CentralityGraph
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(3, 8))
    >>> V = np.repeat(centres, [20, 5, 1], axis=0) + 0.1 * rng.normal(size=(26, 8))
    >>> V /= np.linalg.norm(V, axis=1, keepdims=True)
    >>> graph = CentralityGraph(n_neighbors=4).fit(V)
    >>> bool(graph.centrality_[:20].mean() > graph.centrality_[20:].mean())
    True
    >>> sims, indices = graph.query(V[:2], k=3)
    >>> sims.shape, sims.dtype, indices.dtype
    ((2, 3), dtype('float32'), dtype('int64'))
    """

    _parameter_constraints: dict = {
        **GRAPH_PARAMETERS,
        **KATZ_PARAMETERS,
        "algorithm": [StrOptions({"auto", "brute", "nndescent"})],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self, n_neighbors=20, *, beta=3, alpha=0.99, tol=1e-6, max_iter=100, algorithm="auto",
        device=None, n_jobs=None, random_state=None, verbose=0,
    ):
        self.n_neighbors = n_neighbors
        self.beta = beta
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.algorithm = algorithm
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _log(self, step, start):
        if self.verbose:
            print(f"[CentralityGraph] {step}: {time.perf_counter() - start:.2f} s", file=sys.stderr)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the graph of the database regions and solve for their centrality.

        Parameters
        ----------
        X : MapCollection or array-like of shape (n_regions, d)
            A collection with fields ``region_descriptors`` and ``region_saliency``,
            or descriptors.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        V, f, image_index = self._validate_regions(X, reset=True)
        n = len(V)
        k = min(self.n_neighbors, n - 1)
        if k < self.n_neighbors:
            warnings.warn(
                f"n_neighbors={self.n_neighbors} is more than the {n} - 1 other regions; "
                f"using n_neighbors={k}.", UserWarning)
        self.algorithm_ = self.algorithm
        if self.algorithm == "auto":
            self.algorithm_ = _auto_algorithm(n, V.shape[1])
        if n < 3:
            self.algorithm_ = "brute"  # NN-descent needs a few points to start from

        start = time.perf_counter()
        self.index_ = build_index(
            V, self.algorithm_, max(k, 1), random_state=check_random_state(self.random_state),
            n_jobs=self.n_jobs, verbose=self.verbose, **self._index_params(self.algorithm_))
        if k > 0:
            W, sims, indices = mutual_knn_graph(V, k, beta=self.beta, index=self.index_,
                                                return_neighbors=True)
        else:
            W = mutual_graph_from_neighbors(np.empty((n, 0), np.float32),
                                            np.empty((n, 0), np.int64))
            sims, indices = np.empty((n, 0), np.float32), np.empty((n, 0), np.int64)
        self._log("k-NN", start)  # the search and the mutual graph of its lists
        self.n_images_ = len(X) if isinstance(X, MapCollection) else n  # rows of an array
        return self._fit_graph(V, f, image_index, W, sims, indices)

    def _device(self):
        """The checked device of the exact search; None: the CPU."""
        return None if self.device is None else check_device(self.device, "CentralityGraph")

    def _index_params(self, algorithm):
        return {"device": self._device()} if algorithm == "brute" else {}

    def _validate_regions(self, X, reset):
        """Descriptors, saliency and image index of the regions of ``X``, checked."""
        if isinstance(X, MapCollection):
            V, image_index, _, f = stack_regions(X, saliency=True)
            if len(V) == 0 and reset:
                raise ValueError(f"the {len(X)} images of the collection have no regions at all.")
            V = np.ascontiguousarray(V)
            if reset:
                self.n_features_in_ = V.shape[1]
            elif len(V) and V.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"the new region descriptors have dimension {V.shape[1]}; the graph was "
                    f"fitted on dimension {self.n_features_in_}.")
        else:
            V = validate_data(self, X, dtype=np.float32, order="C", reset=reset)
            f, image_index = np.ones(len(V), dtype=np.float32), np.arange(len(V))
        if not np.isfinite(V).all():
            raise ValueError(f"the region descriptors of shape {V.shape} contain NaN or inf.")
        if not (np.isfinite(f).all() and (f >= 0).all()):
            raise ValueError("region saliency must be finite and non-negative.")
        return V, f, image_index

    def _fit_graph(self, V, f, image_index, W, sims, indices, x0=None):
        """The normalisation of the mutual graph ``W`` of the k-NN lists, its centrality."""
        start = time.perf_counter()
        self.graph_ = normalize_graph(W)
        self._log("graph", start)  # its normalisation

        start = time.perf_counter()
        g, info = katz_centrality(
            self.graph_, alpha=self.alpha, tol=self.tol, max_iter=self.max_iter, x0=x0)
        self._log(f"CG ({info['n_iter']} iterations)", start)
        if not info["converged"]:
            warnings.warn(
                f"conjugate gradients stopped after max_iter={self.max_iter} iterations with "
                f"relative residual {info['residual']:.2g} > tol={self.tol}; raise max_iter.",
                ConvergenceWarning)
        self.descriptors_, self.region_saliency_, self.image_index_ = V, f, image_index
        self.centrality_, self.n_iter_, self.residual_ = g, info["n_iter"], info["residual"]
        self.neighbors_, self.neighbor_similarities_ = indices, sims
        self.n_neighbors_ = indices.shape[1]
        return self

    def partial_fit(self, X, y=None):
        """Add the regions of new database images to a fitted graph.

        The new regions' k-NN lists are searched among all regions, every old region's
        list is merged with its most similar new regions (:func:`merge_neighbors`),
        the mutual graph is rebuilt from the lists, and the centrality is solved again
        by CG started from the previous solution. With the exact search the graph is
        the one :meth:`fit` gives on all the regions at once, up to the order of
        float32 near-ties; the centrality agrees within the CG tolerance. Unfitted, it
        is :meth:`fit`.

        Parameters
        ----------
        X : MapCollection or array-like of shape (n_new_regions, d)
            The new images (fields ``region_descriptors`` and ``region_saliency``), or
            new descriptors.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        if not hasattr(self, "centrality_"):
            return self.fit(X)
        self._validate_params()
        if self.algorithm_ != "brute":
            raise ValueError(
                f"partial_fit needs the exact search; this graph was fitted with "
                f"algorithm_={self.algorithm_!r}: fit it again on all the regions.")
        V_new, f_new, image_new = self._validate_regions(X, reset=False)
        if len(V_new) == 0:
            return self
        start = time.perf_counter()
        V = np.concatenate([self.descriptors_, V_new])
        k = min(self.n_neighbors, len(V) - 1)
        sims, indices = extend_neighbor_graph(self.descriptors_, self.neighbor_similarities_,
                                              self.neighbors_, V_new, k, device=self._device())
        self.index_ = build_index(V, "brute", k, n_jobs=self.n_jobs, **self._index_params("brute"))
        self._log("k-NN update", start)
        W = mutual_graph_from_neighbors(sims, indices, beta=self.beta)
        x0 = np.concatenate([self.centrality_, np.full(len(V_new), 1.0 - self.alpha)])
        image_index = np.concatenate([self.image_index_, image_new + self.n_images_])
        self.n_images_ += len(X) if isinstance(X, MapCollection) else len(V_new)  # as in fit
        return self._fit_graph(V, np.concatenate([self.region_saliency_, f_new]), image_index,
                               W, sims, indices, x0=x0)

    def transform(self, X):
        """Return the collection with ``context['graph'] = self``; nothing is refitted.

        Parameters
        ----------
        X : MapCollection

        Returns
        -------
        X : MapCollection
        """
        check_is_fitted(self)
        if not isinstance(X, MapCollection):
            raise TypeError(
                "CentralityGraph.transform passes a MapCollection on with the graph in its "
                f"context; got {type(X).__name__}. For descriptors, use query().")
        return X.with_context(graph=self)

    def query(self, U, k):
        """The ``k`` most similar database regions of every row of ``U``, in one batch.

        Parameters
        ----------
        U : array-like of shape (n_queries, d)
            Query descriptors (e.g. whitened patch descriptors of many images).
        k : int
            Neighbours per query; at most ``n_regions``.

        Returns
        -------
        similarities : ndarray of shape (n_queries, k), float32
            Dot products ``u . v`` (not raised to ``beta``), decreasing. With
            NN-descent a missing neighbour has index -1 and similarity -inf.
        indices : ndarray of shape (n_queries, k), int64
            Rows of ``descriptors_``, most similar first.
        """
        check_is_fitted(self)
        U = check_array(U, dtype=np.float32, order="C", ensure_min_samples=0)
        if U.shape[1] != self.n_features_in_:
            raise ValueError(
                f"query descriptors of shape {U.shape} have {U.shape[1]} features; the graph "
                f"was fitted on descriptors of dimension {self.n_features_in_}.")
        n = len(self.descriptors_)
        if not isinstance(k, numbers.Integral) or not 1 <= k <= n:
            raise ValueError(f"k={k!r} must be an integer in [1, {n}] (the number of regions).")
        if len(U) == 0:
            return np.empty((0, k), dtype=np.float32), np.empty((0, k), dtype=np.int64)
        return self.index_.query(U, k, **self._index_params(self.algorithm_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
