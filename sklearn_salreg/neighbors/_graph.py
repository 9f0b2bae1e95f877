"""Mutual k-NN graphs and their symmetric normalisation: the one implementation that
the region graph (discovery) and diffusion (search) share."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp

from ..utils._param_validation import (NonNegativeReal, PositiveInt, PositiveReal, StrOptions,
                                       UnitInterval, check_finite, check_params)
from ._exact import ExactIndex
from ._nndescent import build_index
from ._topk import sort_rows

__all__ = ["GRAPH_PARAMETERS", "SOLVER_PARAMETERS", "check_graph", "extend_neighbor_graph",
           "merge_neighbors", "mutual_graph_from_neighbors", "mutual_knn_graph", "normalize_graph"]

#: Constraints of the parameters of the linear solves ``(I - alpha Wn) x = b`` (Katz
#: centrality and diffusion): ``alpha = 1`` is refused, ``I - Wn`` being singular.
SOLVER_PARAMETERS = {
    "alpha": [UnitInterval],
    "tol": [NonNegativeReal],
    "max_iter": [PositiveInt],
}


def check_graph(W, name, caller, non_negative=False):
    """``W`` as a float64 CSR array after checking it is 2-D, square and finite.

    Raises a ``TypeError`` or ``ValueError`` that names the argument ``name`` of the
    function ``caller``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import check_graph
    >>> check_graph(np.eye(2), "W", "f").dtype
    dtype('float64')
    >>> check_graph(np.ones((2, 3)), "W", "f")
    Traceback (most recent call last):
    ...
    ValueError: W of f must be square (n, n); got shape (2, 3).
    """
    try:
        W = sp.csr_array(W, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} of {caller} must be a 2-D sparse matrix or array: {error}"
        ) from None
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{name} of {caller} must be square (n, n); got shape {W.shape}.")
    check_finite(W.data, name, caller, non_negative=non_negative)
    return W


def mutual_graph_from_neighbors(sims, indices, beta=3):
    """Sparse symmetric ``W`` from k-NN lists: ``W_ij = max(v_i^T v_j, 0)^beta`` if mutual.

    Parameters
    ----------
    sims : ndarray of shape (n, k)
        Dot products of each vertex with its neighbours.
    indices : ndarray of int, shape (n, k)
        Those neighbours (self excluded); entries below 0 are ignored.
    beta : float, default=3

    Returns
    -------
    W : scipy.sparse.csr_array of shape (n, n), float32
        Exactly symmetric, zero diagonal, no explicit zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import mutual_graph_from_neighbors
    >>> sims, indices = np.array([[0.5], [0.5], [0.9]]), np.array([[1], [0], [0]])
    >>> mutual_graph_from_neighbors(sims, indices, beta=1).toarray()
    array([[0. , 0.5, 0. ],
           [0.5, 0. , 0. ],
           [0. , 0. , 0. ]], dtype=float32)
    """
    sims, indices = np.asarray(sims), np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer) or sims.shape != indices.shape:
        raise ValueError(
            "mutual_graph_from_neighbors takes (sims, indices): float similarities and "
            f"integer indices of one shape; got {sims.dtype} {sims.shape} and "
            f"{indices.dtype} {indices.shape}.")
    n, k = indices.shape
    rows = np.repeat(np.arange(n), k)
    cols = indices.ravel()
    with np.errstate(over="ignore"):  # inf weights: refused by the callers, naming V
        weights = np.maximum(sims.ravel(), 0).astype(np.float32) ** beta
    valid = (cols >= 0) & (cols != rows) & (weights > 0)
    A = sp.csr_array((weights[valid], (rows[valid], cols[valid])), shape=(n, n))
    # i->j and j->i both listed <=> mutual. The elementwise minimum keeps exactly
    # those edges and makes W symmetric even where float32 gave v_i.v_j != v_j.v_i.
    W = A.minimum(A.T).tocsr()
    W.eliminate_zeros()
    W.sort_indices()
    return W


def normalize_graph(W):
    """Symmetric normalisation ``D^-1/2 W D^-1/2``, ``D = diag(W 1)``, with 0/0 = 0.

    An isolated vertex (degree 0) keeps an empty row and column.

    Returns
    -------
    Wn : scipy.sparse.csr_array, same dtype as ``W``

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_array
    >>> from sklearn_salreg import normalize_graph
    >>> W = csr_array(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], np.float32))
    >>> normalize_graph(W).toarray().astype(float).round(3).tolist()
    [[0.0, 0.707, 0.707], [0.707, 0.0, 0.0], [0.707, 0.0, 0.0]]
    """
    check_graph(W, "W", "normalize_graph", non_negative=True)
    W = sp.csr_array(W)
    degree = np.asarray(W.sum(axis=1)).ravel().astype(np.float64)
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    Wn = W.copy()
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    Wn.data = (W.data * inv_sqrt[rows] * inv_sqrt[W.indices]).astype(W.dtype)
    return Wn


#: Constraints of the parameters of :func:`mutual_knn_graph`, shared with
#: :class:`CentralityGraph` (which also accepts ``algorithm="auto"``).
GRAPH_PARAMETERS = {
    "n_neighbors": [PositiveInt],
    "beta": [PositiveReal],
    "algorithm": [StrOptions({"brute", "nndescent"})],
    "random_state": ["random_state"],
    "n_jobs": [Integral, None],
}


def mutual_knn_graph(V, n_neighbors, beta=3, algorithm="brute", random_state=None, n_jobs=None,
                     *, device=None, index=None, return_neighbors=False):
    """Mutual k-NN graph of the rows of ``V`` with weights ``max(v_i^T v_j, 0)^beta``.

    Parameters
    ----------
    V : array-like of shape (n, d)
        L2-normalised descriptors.
    n_neighbors : int
        ``k``: each vertex lists its ``k`` most similar other vertices; an edge
        remains where two vertices list each other. At most ``n - 1``.
    beta : float, default=3
    algorithm : {'brute', 'nndescent'}, default='brute'
        Exact blocked search, or approximate NN-descent (:func:`build_index`).
    random_state : int or None, default=None
        Seed of NN-descent.
    n_jobs : int, default=None
        Threads of NN-descent; blocks of the exact self-graph through joblib.
    device : None, str or torch.device, default=None
        Where the exact search runs; None: the CPU.
    index : ExactIndex or NNDescentIndex, default=None
        An index already built on ``V`` (its rows, in order), for a caller that keeps
        it for later queries; ``algorithm``, ``random_state``, ``n_jobs`` and
        ``device`` are then those of the index.
    return_neighbors : bool, default=False
        Also return the k-NN lists the graph was built from.

    Returns
    -------
    W : scipy.sparse.csr_array of shape (n, n), float32
    sims : ndarray of shape (n, k), float32
        Only if ``return_neighbors``: each vertex's similarities to its ``k``
        nearest other vertices, decreasing.
    indices : ndarray of shape (n, k), int64
        Only if ``return_neighbors``: those vertices.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import mutual_knn_graph
    >>> V = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    >>> mutual_knn_graph(V, n_neighbors=1).toarray().round(3)
    array([[0.   , 0.512, 0.   ],
           [0.512, 0.   , 0.   ],
           [0.   , 0.   , 0.   ]], dtype=float32)
    """
    check_params(GRAPH_PARAMETERS, "mutual_knn_graph", n_neighbors=n_neighbors, beta=beta,
                 algorithm=algorithm, random_state=random_state, n_jobs=n_jobs)
    V = check_finite(V, "V", "mutual_knn_graph", ndim=2)
    V = np.ascontiguousarray(V, dtype=np.float32)
    if len(V) and not np.isfinite(np.einsum("ij,ij->i", V, V)).all():
        raise ValueError(_OVERFLOW.format(what="the dot products of its rows"))
    if not 1 <= n_neighbors <= len(V) - 1:
        raise ValueError(
            f"n_neighbors={n_neighbors} must be in [1, n - 1] = [1, {len(V) - 1}] for the "
            f"{len(V)} rows of V (shape {V.shape}).")
    if index is None:
        params = {"device": device} if algorithm == "brute" else {}
        index = build_index(V, algorithm, n_neighbors, random_state=random_state,
                            n_jobs=n_jobs, **params)
    elif len(index.V) != len(V):
        raise ValueError(f"index of mutual_knn_graph holds {len(index.V)} rows; V has {len(V)}.")
    sims, indices = index.neighbor_graph(n_neighbors)
    W = mutual_graph_from_neighbors(sims, indices, beta=beta)
    if W.nnz and not np.isfinite(W.data).all():
        raise ValueError(_OVERFLOW.format(what=f"the weights max(v_i . v_j, 0)^{beta}"))
    return (W, sims, indices) if return_neighbors else W


_OVERFLOW = ("V of mutual_knn_graph: {what} overflow float32; V should hold L2-normalised "
             "descriptors (sklearn_salreg.utils.l2_normalize).")


def merge_neighbors(sims, indices, new_sims, new_indices, k):
    """The ``k`` best of two neighbour lists per row, ordered as the exact search orders
    them (decreasing similarity, ties by increasing index).

    Used when vertices join a k-NN graph: each old vertex's list is merged with its
    most similar new vertices, which gives the list the exact search over all vertices
    would give (up to float32 rounding of the similarities).

    Parameters
    ----------
    sims, indices : ndarray of shape (n, k1)
        First lists (entries of index below 0 are ignored).
    new_sims, new_indices : ndarray of shape (n, k2)
        Second lists, of other vertices than the first.
    k : int
        Length of the merged lists; at most ``k1 + k2``.

    Returns
    -------
    sims : ndarray of shape (n, k), float32
    indices : ndarray of shape (n, k), int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import merge_neighbors
    >>> sims, idx = merge_neighbors(np.array([[0.9, 0.5]]), np.array([[3, 1]]),
    ...                             np.array([[0.6]]), np.array([[7]]), k=2)
    >>> sims.astype(float).round(2).tolist(), idx.tolist()
    ([[0.9, 0.6]], [[3, 7]])
    """
    indices = np.concatenate([np.asarray(indices, np.int64), np.asarray(new_indices, np.int64)],
                             axis=1)
    sims = np.concatenate([np.asarray(sims, np.float32), np.asarray(new_sims, np.float32)], axis=1)
    if not 1 <= k <= indices.shape[1]:
        raise ValueError(f"k={k} must be in [1, {indices.shape[1]}] (the merged list length).")
    return sort_rows(np.where(indices >= 0, sims, -np.inf).astype(np.float32), indices, k)


def extend_neighbor_graph(V, sims, indices, V_new, k, *, device=None):
    """The exact k-NN lists of all rows of ``[V; V_new]`` from those of ``V``.

    The new rows' lists are their rows of the exact self-graph of all rows; every old
    row's list is merged (:func:`merge_neighbors`) with its most similar new rows. The
    result is the exact self-graph of all rows, up to the order of float32 near-ties,
    at the cost of searching the new rows only.

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
    sims, indices : ndarray of shape (n, k0)
        The exact k-NN lists of ``V`` (self excluded), ``k0 >= min(k, n - 1)``.
    V_new : ndarray of shape (m, d), float32
    k : int, ``1 <= k <= n + m - 1``
    device : None, str or torch.device, default=None
        Where the exact searches run; None: the CPU.

    Returns
    -------
    sims : ndarray of shape (n + m, k), float32
    indices : ndarray of shape (n + m, k), int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import ExactIndex, extend_neighbor_graph
    >>> V = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    >>> sims, indices = extend_neighbor_graph(V[:20], *ExactIndex(V[:20]).neighbor_graph(3),
    ...                                       V[20:], 3)
    >>> bool((indices == ExactIndex(V).neighbor_graph(3)[1]).all())
    True
    """
    n = len(V)
    V_all = np.concatenate([V, V_new])
    new_sims, new_indices = ExactIndex(V_all, device=device).neighbor_graph(k, start=n)
    old_sims, old_indices = ExactIndex(V_new, device=device).query(V, min(k, len(V_new)))
    old_sims, old_indices = merge_neighbors(sims, indices, old_sims, old_indices + n, k)
    return np.concatenate([old_sims, new_sims]), np.concatenate([old_indices, new_indices])
