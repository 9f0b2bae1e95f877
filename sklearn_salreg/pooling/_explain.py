"""Why two images match: a similarity split exactly into region-pair terms.

A global descriptor is a normalised (and optionally whitened) weighted sum of
L2-normalised region descriptors (:func:`aggregate_regions`). For a query with
regions ``r`` and a database image with regions ``s``, let ``\\hat z_r`` be the
L2-normalised region descriptors, ``a_r`` their weights (1 for the plain sum) and
``u = \\sum_r a_r \\hat z_r / \\|\\sum_r a_r \\hat z_r\\|`` the aggregated vector.
A linear whitening ``P`` with mean ``m`` maps it to ``P (u - m)``; the descriptor is
that vector divided by its norm ``N``. Writing the whitened vector as a sum over
regions,

.. math::

    P(u - m) = \\sum_{r=1}^{n} v_r, \\qquad
    v_r = \\frac{a_r}{\\|\\sum_t a_t \\hat z_t\\|} P \\hat z_r - \\frac{1}{n} P m ,

(the mean term is spread **evenly** over the image's ``n`` regions), the cosine
similarity of the two descriptors is

.. math::

    \\langle g_q, g_x \\rangle = \\sum_{r, s} C_{rs}, \\qquad
    C_{rs} = \\frac{\\langle v_r, v_s \\rangle}{N_q N_x} ,

exactly. Without whitening ``P`` is the identity and ``m = 0``; every term is then
non-negative for non-negative activations.
"""

import numpy as np
from sklearn.utils import Bunch

from ..collection import as_collection
from ..utils import l2_normalize
from ._aggregate import _image_regions, aggregate_regions

__all__ = ["explain_match"]


def _affine_whitening(whitening):
    """``(P, m)`` with ``whitening.transform(u) ∝ P (u - m)`` for a unit vector ``u``, or
    None for no whitening."""
    if whitening is None:
        return None
    inner = getattr(whitening, "estimator", None)  # FrozenEstimator
    if inner is not None and not hasattr(whitening, "projection_"):
        whitening = inner
    if hasattr(whitening, "projection_") and hasattr(whitening, "mean_"):  # LearnedWhitening
        k = getattr(whitening, "n_components_", None)
        P = np.asarray(whitening.projection_, dtype=np.float64)[:k]
        return P, np.asarray(whitening.mean_, dtype=np.float64)
    if hasattr(whitening, "components_") and hasattr(whitening, "mean_"):  # sklearn PCA
        P = np.asarray(whitening.components_, dtype=np.float64)
        if getattr(whitening, "whiten", False):
            P = P / np.sqrt(np.asarray(whitening.explained_variance_, dtype=np.float64))[:, None]
        return P, np.asarray(whitening.mean_, dtype=np.float64)
    raise TypeError(
        f"cannot split a similarity through a whitening of type {type(whitening).__name__}: "
        "explain_match knows the linear whitenings LearnedWhitening (also inside a "
        "FrozenEstimator) and sklearn.decomposition.PCA.")


def _whitened_descriptor(Z, weights, whitening):
    """The global descriptor exactly as :class:`RegionAggregator` computes it."""
    g = aggregate_regions(Z, weights)
    if whitening is not None:
        g = whitening.transform(g[None])[0]
    return l2_normalize(np.asarray(g, dtype=np.float32))


def _region_vectors(Z, weights, affine):
    """The terms ``v_r`` of one image (rows) and the norm ``N`` of their sum."""
    Zh = l2_normalize(np.asarray(Z, dtype=np.float64))
    a = np.ones(len(Zh)) if weights is None else np.asarray(weights, dtype=np.float64)
    V = Zh * a[:, None]
    total = np.linalg.norm(V.sum(axis=0))
    V = V / total if total > 0 else np.zeros_like(V)
    if affine is not None and len(V):
        P, m = affine
        V = V @ P.T - (P @ m) / len(V)
    norm = np.linalg.norm(V.sum(axis=0))
    return V, norm


def _check_regions(Z, weights, name):
    Z = np.asarray(Z, dtype=np.float32)
    if Z.ndim != 2:
        raise ValueError(f"{name}_regions must be 2-D (m, d); got shape {Z.shape}.")
    if not np.isfinite(Z).all():
        raise ValueError(f"{name}_regions contain NaN or inf.")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(Z),):
            raise ValueError(f"got {weights.shape} {name}_weights for {len(Z)} {name} regions.")
    return Z, weights


def explain_match(query_regions, database_regions, *, query_weights=None, database_weights=None,
                  whitening=None, query_boxes=None, database_boxes=None):
    """Split the similarity of two global descriptors into region-pair terms.

    The global descriptor of an image is the normalised, optionally whitened, sum of
    its L2-normalised region descriptors (:func:`aggregate_regions`), so the cosine
    similarity of a query and a database image is exactly a sum of one term per
    pair (query region, database region). With whitening ``P (u - m)``, the mean
    term is spread evenly over each image's regions (see :ref:`explanations`).

    Parameters
    ----------
    query_regions : array-like of shape (m_q, d)
        Region descriptors of the query (pooled, before normalisation), as given to
        :func:`aggregate_regions`.
    database_regions : array-like of shape (m_x, d)
        Region descriptors of the database image.
    query_weights, database_weights : array-like of shape (m_q,) / (m_x,), default=None
        Region weights of the sum (None: the plain sum).
    whitening : fitted estimator or None, default=None
        The whitening of the summed vector (``RegionAggregator.whitening_``): a
        :class:`~sklearn_salreg.LearnedWhitening` (possibly in a
        :class:`~sklearn.frozen.FrozenEstimator`) or a
        :class:`~sklearn.decomposition.PCA`.
    query_boxes, database_boxes : array-like of shape (m, 4), default=None
        The regions' boxes, only passed through to the result (for plotting).

    Returns
    -------
    explanation : Bunch
        score : float
            Cosine similarity of the two global descriptors, as computed by the
            library (float32 descriptors).
        contributions : ndarray of shape (m_q, m_x), float64
            Term of each region pair; they sum to ``score`` (to float32 rounding).
        pairs : ndarray of shape (m_q * m_x, 2), int
            ``(query region, database region)`` pairs by decreasing contribution.
        shares : ndarray of shape (m_q * m_x,), float64
            Their contributions divided by ``score`` (they sum to 1; terms may be
            negative with whitening).
        query_boxes, database_boxes : ndarray or None
            As given.

    Examples
    --------
    Two regions each; the second query region and the first database region are
    the same object:

    >>> import numpy as np
    >>> from sklearn_salreg.pooling import explain_match
    >>> q = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> x = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> e = explain_match(q, x)
    >>> round(e.score, 4), e.pairs[0].tolist(), round(float(e.shares[0]), 4)
    (0.5, [1, 0], 1.0)
    >>> bool(np.isclose(e.contributions.sum(), e.score))
    True
    """
    Zq, wq = _check_regions(query_regions, query_weights, "query")
    Zx, wx = _check_regions(database_regions, database_weights, "database")
    if Zq.shape[1] != Zx.shape[1]:
        raise ValueError(f"query regions have {Zq.shape[1]} dimensions, database regions "
                         f"{Zx.shape[1]}.")
    affine = _affine_whitening(whitening)
    if len(Zq) and len(Zx):
        score = float(_whitened_descriptor(Zq, wq, whitening)
                      @ _whitened_descriptor(Zx, wx, whitening))
    else:
        score = 0.0
    Vq, Nq = _region_vectors(Zq, wq, affine)
    Vx, Nx = _region_vectors(Zx, wx, affine)
    C = Vq @ Vx.T
    C = C / (Nq * Nx) if Nq > 0 and Nx > 0 else np.zeros_like(C)
    order = np.argsort(-C, axis=None, kind="stable")
    pairs = np.column_stack(np.unravel_index(order, C.shape)).astype(np.intp)
    total = C.sum()
    shares = C.ravel()[order] / total if total != 0 else np.zeros(len(order))
    return Bunch(score=score, contributions=C, pairs=pairs, shares=shares,
                 query_boxes=None if query_boxes is None else np.asarray(query_boxes),
                 database_boxes=None if database_boxes is None else np.asarray(database_boxes))


def aggregated_regions(aggregator, X, i):
    """The regions of image ``i`` of ``X`` as a fitted :class:`RegionAggregator` sums
    them: ``(boxes, region descriptors, weights)``.

    ``X`` is the collection the aggregator receives (in a pipeline,
    ``pipeline[:-1].transform(maps)``). The descriptors are pooled by NumPy, as the
    aggregator does with ``device=None``.
    """
    X = as_collection(X)
    n = len(X)
    if not -n <= i < n:
        raise IndexError(f"image index {i} is out of range for a collection of {n} images.")
    i = i % n
    return _image_regions(X, i, i, use_pooled=aggregator._uses_pooled(X), **aggregator._levers())
