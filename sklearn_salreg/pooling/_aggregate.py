"""Aggregation of region descriptors into one global descriptor per image (stage 7).

Paper section 3.9 (docs/method.rst): per-region max pooling and L2
normalisation, sum over regions, whitening of the sum, L2 normalisation.

Beyond the paper's plain sum (the default), two levers decide how much each region
counts (with many weak clutter regions the plain sum drowns the object; see
docs/method.rst): ``weighting="mass"`` weights each region by its share of the saliency mass
of the map it was detected on, and ``max_regions`` keeps only the strongest regions.
Two more decide how a region is pooled: ``pooling="sum"`` sums its activations
instead of taking their maximum, and ``saliency_exponent`` weights every position by
the saliency map before pooling, so that clutter inside a box counts less.
"""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..utils._param_validation import (HasMethods, NonNegativeReal, PositiveInt, StrOptions,
                                       check_finite)
from .._base import DEVICE_PARAMETERS, MapTransformerMixin
from ..collection import check_boxes, check_map, check_saliency_map
from ..utils import map_by_shape
from ._batch import _region_pool_batch
from ._max_pool import (_region_max_pool, _region_mean, _region_sum_pool, _saliency_weighted_map,
                        l2_normalize)

__all__ = ["aggregate_regions", "region_masses", "RegionAggregator"]


def region_masses(S, boxes):
    """Share of the saliency mass of map ``S`` that lies in each box.

    Parameters
    ----------
    S : array-like of shape (h, w)
        Non-negative saliency map.
    boxes : array-like of shape (m, 4)

    Returns
    -------
    ndarray of shape (m,), float64
        ``sum of S over the box / sum of S``; boxes may overlap, so the shares need not
        sum to 1. All zero for an all-zero map.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.pooling import region_masses
    >>> S = np.array([[1.0, 3.0], [0.0, 0.0]])
    >>> region_masses(S, [[0, 0, 1, 1], [0, 0, 2, 2]]).tolist()
    [0.25, 1.0]
    """
    S = check_saliency_map(S)
    return _region_masses(S, check_boxes(boxes, S.shape))


def _region_masses(S, boxes):
    """:func:`region_masses` of a checked saliency map and checked boxes."""
    S = np.asarray(S, dtype=np.float64)
    total = S.sum()
    if not total > 0:
        return np.zeros(len(boxes))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return _region_mean(S, boxes).astype(np.float64) * areas / total


def aggregate_regions(Z, weights=None):
    """Sum of L2-normalised region descriptors, L2-normalised (R-MAC's two-level pooling).

    Parameters
    ----------
    Z : array-like of shape (m, d)
        Region descriptors of one image.
    weights : array-like of shape (m,), default=None
        Non-negative weight of each region in the sum; None is the paper's plain sum.

    Returns
    -------
    ndarray of shape (d,), dtype float32
        Unit norm, or all zero when every region descriptor is zero.

    Examples
    --------
    >>> from sklearn_salreg import aggregate_regions
    >>> [round(float(v), 4) for v in aggregate_regions([[3.0, 0.0], [0.0, 0.5]])]
    [0.7071, 0.7071]
    """
    Z = check_finite(Z, "Z", "aggregate_regions", ndim=2)
    if Z.shape[1] == 0:
        raise ValueError(f"Z of aggregate_regions has no feature (shape {Z.shape}).")
    if weights is not None:
        weights = check_finite(weights, "weights", "aggregate_regions", non_negative=True)
        if weights.shape != (len(Z),):
            raise ValueError(
                f"weights of aggregate_regions: got {weights.shape} weights for {len(Z)} "
                "regions; expected one weight per region.")
    return _aggregate_regions(Z, weights)


def _aggregate_regions(Z, weights=None):
    """:func:`aggregate_regions` of region descriptors pooled by the stage (finite)."""
    Z = l2_normalize(np.asarray(Z, dtype=np.float32))
    if weights is not None:
        Z = Z * np.asarray(weights, dtype=np.float32)[:, None]
    return l2_normalize(Z.sum(axis=0))


def _plan_regions(X, i, index, *, weighting, max_regions):
    """Which regions of image ``i`` count and with what weight: ``(boxes, weights, S)``,
    ``S`` its saliency map (None when the collection has none)."""
    boxes = np.asarray(X.field("regions")[i]) if X.has_field("regions") else None
    keep, weights = slice(None), None  # all regions, the plain sum
    S = X.field("saliency")[i] if X.has_field("saliency") else None
    if weighting == "mass" or max_regions is not None:
        if S is not None:
            masses = _region_masses(check_saliency_map(S, index=index),
                                    check_boxes(boxes, np.shape(S), index=index, name="region"))
        else:  # no saliency map (grid detectors): every region counts the same
            masses = np.ones(len(boxes))
        if max_regions is not None and len(masses) > max_regions:
            keep = np.sort(np.argsort(-masses, kind="stable")[:max_regions])
            masses = masses[keep]
        if weighting == "mass" and np.any(masses > 0):  # no saliency anywhere: plain sum
            weights = masses
    return keep, (None if boxes is None else boxes[keep]), weights, S


def _checked_inputs(X, i, index, boxes, S, *, n_channels, saliency_exponent):
    """The map, its boxes and (when it weights the pooling) its saliency map, validated
    once here, naming the image: the kernels do not check again."""
    A = check_map(X[i], index=index, n_channels=n_channels)
    if saliency_exponent and S is not None:
        S = check_saliency_map(S, index=index, shape=A.shape[:2])
    else:
        S = None
    return A, check_boxes(boxes, A.shape[:2], index=index, name="region"), S


def _image_regions(X, i, index, *, n_channels, use_pooled=False, weighting, max_regions,
                   pooling, saliency_exponent):
    """The regions of image ``i`` that the aggregator sums: ``(boxes, Z, weights)``, the
    descriptors ``Z`` pooled by NumPy (or those of the stage before, ``use_pooled``)."""
    keep, boxes, weights, S = _plan_regions(X, i, index, weighting=weighting,
                                            max_regions=max_regions)
    if use_pooled:
        return boxes, np.asarray(X.field("region_descriptors")[i], dtype=np.float32)[keep], weights
    A, boxes, S = _checked_inputs(X, i, index, boxes, S, n_channels=n_channels,
                                  saliency_exponent=saliency_exponent)
    if S is not None:
        A = _saliency_weighted_map(A, S, saliency_exponent)
    pool = _region_sum_pool if pooling == "sum" else _region_max_pool
    return boxes, pool(A, boxes), weights


def _aggregate_image(X, i, index, **levers):
    _, Z, weights = _image_regions(X, i, index, **levers)
    return _aggregate_regions(Z, weights)


def _aggregate_batch(X, first, *, n_channels, weighting, max_regions, pooling, saliency_exponent,
                     device):
    """:func:`_aggregate_image` for the chunk ``X`` (image ``first`` onwards), pooling the
    maps of one shape together on ``device``."""
    inputs, all_weights = [], []
    for i in range(len(X)):
        _, boxes, weights, S = _plan_regions(X, i, first + i, weighting=weighting,
                                             max_regions=max_regions)
        inputs.append(_checked_inputs(X, i, first + i, boxes, S, n_channels=n_channels,
                                      saliency_exponent=saliency_exponent))
        all_weights.append(weights)
    # the collection has a saliency map for every image or for none (grid detectors)
    exponent = saliency_exponent if all(S is not None for _, _, S in inputs) else 0.0
    maps, boxes, saliency = (list(column) for column in zip(*inputs))  # a batch is never empty
    pooled = map_by_shape(lambda A, b, S: _region_pool_batch(A, b, pooling, S if exponent else None,
                                                             exponent, device),
                          maps, boxes, saliency)
    return [_aggregate_regions(Z, weights) for Z, weights in zip(pooled, all_weights)]


class RegionAggregator(MapTransformerMixin, BaseEstimator):
    """Pool each image's regions into one global descriptor (the last stage).

    Uses the field ``region_descriptors`` when an earlier stage pooled the current
    regions (they are dropped whenever regions change) and the pooling is the
    paper's plain max, else pools the maps over
    the field ``regions``. The summed vector is optionally whitened by an estimator
    fitted on the database's summed vectors in ``fit``.

    Parameters
    ----------
    weighting : {"sum", "mass"}, default="sum"
        ``"sum"``: the paper's plain sum of L2-normalised region descriptors.
        ``"mass"``: each region weighted by its share of the mass of the saliency map
        it was detected on (field ``saliency``; every region counts the same when the
        collection has none, as after the grid detectors).
    max_regions : int or None, default=None
        Keep only this many regions per image, those with the most saliency mass
        (all regions when None, the paper).
    pooling : {"max", "sum"}, default="max"
        Pooling of the activations inside each region: their maximum (the paper, as
        in R-MAC) or their sum (as in SPoC / CroW).
    saliency_exponent : float, default=0.0
        Before pooling, each position's activations are multiplied by
        ``(S / max S) ** saliency_exponent``, ``S`` the saliency map the regions were
        detected on (field ``saliency``; no weighting when the collection has none).
        0 pools the activations as they are (the paper).
    whitening : estimator, "region" or None, default=None
        Whitening of the summed vector. An estimator (e.g. :class:`LearnedWhitening`)
        is cloned and fitted on the database's summed vectors (with the labels ``y``
        given to ``fit``: a supervised whitening); ``"region"`` reuses the
        fitted region whitening of the pipeline (``context["whitening"]``, the paper's
        "same kind of map"), without refitting; None: no whitening.
    %(device_parameters)s
    verbose : int, default=0
        Progress messages.

    Attributes
    ----------
    whitening_ : estimator or None
        The fitted clone of ``whitening``.
    n_channels_ : int
        Channels of the maps seen in ``fit``.

    Notes
    -----
    With a device, the maps are pooled by :func:`region_pool_batch`; region
    descriptors pooled by an earlier stage are reused, whatever the device.

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
        "weighting": [StrOptions({"sum", "mass"})],
        "max_regions": [PositiveInt, None],
        "pooling": [StrOptions({"max", "sum"})],
        "saliency_exponent": [NonNegativeReal],
        "whitening": [HasMethods(["fit", "transform"]), StrOptions({"region"}), None],
        **DEVICE_PARAMETERS,
    }

    def __init__(self, weighting="sum", max_regions=None, pooling="max", saliency_exponent=0.0,
                 whitening=None, device=None, batch_size=256, n_jobs=None, verbose=0):
        self.weighting = weighting
        self.max_regions = max_regions
        self.pooling = pooling
        self.saliency_exponent = saliency_exponent
        self.whitening = whitening
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _aggregate(self, X):
        # Region descriptors pooled earlier serve only the paper's plain max pooling.
        use_pooled = self._uses_pooled(X)
        if not use_pooled:
            X.field("regions")
        levers = self._levers()
        if use_pooled:  # pooled descriptors need no device (checked all the same)
            self._device()
            return np.stack(self._map_images(_aggregate_image, X, use_pooled=True, **levers))
        return np.stack(self._map_on_device(_aggregate_image, _aggregate_batch, X, **levers))

    def _uses_pooled(self, X):
        """Whether the region descriptors of ``X`` serve as they are."""
        return (X.has_field("region_descriptors") and self.pooling == "max"
                and not self.saliency_exponent)

    def _levers(self):
        return dict(n_channels=self.n_channels_, weighting=self.weighting,
                    max_regions=self.max_regions, pooling=self.pooling,
                    saliency_exponent=self.saliency_exponent)

    def fit(self, X, y=None):
        """Fit the whitening of the summed vectors (if any) on the database.

        Parameters
        ----------
        X : MapCollection
            With the field ``regions`` (or ``region_descriptors``).
        y : array-like of shape (n_images,), default=None
            Image labels, passed to the whitening's ``fit`` (a
            :class:`LearnedWhitening` learns from them which vectors match).

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
        if self.whitening is None:
            self.whitening_ = None
        elif isinstance(self.whitening, str):  # "region": the fitted region whitening
            self.whitening_ = X.context.get("whitening")
            if self.whitening_ is None:
                raise ValueError(
                    'whitening="region" needs a fitted region whitening in the pipeline '
                    "(a LearnedWhitening before this step); there is none.")
        else:
            self.whitening_ = clone(self.whitening).fit(G, y)
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

    def explain_match(self, X_query, X_database, query=0, database=0):
        """Split the similarity of a query and a database image into region-pair terms.

        Parameters
        ----------
        X_query, X_database : MapCollection
            Collections as this step receives them (in a pipeline,
            ``pipeline[:-1].transform(maps)``).
        query, database : int, default=0
            The image of each collection.

        Returns
        -------
        explanation : Bunch
            As :func:`~sklearn_salreg.pooling.explain_match`, with the regions' boxes
            (``query_boxes``, ``database_boxes``, map coordinates) and the maps' shapes
            (``query_map_shape``, ``database_map_shape``); ``score`` equals the dot
            product of the two rows that :meth:`transform` returns for them.
        """
        from ._explain import aggregated_regions, explain_match

        check_is_fitted(self, "whitening_")
        X_query = self._validate_collection(X_query, reset=False)
        X_database = self._validate_collection(X_database, reset=False)
        bq, Zq, wq = aggregated_regions(self, X_query, query)
        bx, Zx, wx = aggregated_regions(self, X_database, database)
        result = explain_match(Zq, Zx, query_weights=wq, database_weights=wx,
                               whitening=self.whitening_, query_boxes=bq, database_boxes=bx)
        result.query_map_shape = X_query.map_shape(query)[:2]
        result.database_map_shape = X_database.map_shape(database)[:2]
        return result
