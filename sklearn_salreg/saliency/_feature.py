"""Feature saliency (FS): a CroW-style channel-weighted sum of one activation map.

Paper section 3.3, equations (1)-(2); see docs/method.rst.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._base import DEVICE_PARAMETERS, MapTransformerMixin
from ..collection import check_map
from ..collection._validation import check_same_shape
from ..utils import map_by_shape
from ..utils._param_validation import PositiveReal, StrOptions, check_params

__all__ = ["channel_weights", "feature_saliency", "normalize_saliency", "FeatureSaliency",
           "FEATURE_SALIENCY_PARAMETERS"]

#: Constraints of the parameters of :func:`feature_saliency`, shared with
#: :class:`FeatureSaliency` and :func:`feature_saliency_batch`.
FEATURE_SALIENCY_PARAMETERS = {
    "eps": [PositiveReal],
    "normalize": [StrOptions({"crow", "max"}), None],
}


def channel_weights(A, eps=1e-6):
    """CroW's idf-like channel weights ``b`` of one activation map.

    ``a_j`` is the fraction of positions where channel ``j`` is non-zero and
    ``b_j = log(sum_i (a_i + eps) / (a_j + eps))``: channels that fire at few positions
    weigh more.

    Parameters
    ----------
    A : ndarray of shape (h, w, c)
        Non-negative activation map.
    eps : float, default=1e-6
        Keeps the weight of a channel that never fires finite.

    Returns
    -------
    b : ndarray of shape (c,), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import channel_weights
    >>> A = np.zeros((2, 2, 3), np.float32); A[0, 0] = 1.0; A[:, :, 1] = 1.0
    >>> channel_weights(A).astype(float).round(3).tolist()  # channel 1 fires everywhere
    [1.792, 0.405, 1.792]
    """
    h, w, c = A.shape
    a = _positive_counts(A.reshape(h * w, c)) / float(h * w)
    a = a + eps
    return np.log(a.sum() / a).astype(np.float32)


# Rows summed at once by the byte-lane count below: 255 ones still fit in a byte.
_LANE_ROWS = 255


def _positive_counts(A):
    """Number of positive entries in each column of a 2-D array, as int32."""
    # C order for the word view below: a comparison keeps the layout of its input,
    # and a channel-permuted or Fortran-ordered map is valid input.
    positive = np.ascontiguousarray(A > 0)
    n, c = positive.shape
    if c % 8:
        # the 0/1 bytes counted as uint8 summed in int32 (count_nonzero sums in intp)
        return positive.view(np.uint8).sum(axis=0, dtype=np.int32)
    # Eight columns at a time: the 0/1 bytes of a row read as uint64 words and summed,
    # each byte lane counting one column (no carry while a lane stays under 256), ~4x
    # faster than the per-byte sum. Blocks of 255 rows, then the lanes added up.
    words = positive.view(np.uint64)
    counts = np.zeros(c, dtype=np.int32)
    for lo in range(0, n, _LANE_ROWS):
        counts += words[lo:lo + _LANE_ROWS].sum(axis=0, dtype=np.uint64).view(np.uint8)
    return counts


def normalize_saliency(F, method="crow"):
    """Normalise a 2-D saliency map; an all-zero map stays all zero.

    Parameters
    ----------
    F : ndarray of shape (h, w)
    method : {"crow", "max", None}, default="crow"
        ``"crow"``: ``(F / ||F||_2) ** (1/2)`` as CroW does; ``"max"``: ``F / max F``;
        ``None``: unchanged. The region detector rescales its input to maximum 1
        anyway, so the choice only matters where the values themselves are used
        (region saliency ``f`` and the exponent ``Theta`` of object saliency).

    Returns
    -------
    ndarray of shape (h, w), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import normalize_saliency
    >>> F = np.array([[3.0, 0.0], [0.0, 4.0]])
    >>> normalize_saliency(F).astype(float).round(3).tolist()
    [[0.775, 0.0], [0.0, 0.894]]
    >>> normalize_saliency(F, method="max").tolist()
    [[0.75, 0.0], [0.0, 1.0]]
    """
    F = np.asarray(F, dtype=np.float32)
    if method is None:
        return F.copy()
    if method == "crow":
        norm = float(np.sqrt(np.dot(F.ravel().astype(np.float64), F.ravel())))
        return np.sqrt(F / norm) if norm > 0 else np.zeros_like(F)
    if method == "max":
        top = float(F.max()) if F.size else 0.0
        return F / top if top > 0 else np.zeros_like(F)
    raise ValueError(f"normalize must be 'crow', 'max' or None; got {method!r}.")


def feature_saliency(A, *, eps=1e-6, normalize="crow"):
    """The feature saliency map of one activation map.

    ``F = sum_j b_j A[:, :, j]`` with the channel weights of :func:`channel_weights`
    applied before the spatial sum (as in CAM), then normalised (CroW).

    Parameters
    ----------
    A : array-like of shape (h, w, c)
        Non-negative activation map.
    eps : float > 0, default=1e-6
        See :func:`channel_weights`.
    normalize : {"crow", "max", None}, default="crow"
        See :func:`normalize_saliency`.

    Returns
    -------
    F : ndarray of shape (h, w), dtype float32
        Non-negative; exactly zero where the map is all zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import feature_saliency
    >>> A = np.zeros((4, 5, 3), np.float32)
    >>> A[1, 2] = [1.0, 0.0, 2.0]
    >>> F = feature_saliency(A)
    >>> F.shape, float(F[1, 2]), float(F.sum() - F[1, 2])
    ((4, 5), 1.0, 0.0)
    """
    check_params(FEATURE_SALIENCY_PARAMETERS, "feature_saliency", eps=eps, normalize=normalize)
    return _feature_saliency(*check_map(A, return_max=True), eps, normalize)


# Below this maximum, float32 products lose digits to underflow (subnormal numbers).
_TINY = 1e-30


def _feature_saliency(A, top, eps, normalize):
    """:func:`feature_saliency` of a map validated by :func:`check_map`, whose maximum
    ``top`` the check found."""
    h, w, c = A.shape
    b = channel_weights(A, eps=eps)
    if 0 < top < _TINY and normalize is not None:
        # F is linear in A while b and the normalisation ignore its scale: rescaling a
        # map of tiny values changes nothing but keeps float32 away from underflow.
        A = A / top
    F = (A.reshape(h * w, c) @ b).reshape(h, w)
    return normalize_saliency(F, normalize)


def feature_saliency_batch(maps, *, eps=1e-6, normalize="crow", device="cpu"):
    """:func:`feature_saliency` of many maps of one shape at once, in torch on ``device``.

    The same maps as :func:`feature_saliency` within float32 rounding; on a GPU the
    batch is one kernel per step instead of a loop over images.

    Why a second implementation: it is for GPUs (``FeatureSaliency(device=...)``).
    On the CPU :func:`feature_saliency` is faster at both map sizes of
    ``benchmarks/bench_per_image.py``, so ``device=None`` never comes here; on a GPU
    the copy of each map to the device costs more than the computation (figures on
    the docs' benchmarks page). The doctest below and ``tests/test_feature_saliency.py``
    pin the two together.

    Parameters
    ----------
    maps : sequence of ndarray of shape (h, w, c)
        Validated activation maps (see :func:`~sklearn_salreg.collection.check_map`),
        all of one shape.
    eps, normalize
        As in :func:`feature_saliency`.
    device : str or torch.device, default="cpu"

    Returns
    -------
    list of ndarray of shape (h, w), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import feature_saliency, feature_saliency_batch
    >>> maps = [np.random.default_rng(i).random((4, 5, 8), dtype=np.float32) for i in range(3)]
    >>> batch = feature_saliency_batch(maps)
    >>> all(np.allclose(F, feature_saliency(A), atol=1e-6) for F, A in zip(batch, maps))
    True
    """
    check_params(FEATURE_SALIENCY_PARAMETERS, "feature_saliency_batch", eps=eps,
                 normalize=normalize)
    if not len(maps):
        return []
    check_same_shape(maps)
    A = torch.from_numpy(np.stack(maps)).to(device)
    n, h, w, c = A.shape
    flat = A.reshape(n, h * w, c)
    # channel weights in float64, as channel_weights computes them
    # counts of non-zero positions, summed as int32 (a default bool sum first copies the
    # whole batch to int64)
    a = (flat > 0).sum(1, dtype=torch.int32).double() / float(h * w) + eps
    b = torch.log(a.sum(1, keepdim=True) / a).float()
    top = flat.amax(dim=(1, 2))
    tiny = (top > 0) & (top < _TINY)
    if normalize is not None and bool(tiny.any()):  # see _feature_saliency: underflow
        flat = flat / torch.where(tiny, top, torch.ones_like(top))[:, None, None]
    F = torch.bmm(flat, b[:, :, None])[:, :, 0]
    if normalize == "crow":
        norm = torch.sqrt((F.double() ** 2).sum(1, keepdim=True))
        F = torch.where(norm > 0, torch.sqrt(F / norm.clamp_min(1e-300)).float(),
                        torch.zeros_like(F))
    elif normalize == "max":
        peak = F.amax(1, keepdim=True)
        F = torch.where(peak > 0, F / peak.clamp_min(1e-38), torch.zeros_like(F))
    return list(F.reshape(n, h, w).cpu().numpy().astype(np.float32, copy=False))


def _batch_feature_saliency(X, first, *, eps, normalize, n_channels, device):
    """Feature saliency of the chunk ``X`` (image ``first`` onwards), same shapes together."""
    maps = [check_map(X[i], index=first + i, n_channels=n_channels) for i in range(len(X))]
    return map_by_shape(lambda batch: feature_saliency_batch(batch, eps=eps, normalize=normalize,
                                                             device=device), maps)


def _image_feature_saliency(X, i, index, *, eps, normalize, n_channels):
    A, top = check_map(X[i], index=index, n_channels=n_channels, return_max=True)
    return _feature_saliency(A, top, eps, normalize)


class FeatureSaliency(MapTransformerMixin, BaseEstimator):
    """Compute the feature saliency map of every image (pipeline stage 1).

    A thin layer over :func:`feature_saliency`: it is stateless apart from the
    channel count it remembers for checking, and writes the fields
    ``feature_saliency`` and ``saliency`` of the collection.

    Parameters
    ----------
    eps : float, default=1e-6
        See :func:`channel_weights`.
    normalize : {"crow", "max"} or None, default="crow"
        See :func:`normalize_saliency`.
    %(device_parameters)s
    verbose : int, default=0
        Progress messages.

    Attributes
    ----------
    n_channels_ : int
        Number of channels of the maps seen in ``fit``.

    See Also
    --------
    feature_saliency : the map of one image (``device=None``).
    feature_saliency_batch : the maps of a batch, in torch (with a device).
    EGMRegionDetector : detects regions on the saliency map.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import FeatureSaliency
    >>> maps = [np.random.default_rng(0).random((6, 8, 16), dtype=np.float32)]
    >>> Xt = FeatureSaliency().fit_transform(maps)
    >>> Xt.field("saliency")[0].shape
    (6, 8)
    """

    _required_fields = ()
    _reads_maps = True

    _parameter_constraints = {
        **FEATURE_SALIENCY_PARAMETERS,
        **DEVICE_PARAMETERS,
    }

    def __init__(self, eps=1e-6, normalize="crow", device=None, batch_size=256, n_jobs=None,
                 verbose=0):
        self.eps = eps
        self.normalize = normalize
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def transform(self, X):
        """Add the feature saliency map of every image.

        Parameters
        ----------
        X : MapCollection or sequence of array-like of shape (h_i, w_i, c)

        Returns
        -------
        MapCollection
            ``X`` with the fields ``feature_saliency`` and ``saliency`` set.
        """
        check_is_fitted(self)
        X = self._validate_collection(X, reset=False)
        maps = self._map_on_device(_image_feature_saliency, _batch_feature_saliency, X,
                                   eps=self.eps, normalize=self.normalize,
                                   n_channels=self.n_channels_)
        return X.with_fields(feature_saliency=maps, saliency=maps)
