"""The region graph and its Katz centrality (paper sections 3.6-3.7), as plain functions."""

from numbers import Integral

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from ..utils._param_validation import (PositiveInt, PositiveReal, StrOptions, check_finite,
                                       check_params)
from ..utils.knn_graph import (SOLVER_PARAMETERS, check_graph, mutual_graph_from_neighbors,
                               normalize_graph)
from ._search import build_index

__all__ = ["mutual_knn_graph", "mutual_graph_from_neighbors", "normalize_graph", "katz_centrality",
           "merge_neighbors", "GRAPH_PARAMETERS", "KATZ_PARAMETERS"]

#: Constraints of the parameters of :func:`mutual_knn_graph`, shared with
#: :class:`CentralityGraph` (which also accepts ``algorithm="auto"``).
GRAPH_PARAMETERS = {
    "n_neighbors": [PositiveInt],
    "beta": [PositiveReal],
    "algorithm": [StrOptions({"brute", "nndescent"})],
    "random_state": ["random_state"],
    "n_jobs": [Integral, None],
}
#: Constraints of the parameters of :func:`katz_centrality`, shared with
#: :class:`CentralityGraph`.
KATZ_PARAMETERS = SOLVER_PARAMETERS


def mutual_knn_graph(V, n_neighbors, beta=3, algorithm="brute", random_state=None, n_jobs=None):
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
        Exact blocked search, or approximate NN-descent.
    random_state : int or None, default=None
        Seed of NN-descent.
    n_jobs : int, default=None
        Threads of NN-descent.

    Returns
    -------
    W : scipy.sparse.csr_array of shape (n, n), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.discovery import mutual_knn_graph
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
            f"{len(V)} rows of V (shape {V.shape})."
        )
    index = build_index(V, algorithm, n_neighbors, random_state=random_state, n_jobs=n_jobs)
    W = mutual_graph_from_neighbors(*index.neighbor_graph(n_neighbors), beta=beta)
    if W.nnz and not np.isfinite(W.data).all():
        raise ValueError(_OVERFLOW.format(what=f"the weights max(v_i . v_j, 0)^{beta}"))
    return W


_OVERFLOW = ("V of mutual_knn_graph: {what} overflow float32; V should hold L2-normalised "
             "descriptors (sklearn_salreg.utils.l2_normalize).")


def merge_neighbors(indices, sims, new_indices, new_sims, k):
    """The ``k`` best of two neighbour lists per row, ordered as the exact search orders
    them (decreasing similarity, ties by increasing index).

    Used when vertices join a k-NN graph: each old vertex's list is merged with its
    most similar new vertices, which gives the list the exact search over all vertices
    would give (up to float32 rounding of the similarities).

    Parameters
    ----------
    indices, sims : ndarray of shape (n, k1)
        First lists (entries below 0 are ignored).
    new_indices, new_sims : ndarray of shape (n, k2)
        Second lists, of other vertices than the first.
    k : int
        Length of the merged lists; at most ``k1 + k2``.

    Returns
    -------
    indices : ndarray of shape (n, k), int64
    sims : ndarray of shape (n, k), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.discovery import merge_neighbors
    >>> idx, sims = merge_neighbors(np.array([[3, 1]]), np.array([[0.9, 0.5]]),
    ...                             np.array([[7]]), np.array([[0.6]]), k=2)
    >>> idx.tolist(), sims.astype(float).round(2).tolist()
    ([[3, 7]], [[0.9, 0.6]])
    """
    indices = np.concatenate([np.asarray(indices, np.int64), np.asarray(new_indices, np.int64)],
                             axis=1)
    sims = np.concatenate([np.asarray(sims, np.float32), np.asarray(new_sims, np.float32)],
                          axis=1)
    if not 1 <= k <= indices.shape[1]:
        raise ValueError(f"k={k} must be in [1, {indices.shape[1]}] (the merged list length).")
    sims = np.where(indices >= 0, sims, -np.inf).astype(np.float32)
    order = np.lexsort((indices, -sims), axis=-1)[:, :k]
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(sims, order, axis=1)


def katz_centrality(Wn, alpha=0.99, tol=1e-6, max_iter=100, x0=None):
    """Solve ``(I - alpha Wn) g = (1 - alpha) 1`` by conjugate gradients, in float64.

    ``I - alpha Wn`` is symmetric positive definite for a normalised ``Wn`` (its
    eigenvalues lie in [-1, 1]) and ``alpha < 1``, so CG converges; with
    ``alpha = 0.99`` its condition number is at most 199. An isolated vertex gets
    ``g = 1 - alpha``.

    Parameters
    ----------
    Wn : sparse matrix or array of shape (n, n)
        Symmetric normalised graph, finite.
    alpha : float in [0, 1), default=0.99
        1 is refused: ``I - Wn`` is singular and the solution ``0`` meaningless.
    tol : float >= 0, default=1e-6
        Relative residual ``||b - A g|| / ||b||`` at which CG stops.
    max_iter : int, default=100
    x0 : ndarray of shape (n,) or None, default=None
        Starting point of CG (e.g. the centrality before a few vertices joined the
        graph); ``(1 - alpha) 1``, the exact answer on isolated vertices, when None.

    Returns
    -------
    g : ndarray of shape (n,), float64
    info : dict
        ``converged`` (bool), ``n_iter`` (CG iterations) and ``residual`` (the
        relative residual of the returned ``g``).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse import csr_array
    >>> from sklearn_salreg.discovery import katz_centrality
    >>> Wn = csr_array(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float))
    >>> g, info = katz_centrality(Wn, alpha=0.5)
    >>> g.round(6), info["converged"]
    (array([1. , 1. , 0.5]), True)
    """
    check_params(KATZ_PARAMETERS, "katz_centrality", alpha=alpha, tol=tol, max_iter=max_iter)
    # One float64 copy up front; a float32 matrix would be upcast at every product.
    Wn = check_graph(Wn, "Wn", "katz_centrality")
    n = Wn.shape[0]

    def matvec(x):
        return x - alpha * (Wn @ x)

    A = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    b = np.full(n, 1.0 - alpha)
    n_iter = 0

    def count(_):
        nonlocal n_iter
        n_iter += 1

    if x0 is None:
        # b itself is the exact answer on isolated vertices and a fair start elsewhere.
        x0 = b.copy()
    else:
        x0 = np.array(x0, dtype=np.float64)
        if x0.shape != (n,) or not np.isfinite(x0).all():
            raise ValueError(f"x0 must be a finite vector of shape ({n},); got {x0.shape}.")
    if not np.any(b - matvec(x0)):  # exact already (alpha = 0, no edge): CG would 0/0
        return x0, {"converged": True, "n_iter": 0, "residual": 0.0}
    g, code = cg(A, b, x0=x0, rtol=tol, atol=0.0, maxiter=max_iter, callback=count)
    b_norm = np.linalg.norm(b)
    residual = float(np.linalg.norm(b - matvec(g)) / b_norm) if b_norm > 0 else 0.0
    return g, {"converged": code == 0, "n_iter": n_iter, "residual": residual}

