"""Mutual k-NN graphs and their symmetric normalisation: the one implementation that
the region graph (discovery, METHOD.md section 5) and diffusion (search, section 8)
share."""

import numpy as np
import scipy.sparse as sp

__all__ = ["mutual_graph_from_neighbors", "normalize_graph"]


def mutual_graph_from_neighbors(indices, sims, beta=3):
    """Sparse symmetric ``W`` from k-NN lists: ``W_ij = max(v_i . v_j, 0)^beta`` if mutual.

    Parameters
    ----------
    indices : ndarray of int, shape (n, k)
        Neighbours of each vertex (self excluded); entries below 0 are ignored.
    sims : ndarray of shape (n, k)
        Dot products with those neighbours.
    beta : float, default=3

    Returns
    -------
    W : scipy.sparse.csr_array of shape (n, n), float32
        Exactly symmetric, zero diagonal, no explicit zeros.
    """
    n, k = indices.shape
    rows = np.repeat(np.arange(n), k)
    cols = indices.ravel()
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
    """
    W = sp.csr_array(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W of normalize_graph must be square (n, n); got shape {W.shape}.")
    if W.nnz and not (np.isfinite(W.data).all() and W.data.min() >= 0):
        raise ValueError(
            "W of normalize_graph must hold finite non-negative affinities; it has NaN, inf "
            "or negative entries."
        )
    degree = np.asarray(W.sum(axis=1)).ravel().astype(np.float64)
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    Wn = W.copy()
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    Wn.data = (W.data * inv_sqrt[rows] * inv_sqrt[W.indices]).astype(W.dtype)
    return Wn
