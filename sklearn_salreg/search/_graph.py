"""The diffusion mathematics (Iscen et al., CVPR 2017), as plain functions.

The graph itself (mutual k-NN affinities, symmetric normalisation) and the solver of
``(I - alpha Wn) f = y`` come from :mod:`sklearn_salreg.neighbors`, shared with the
region graph of discovery.

* :func:`diffuse`: solve (I - alpha Wn) f = y for many right-hand sides at once.
"""

import numpy as np

from ..neighbors import SOLVER_PARAMETERS, check_graph, solve_graph_system
from ..utils._param_validation import check_finite, check_params

__all__ = ["diffuse"]


def diffuse(graph, Y, *, alpha=0.99, tol=1e-6, max_iter=20, return_info=False):
    """Solve ``(I - alpha * graph) F = Y`` by conjugate gradients, all columns at once.

    Parameters
    ----------
    graph : sparse matrix or ndarray of shape (n, n)
        Symmetric normalised affinities (see
        :func:`~sklearn_salreg.neighbors.normalize_graph`): the
        spectral radius must be at most 1 for the system to be positive definite.
    Y : ndarray of shape (n,) or (n, m)
        Right-hand sides (one query vector per column).
    alpha : float in [0, 1), default=0.99
    tol : float, default=1e-6
        Relative residual ``||y - (I - alpha graph) f|| / ||y||`` at which a column
        stops.
    max_iter : int, default=20
        At most this many iterations (about 20 suffice for ranking, even
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
    check_params(dict(SOLVER_PARAMETERS, return_info=["boolean"]), "diffuse", alpha=alpha,
                 tol=tol, max_iter=max_iter, return_info=return_info)
    graph = check_graph(graph, "graph", "diffuse")
    Y = check_finite(Y, "Y", "diffuse")
    return _diffuse(graph, Y, alpha=alpha, tol=tol, max_iter=max_iter, return_info=return_info)


def _diffuse(graph, Y, *, alpha, tol, max_iter, return_info=False):
    """:func:`diffuse` on a checked graph (a fitted :class:`Diffusion`'s) and finite ``Y``."""
    Y = np.asarray(Y, dtype=np.float64)
    vector = Y.ndim == 1
    B = Y[:, None] if vector else Y
    if B.ndim != 2 or graph.shape != (B.shape[0], B.shape[0]):
        raise ValueError(
            f"Y must have shape (n,) or (n, m) with n = {graph.shape[0]} (the graph is "
            f"{graph.shape}); got {Y.shape}.")

    F, info = solve_graph_system(graph, np.ascontiguousarray(B), alpha=alpha, tol=tol,
                                 max_iter=max_iter)
    F = F[:, 0] if vector else F
    return (F, info["residual"], info["n_iter"]) if return_info else F
