"""Region pooling: max-pooled descriptors and mean saliency of boxes (stage 3).

Paper section 3.5, equations (9)-(10); see docs/method.rst.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..utils._param_validation import NonNegativeReal, check_params
from .._base import DEVICE_PARAMETERS, MapTransformerMixin
from ..collection import check_boxes, check_map, check_saliency_map
from ..utils import l2_normalize, map_by_shape
from ._batch import _region_pool_batch

__all__ = ["region_max_pool", "region_sum_pool", "region_mean", "saliency_weighted_map",
           "RegionMaxPooler"]


def region_max_pool(A, boxes):
    """Max of the activation map over each box: ``z = max_{q in R} A[q]``.

    Parameters
    ----------
    A : array-like of shape (h, w, c)
    boxes : array-like of shape (m, 4)
        Half-open ``[y0, x0, y1, x1)``, inside the map.

    Returns
    -------
    Z : ndarray of shape (m, c), dtype float32

    Notes
    -----
    One reduction per box over a block whose channel axis is contiguous: with the
    ~10 regions of a detector this beats the vectorised alternatives (a sparse table
    of range maxima costs about three times as much on 24 x 32 x 512 maps).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import region_max_pool
    >>> A = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    >>> region_max_pool(A, [[0, 0, 1, 2], [0, 0, 2, 3]]).tolist()
    [[4.0, 5.0, 6.0, 7.0], [20.0, 21.0, 22.0, 23.0]]
    """
    A = check_map(A)
    return _region_max_pool(A, check_boxes(boxes, A.shape[:2]))


def _region_max_pool(A, boxes):
    """:func:`region_max_pool` of a map and boxes already validated (the stages check
    them once, naming the image, and pool without checking again)."""
    Z = np.empty((len(boxes), A.shape[2]), dtype=np.float32)
    for k, (y0, x0, y1, x1) in enumerate(boxes.tolist()):
        np.max(A[y0:y1, x0:x1], axis=(0, 1), out=Z[k])
    return Z


def region_sum_pool(A, boxes):
    """Sum of the activation map over each box (SPoC-style sum pooling):
    ``z = sum_{q in R} A[q]``, as one product of the boxes' 0/1 masks with the map.

    Parameters
    ----------
    A : array-like of shape (h, w, c)
    boxes : array-like of shape (m, 4)
        Half-open ``[y0, x0, y1, x1)``, inside the map.

    Returns
    -------
    Z : ndarray of shape (m, c), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.pooling import region_sum_pool
    >>> A = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    >>> region_sum_pool(A, [[0, 0, 1, 2], [0, 0, 2, 3]]).tolist()
    [[2.0, 4.0], [30.0, 36.0]]
    """
    A = check_map(A)
    return _region_sum_pool(A, check_boxes(boxes, A.shape[:2]))


def _region_sum_pool(A, boxes):
    """:func:`region_sum_pool` of a map and boxes already validated."""
    # One (boxes x positions) @ (positions x channels) product: numpy's cumulative sums
    # along the spatial axes of an integral image cost ~100x more on 24 x 32 x 512 maps.
    h, w, c = A.shape
    y0, x0, y1, x1 = (np.asarray(boxes)[:, j, None] for j in range(4))
    rows, cols = np.arange(h), np.arange(w)
    inside = (((rows >= y0) & (rows < y1))[:, :, None] & ((cols >= x0) & (cols < x1))[:, None, :])
    return inside.reshape(len(boxes), h * w).astype(np.float32) @ A.reshape(h * w, c)


def saliency_weighted_map(A, S, exponent=1.0):
    """The activation map with each position weighted by ``(S / max S) ** exponent``.

    Pooling the weighted map lets the saliency map decide, position by position, how
    much each activation counts: a soft version of cropping to the salient region.

    Parameters
    ----------
    A : array-like of shape (h, w, c)
    S : array-like of shape (h, w)
        Non-negative saliency map; an all-zero map leaves ``A`` unweighted.
    exponent : float, default=1.0
        0 leaves ``A`` as it is; larger values keep only the most salient positions.

    Returns
    -------
    ndarray of shape (h, w, c), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.pooling import saliency_weighted_map
    >>> A = np.ones((1, 2, 1), np.float32)
    >>> saliency_weighted_map(A, [[1.0, 4.0]], exponent=0.5)[0, :, 0].tolist()
    [0.5, 1.0]
    """
    check_params({"exponent": [NonNegativeReal]}, "saliency_weighted_map", exponent=exponent)
    A = check_map(A)
    return _saliency_weighted_map(A, check_saliency_map(S, shape=A.shape[:2]), exponent)


def _saliency_weighted_map(A, S, exponent):
    """:func:`saliency_weighted_map` of a map and saliency map already validated."""
    S = np.asarray(S, dtype=np.float64)
    top = S.max()
    if exponent == 0 or not top > 0:
        return A
    weights = (S / top) ** exponent
    return (A * weights[:, :, None].astype(np.float32)).astype(np.float32, copy=False)


def region_mean(S, boxes):
    """Mean of a 2-D map over each box (the region saliency ``f``), by an integral image.

    Parameters
    ----------
    S : array-like of shape (h, w)
        Finite values.
    boxes : array-like of shape (m, 4)
        Half-open ``[y0, x0, y1, x1)``, inside the map.

    Returns
    -------
    ndarray of shape (m,), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import region_mean
    >>> S = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> region_mean(S, [[0, 0, 3, 4], [0, 0, 1, 2]]).tolist()
    [5.5, 0.5]
    """
    S = np.asarray(S)
    if S.ndim != 2:
        raise ValueError(f"S of region_mean must be 2-D (h, w); got shape {S.shape}.")
    if S.dtype.kind not in "fiub":
        raise TypeError(f"S of region_mean must hold real numbers; got dtype {S.dtype}.")
    return _region_mean(S, check_boxes(boxes, S.shape), caller="region_mean")


def _region_mean(S, boxes, caller=None):
    """:func:`region_mean` of checked boxes; with ``caller``, ``S`` is checked too, for
    free: NaN and inf reach the last entry of the integral image."""
    S = np.asarray(S, dtype=np.float64)
    integral = np.zeros((S.shape[0] + 1, S.shape[1] + 1))
    integral[1:, 1:] = S.cumsum(0).cumsum(1)
    if caller is not None and not np.isfinite(integral[-1, -1]):
        raise ValueError(f"S of {caller} of shape {S.shape} contains NaN or inf.")
    y0, x0, y1, x1 = boxes.T
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return (total / ((y1 - y0) * (x1 - x0))).astype(np.float32)


def _pool_image(X, i, index, *, n_channels, normalize):
    A = check_map(X[i], index=index, n_channels=n_channels)
    boxes = check_boxes(X.field("regions")[i], A.shape[:2], index=index, name="region")
    Z = _region_max_pool(A, boxes)
    F = check_saliency_map(X.field("feature_saliency")[i], index=index, shape=A.shape[:2])
    return (l2_normalize(Z) if normalize else Z), _region_mean(F, boxes)


def _pool_batch(X, first, *, n_channels, normalize, device):
    """:func:`_pool_image` for the chunk ``X`` (image ``first`` onwards), the maps of one
    shape pooled together on ``device``."""
    maps = [check_map(X[i], index=first + i, n_channels=n_channels) for i in range(len(X))]
    boxes = [check_boxes(X.field("regions")[i], A.shape[:2], index=first + i, name="region")
             for i, A in enumerate(maps)]
    pooled = map_by_shape(lambda A, b: _region_pool_batch(A, b, "max", None, 0.0, device),
                          maps, boxes)
    out = []
    for i, Z in enumerate(pooled):
        F = check_saliency_map(X.field("feature_saliency")[i], index=first + i,
                               shape=maps[i].shape[:2])
        out.append(((l2_normalize(Z) if normalize else Z), _region_mean(F, boxes[i])))
    return out


class RegionMaxPooler(MapTransformerMixin, BaseEstimator):
    """Max-pool a descriptor and average the feature saliency over every region (stage 3).

    A thin layer over :func:`region_max_pool` and :func:`region_mean`. Reads the
    fields ``regions`` and ``feature_saliency``; writes ``region_descriptors``
    (m_i, c) and ``region_saliency`` (m_i,).

    Parameters
    ----------
    normalize : bool, default=True
        L2-normalise every region descriptor, so that dot products are cosine
        similarities even when no whitening follows.
    %(device_parameters)s
    verbose : int, default=0
        Progress messages.

    Attributes
    ----------
    n_channels_ : int
        Channels of the maps seen in ``fit``.

    See Also
    --------
    region_pool_batch : the pooling of a batch, in torch (with a device).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_salreg import FeatureSaliency, WholeMapDetector, RegionMaxPooler
    >>> A = np.random.default_rng(0).random((4, 6, 8), dtype=np.float32)
    >>> Xt = make_pipeline(FeatureSaliency(), WholeMapDetector(), RegionMaxPooler()).fit_transform([A])
    >>> Xt.field("region_descriptors")[0].shape
    (1, 8)
    """

    _required_fields = ("regions", "feature_saliency")
    _reads_maps = True

    _parameter_constraints = {
        "normalize": ["boolean"],
        **DEVICE_PARAMETERS,
    }

    def __init__(self, normalize=True, device=None, batch_size=256, n_jobs=None, verbose=0):
        self.normalize = normalize
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def transform(self, X):
        """Pool every region of every image.

        Returns
        -------
        MapCollection
            ``X`` with ``region_descriptors`` and ``region_saliency`` set.
        """
        check_is_fitted(self)
        X = self._validate_collection(X, reset=False)
        X.field("regions"), X.field("feature_saliency")
        pooled = self._map_on_device(_pool_image, _pool_batch, X, n_channels=self.n_channels_,
                                     normalize=self.normalize)
        return X.with_fields(region_descriptors=[p[0] for p in pooled],
                             region_saliency=[p[1] for p in pooled])
