"""Aggregation of region descriptors into one global descriptor per image (stage 7).

METHOD.md section 7; paper section 3.9: per-region max pooling and L2
normalisation, sum over regions, whitening of the sum, L2 normalisation.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .._base import MapTransformerMixin
from ..collection import check_boxes, check_map
from ._max_pool import l2_normalize, region_max_pool

__all__ = ["aggregate_regions", "RegionAggregator"]


def aggregate_regions(Z):
    """Sum of L2-normalised region descriptors, L2-normalised (R-MAC's two-level pooling).

    Parameters
    ----------
    Z : array-like of shape (m, d)
        Region descriptors of one image.

    Returns
    -------
    ndarray of shape (d,), dtype float32
        Unit norm, or all zero when every region descriptor is zero.

    Examples
    --------
    >>> from sklearn_salreg import aggregate_regions
    >>> aggregate_regions([[3.0, 0.0], [0.0, 0.5]]).round(4).tolist()
    [0.7071, 0.7071]
    """
    Z = np.asarray(Z, dtype=np.float32)
    if Z.ndim != 2:
        raise ValueError(f"region descriptors must be 2-D (m, d); got shape {Z.shape}.")
    return l2_normalize(l2_normalize(Z).sum(axis=0))


def _aggregate_image(X, i, index, *, n_channels, use_pooled):
    if use_pooled:
        Z = np.asarray(X.field("region_descriptors")[i], dtype=np.float32)
    else:
        A = check_map(X[i], index=index, n_channels=n_channels)
        boxes = check_boxes(X.field("regions")[i], A.shape[:2], index=index, name="region")
        Z = region_max_pool(A, boxes)
    return aggregate_regions(Z)


class RegionAggregator(MapTransformerMixin, BaseEstimator):
    """Pool each image's regions into one global descriptor (the last stage).

    Uses the field ``region_descriptors`` when an earlier stage pooled the current
    regions (they are dropped whenever regions change), else max-pools the maps over
    the field ``regions``. The summed vector is optionally whitened by an estimator
    fitted on the database's summed vectors in ``fit``.

    Parameters
    ----------
    whitening : estimator or None, default=None
        A transformer of 2-D arrays (e.g. :class:`LearnedWhitening`); cloned and fitted
        on the aggregated database vectors. None: no whitening.
    n_jobs : int, default=None
        Number of joblib workers over images.
    verbose : int, default=0
        Progress messages.

    Attributes
    ----------
    whitening_ : estimator or None
        The fitted clone of ``whitening``.
    n_channels_ : int
        Channels of the maps seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_salreg import UniformRegionDetector, RegionAggregator
    >>> maps = [np.random.default_rng(0).random((7, 9, 16), dtype=np.float32)]
    >>> make_pipeline(UniformRegionDetector(), RegionAggregator()).fit_transform(maps).shape
    (1, 16)
    """

    _required_fields = ("regions",)
    _reads_maps = True

    _parameter_constraints = {
        "whitening": [HasMethods(["fit", "transform"]), None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, whitening=None, n_jobs=None, verbose=0):
        self.whitening = whitening
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _aggregate(self, X):
        use_pooled = X.has_field("region_descriptors")
        if not use_pooled:
            X.field("regions")
        return np.stack(self._map_images(_aggregate_image, X, n_channels=self.n_channels_,
                                         use_pooled=use_pooled))

    def fit(self, X, y=None):
        """Fit the whitening of the summed vectors (if any) on the database.

        Parameters
        ----------
        X : MapCollection
            With the field ``regions`` (or ``region_descriptors``).
        y : ignored

        Returns
        -------
        self
        """
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        """Fit on the database and return its global descriptors (n, d), float32."""
        self._validate_params()
        X = self._validate_collection(X, reset=True)
        G = self._aggregate(X)
        self.whitening_ = None if self.whitening is None else clone(self.whitening).fit(G)
        return self._finish(G)

    def _finish(self, G):
        if self.whitening_ is not None:
            G = self.whitening_.transform(G)
        return l2_normalize(np.asarray(G, dtype=np.float32))

    def transform(self, X):
        """Global descriptors of new images.

        Returns
        -------
        ndarray of shape (n_images, d), dtype float32
            Unit-norm rows (all zero for an image whose every region is all zero,
            when no whitening is used).
        """
        check_is_fitted(self, "whitening_")
        X = self._validate_collection(X, reset=False)
        return self._finish(self._aggregate(X))
