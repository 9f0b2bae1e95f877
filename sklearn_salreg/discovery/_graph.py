"""The Katz centrality of the region graph (paper section 3.7), as a plain function."""

import numpy as np

from ..neighbors import SOLVER_PARAMETERS, check_graph, solve_graph_system
from ..utils._param_validation import check_params

__all__ = ["katz_centrality", "KATZ_PARAMETERS"]

#: Constraints of the parameters of :func:`katz_centrality`, shared with
#: :class:`CentralityGraph`.
KATZ_PARAMETERS = SOLVER_PARAMETERS


def katz_centrality(Wn, alpha=0.99, tol=1e-6, max_iter=100, x0=None):
    """Solve ``(I - alpha Wn) g = (1 - alpha) 1`` by conjugate gradients, in float64
    (:func:`~sklearn_salreg.neighbors.solve_graph_system`).

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
    b = np.full((n, 1), 1.0 - alpha)
    if x0 is None:
        # b itself is the exact answer on isolated vertices and a fair start elsewhere.
        x0 = b.copy()
    else:
        x0 = np.array(x0, dtype=np.float64)
        if x0.shape != (n,) or not np.isfinite(x0).all():
            raise ValueError(f"x0 must be a finite vector of shape ({n},); got {x0.shape}.")
        x0 = x0[:, None]
    g, info = solve_graph_system(Wn, b, alpha=alpha, tol=tol, max_iter=max_iter, x0=x0)
    g = g[:, 0]
    b_norm = np.linalg.norm(b)
    residual = float(np.linalg.norm(b[:, 0] - (g - alpha * (Wn @ g))) / b_norm) if b_norm > 0 else 0.0
    return g, {"converged": bool(info["converged"][0]), "n_iter": info["n_iter"],
               "residual": residual}
