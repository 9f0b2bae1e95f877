"""Mutual k-NN graphs and their symmetric normalisation: the one implementation that
the region graph (discovery) and diffusion (search) share."""

import numpy as np
import scipy.sparse as sp

from ._param_validation import NonNegativeReal, PositiveInt, UnitInterval, check_finite

__all__ = ["mutual_graph_from_neighbors", "normalize_graph"]

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


def mutual_graph_from_neighbors(indices, sims, beta=3):
    """Sparse symmetric ``W`` from k-NN lists: ``W_ij = max(v_i^T v_j, 0)^beta`` if mutual.

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
