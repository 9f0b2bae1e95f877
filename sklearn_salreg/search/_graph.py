"""The diffusion mathematics (METHOD.md sections 5 and 8), as plain functions.

Only :func:`diffuse` is public: the graph helpers overlap with
``sklearn_salreg.discovery``'s and stay private to this module until the two are
merged.

* :func:`mutual_knn_graph`: W_ij = max(s_ij, 0)^gamma if i and j are mutual k-nearest
  neighbours, else 0; zero diagonal.
* :func:`symmetric_normalize`: Wn = D^-1/2 W D^-1/2 with D = diag(W 1) and 0/0 = 0.
* :func:`diffuse`: solve (I - alpha Wn) f = y for many right-hand sides at once by
  conjugate gradients (I - alpha Wn is symmetric positive definite for alpha < 1,
  its eigenvalues lying in [1 - alpha, 1 + alpha]).
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["diffuse", "mutual_knn_graph", "symmetric_normalize"]


def mutual_knn_graph(indices, similarities, gamma=3.0):
    """Affinity matrix of the mutual k-nearest-neighbour graph.

    Parameters
    ----------
    indices : ndarray of int, shape (n, k)
        ``indices[i]``: the k nearest neighbours of item ``i`` (not ``i`` itself);
        -1 marks a missing neighbour (an approximate search may return fewer).
    similarities : ndarray of shape (n, k)
        The matching similarities (dot products).
    gamma : float, default=3.0
        Exponent of the edge weights ``max(s, 0) ** gamma``.

    Returns
    -------
    W : scipy.sparse.csr_matrix of shape (n, n), float64
        Symmetric, zero diagonal; ``W[i, j] > 0`` only if ``j`` is among the
        neighbours of ``i`` and ``i`` among those of ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.search._graph import mutual_knn_graph
    >>> indices = np.array([[1], [0], [1]])      # 2 points to 1, but 1 points to 0
    >>> sims = np.array([[0.5], [0.5], [0.9]])
    >>> mutual_knn_graph(indices, sims, gamma=1).toarray()
    array([[0. , 0.5, 0. ],
           [0.5, 0. , 0. ],
           [0. , 0. , 0. ]])
    """
    indices = np.asarray(indices)
    similarities = np.asarray(similarities, dtype=np.float64)
    if indices.shape != similarities.shape or indices.ndim != 2:
        raise ValueError(
            "indices and similarities must be 2-D arrays of the same shape (n, k); got "
            f"{indices.shape} and {similarities.shape}."
        )
    n, k = indices.shape
    rows = np.repeat(np.arange(n), k)
    cols = indices.ravel()
    weights = np.maximum(similarities.ravel(), 0.0) ** gamma
    off_diagonal = (cols != rows) & (cols >= 0)
    # One directed graph for the edges, one for their mere existence: a mutual edge
    # of weight 0 (s <= 0) must not be confused with a missing one.
    A = sp.csr_matrix((weights[off_diagonal], (rows[off_diagonal], cols[off_diagonal])),
                      shape=(n, n))
    E = sp.csr_matrix((np.ones(off_diagonal.sum()), (rows[off_diagonal], cols[off_diagonal])),
                      shape=(n, n))
    mutual = E.multiply(E.T).tocsr()
    # The two directions of an edge may differ in the last bits (different matrix
    # products); their minimum makes W exactly symmetric.
    W = A.multiply(mutual).minimum(A.T.multiply(mutual)).tocsr()
    W.eliminate_zeros()
    W.sort_indices()
    return W


def symmetric_normalize(W):
    """Return ``D^-1/2 W D^-1/2`` with ``D = diag(W 1)``; isolated vertices stay zero.

    Parameters
    ----------
    W : sparse matrix of shape (n, n)
        Non-negative symmetric affinities.

    Returns
    -------
    Wn : scipy.sparse.csr_matrix of shape (n, n), float64

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sklearn_salreg.search._graph import symmetric_normalize
    >>> W = sp.csr_matrix(np.array([[0, 2, 0], [2, 0, 0], [0, 0, 0]]))
    >>> symmetric_normalize(W).toarray()
    array([[0., 1., 0.],
           [1., 0., 0.],
           [0., 0., 0.]])
    """
    W = sp.csr_matrix(W, dtype=np.float64)
    degree = np.asarray(W.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)  # 0/0 = 0
    D = sp.diags(inv_sqrt)
    return (D @ W @ D).tocsr()


def _batched_cg(matvec, B, tol, max_iter):
    """Conjugate gradients on the columns of ``B`` (independent systems, one matrix).

    Every column keeps its own step sizes, so the result of a column does not depend
    on the other columns; a column stops moving once its relative residual
    ``||b - A x|| / ||b||`` is at most ``tol``.
    """
    # order="K" keeps the caller's memory layout (the truncated solve ravels columns).
    X = np.zeros_like(B)
    R = B.copy(order="K")
    P = R.copy(order="K")
    rs = np.einsum("ij,ij->j", R, R)
    threshold = tol * np.sqrt(rs)
    active = np.sqrt(rs) > threshold
    n_iter = 0
    while n_iter < max_iter and active.any():
        AP = matvec(P)
        pAp = np.einsum("ij,ij->j", P, AP)
        step = np.zeros_like(rs)
        np.divide(rs, pAp, out=step, where=active & (pAp > 0))
        X += step * P
        R -= step * AP
        rs_new = np.einsum("ij,ij->j", R, R)
        beta = np.zeros_like(rs)
        np.divide(rs_new, rs, out=beta, where=active & (rs > 0))
        P *= beta
        P += R
        rs = np.where(active, rs_new, rs)
        active &= np.sqrt(rs) > threshold
        n_iter += 1
    norm_b = np.sqrt(np.einsum("ij,ij->j", B, B))
    residual = np.zeros_like(norm_b)
    np.divide(np.sqrt(rs), norm_b, out=residual, where=norm_b > 0)
    return X, residual, n_iter


def diffuse(graph, Y, *, alpha=0.99, tol=1e-6, max_iter=20, return_info=False):
    """Solve ``(I - alpha * graph) F = Y`` by conjugate gradients, all columns at once.

    Parameters
    ----------
    graph : sparse matrix or ndarray of shape (n, n)
        Symmetric normalised affinities (see :func:`symmetric_normalize`): the
        spectral radius must be at most 1 for the system to be positive definite.
    Y : ndarray of shape (n,) or (n, m)
        Right-hand sides (one query vector per column).
    alpha : float in [0, 1), default=0.99
    tol : float, default=1e-6
        Relative residual ``||y - (I - alpha graph) f|| / ||y||`` at which a column
        stops.
    max_iter : int, default=20
        At most this many iterations (METHOD.md: about 20 suffice for ranking, even
        when the residual has not reached ``tol``).
    return_info : bool, default=False
        Also return the final relative residual of each column and the number of
        iterations run.

    Returns
    -------
    F : ndarray of the shape of ``Y``, float64
    residual : ndarray of shape (m,)
        Only if ``return_info``.
    n_iter : int
        Only if ``return_info``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sklearn_salreg.search import diffuse
    >>> graph = sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]]))
    >>> F = diffuse(graph, np.array([1.0, 0.0]), alpha=0.5)
    >>> np.round(F, 4)  # (I - 0.5 [[0, 1], [1, 0]])^-1 [1, 0]
    array([1.3333, 0.6667])
    """
    Y = np.asarray(Y, dtype=np.float64)
    vector = Y.ndim == 1
    B = Y[:, None] if vector else Y
    if B.ndim != 2 or graph.shape != (B.shape[0], B.shape[0]):
        raise ValueError(
            f"Y must have shape (n,) or (n, m) with n = {graph.shape[0]} (the graph is "
            f"{graph.shape}); got {Y.shape}."
        )
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must lie in [0, 1); got {alpha}.")

    def matvec(P):
        return P - alpha * (graph @ P)

    F, residual, n_iter = _batched_cg(matvec, np.ascontiguousarray(B), tol, max_iter)
    F = F[:, 0] if vector else F
    return (F, residual, n_iter) if return_info else F
