"""The linear system of Katz centrality and of diffusion on a graph, solved once.

``(I - alpha W) X = B`` with ``W`` a symmetric normalised graph (eigenvalues in
[-1, 1]) and ``0 <= alpha < 1`` is symmetric positive definite (eigenvalues in
[1 - alpha, 1 + alpha]), so conjugate gradients converge, in at most
``sqrt((1 + alpha) / (1 - alpha))`` times a few iterations per digit.
"""

import numpy as np

__all__ = ["solve_graph_system"]


def solve_graph_system(W, B, *, alpha=0.99, tol=1e-6, max_iter=100, x0=None):
    """Solve ``(I - alpha W) X = B`` by conjugate gradients, all columns at once, in float64.

    Every column keeps its own step sizes, so the result of a column does not depend
    on the other columns; a column stops moving once its relative residual
    ``||b - A x|| / ||b||`` (as updated by the iterations) is at most ``tol``.

    Parameters
    ----------
    W : sparse matrix or ndarray of shape (n, n), or callable
        The graph, already checked (float64, finite); or a function ``W(P)`` that
        returns the product of the graph with ``P`` (an operator of the shape of
        ``B``, such as a block-diagonal graph acting on the columns of a matrix).
    B : ndarray of shape (n, m), float64
        Right-hand sides, one per column. Its memory layout is kept (C or Fortran).
    alpha : float in [0, 1), default=0.99
    tol : float >= 0, default=1e-6
    max_iter : int >= 1, default=100
    x0 : ndarray of the shape of ``B``, default=None
        Starting point (a warm start, e.g. a previous solution); zero when None.

    Returns
    -------
    X : ndarray of the shape of ``B``, float64
    info : dict
        ``residual`` (ndarray of shape (m,): the final relative residual of each
        column, as updated by the iterations), ``converged`` (ndarray of bool, shape
        (m,): residual at most ``tol``) and ``n_iter`` (iterations run).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import solve_graph_system
    >>> W = np.array([[0, 1.0], [1.0, 0]])
    >>> X, info = solve_graph_system(W, np.array([[1.0], [0.0]]), alpha=0.5)
    >>> X.round(4).ravel(), info["n_iter"]  # (I - 0.5 W)^-1 [1, 0]
    (array([1.3333, 0.6667]), 2)
    """
    apply = W if callable(W) else W.__matmul__

    def matvec(P):
        return P - alpha * apply(P)

    # order="K" keeps the caller's memory layout (the truncated diffusion ravels columns).
    if x0 is None:
        X = np.zeros_like(B)
        R = B.copy(order="K")
    else:
        X = np.array(x0, dtype=np.float64, order="K")
        R = B - matvec(X)
    P = R.copy(order="K")
    rs = np.einsum("ij,ij->j", R, R)
    norm_b = np.sqrt(np.einsum("ij,ij->j", B, B))
    threshold = tol * norm_b
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
    residual = np.zeros_like(norm_b)
    np.divide(np.sqrt(rs), norm_b, out=residual, where=norm_b > 0)
    return X, {"residual": residual, "converged": ~active, "n_iter": n_iter}
