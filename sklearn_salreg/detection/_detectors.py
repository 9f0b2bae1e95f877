"""Region detector estimators: EGM on a saliency map, the R-MAC grid, the whole map.

Each writes the field ``regions`` of the collection. Where an image carries a box
(the query side), ``use_boxes=True`` confines the regions to it: EGM returns the box
itself (the paper's query protocol, "the given query box replaces detection"), the
grid detectors lay their grid inside it.
"""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._base import DEVICE_PARAMETERS, MapTransformerMixin
from ..collection import check_boxes, check_saliency_map
from ..utils import map_by_shape
from ..utils._param_validation import NonNegativeInt, PositiveInt, StrOptions, check_params
from ._egm import EGM_PARAMETERS, _egm_regions
from ._egm_batch import egm_regions_batch
from ._grid import GRID_PARAMETERS, _uniform_regions, whole_map_region

__all__ = ["EGMRegionDetector", "EmptySaliencyWarning", "UniformRegionDetector", "WholeMapDetector",
           "add_subregions"]


class EmptySaliencyWarning(UserWarning):
    """Some images had no salient position: their region is the whole map.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn_salreg import EGMRegionDetector, EmptySaliencyWarning, FeatureSaliency
    >>> X = FeatureSaliency().fit_transform([np.zeros((4, 5, 3), np.float32)])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     regions = EGMRegionDetector().fit_transform(X).field("regions")
    >>> [w.category is EmptySaliencyWarning for w in caught], regions[0].tolist()
    ([True], [[0, 0, 4, 5]])
    """


def add_subregions(boxes, levels=2):
    """Add the R-MAC grid of ``levels`` scales inside every box (OS.EGM-4).

    Parameters
    ----------
    boxes : array-like of int, shape (m, 4)
        Non-empty boxes ``[y0, x0, y1, x1)`` with non-negative corners.
    levels : int >= 1, default=2

    Returns
    -------
    ndarray of shape (m', 4)
        Each box followed by its sub-regions, exact duplicates removed (a square
        box's first-level sub-region is the box itself).

    Examples
    --------
    >>> from sklearn_salreg import add_subregions
    >>> add_subregions([[0, 0, 4, 6]], levels=2)[:4].tolist()
    [[0, 0, 4, 6], [0, 0, 4, 4], [0, 2, 4, 6], [0, 0, 2, 2]]
    >>> len(add_subregions([[0, 0, 4, 6]], levels=2))
    9
    """
    check_params({"levels": [PositiveInt]}, "add_subregions", levels=levels)
    return _add_subregions(check_boxes(boxes, (np.inf, np.inf), name="box"), levels)


def _add_subregions(boxes, levels):
    """:func:`add_subregions` of checked boxes (the detector's own) and levels."""
    out = []
    for y0, x0, y1, x1 in np.asarray(boxes, dtype=np.int64).tolist():
        sub = _uniform_regions(y1 - y0, x1 - x0, levels=levels) + np.array([y0, x0, y0, x0])
        out.append(np.array([[y0, x0, y1, x1]]))
        out.append(sub)
    if not out:
        return np.zeros((0, 4), dtype=np.int64)
    stacked = np.concatenate(out).astype(np.int64)
    _, first = np.unique(stacked, axis=0, return_index=True)
    return stacked[np.sort(first)]


def _box_region(X, i, use_boxes):
    box = X.box(i) if use_boxes else None
    return None if box is None else box[None, :]


def _egm_image(X, i, index, *, source, use_boxes, params, sub_levels):
    regions = _box_region(X, i, use_boxes)
    if regions is None:
        S = check_saliency_map(X.field(source)[i], index=index, shape=X.map_shape(i)[:2])
        regions = _egm_regions(S, **params)
        if len(regions) == 0:
            return None
    return _add_subregions(regions, sub_levels) if sub_levels else regions


def _egm_batch(X, first, *, source, use_boxes, params, sub_levels, device):
    """:func:`_egm_image` for the chunk ``X`` (image ``first`` onwards), the maps of one
    shape detected together by :func:`egm_regions_batch`."""
    out = [None] * len(X)
    detect = {}  # image -> its saliency map, for the images without a box
    for i in range(len(X)):
        out[i] = _box_region(X, i, use_boxes)
        if out[i] is None:
            detect[i] = check_saliency_map(X.field(source)[i], index=first + i,
                                           shape=X.map_shape(i)[:2])
    found = map_by_shape(lambda maps: egm_regions_batch(maps, device=device, **params),
                         list(detect.values()))
    for i, regions in zip(detect, found):
        out[i] = regions if len(regions) else None
    if sub_levels:
        out = [None if r is None else _add_subregions(r, sub_levels) for r in out]
    return out


class EGMRegionDetector(MapTransformerMixin, BaseEstimator):
    """Detect salient regions on each image's saliency map by EGM (stages 2 and 7).

    A thin layer over :func:`egm_regions`. It reads the field ``saliency`` (written
    by :class:`FeatureSaliency` or :class:`ObjectSaliency`) and writes ``regions``.
    Defaults are the paper's FS.EGM values; the paper's OS.EGM values are
    ``rho=2, tau=0, sigma=2``.

    Parameters
    ----------
    rho : float, default=5.0
        Saliency exponent.
    tau : float, default=0.4
        Saliency threshold relative to the map maximum.
    sigma : float, default=2.5
        Scale of the sample Gaussians, in cells.
    purge : float, default=0.7
        Overlap-ratio threshold of the P-step (see :func:`egm_regions`).
    scale : float, default=sqrt(3)
        Box half-size in standard deviations.
    max_iter : int, default=50
        Maximum number of EGM iterations.
    sub_levels : int, default=0
        When positive, the R-MAC grid of that many scales is added inside every
        detected region (``sub_levels=2`` is the paper's OS.EGM-4).
    source : {"saliency", "feature_saliency"}, default="saliency"
        Which saliency field to detect on.
    use_boxes : bool, default=True
        An image that carries a box gets the box as its only region.
    %(device_parameters)s
    verbose : int, default=0
        Progress messages.

    Attributes
    ----------
    n_channels_ : int
        Channels of the maps seen in ``fit``.

    Notes
    -----
    An image whose saliency map is all zero (after thresholding) has no salient
    region: its region becomes the whole map and an ``EmptySaliencyWarning`` names
    the images concerned, so that every image still gets a finite descriptor.

    With a device, :func:`egm_regions_batch` replaces :func:`egm_regions`: the same
    boxes up to floating-point ties.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import FeatureSaliency, EGMRegionDetector
    >>> A = np.zeros((12, 16, 8), np.float32)
    >>> A[2:6, 3:9, :4] = 1.0
    >>> Xt = EGMRegionDetector().fit_transform(FeatureSaliency().fit_transform([A]))
    >>> Xt.field("regions")[0].tolist()
    [[2, 3, 6, 9]]
    """

    _required_fields = ("saliency",)
    _reads_maps = False

    _parameter_constraints = {
        **EGM_PARAMETERS,
        "sub_levels": [NonNegativeInt],
        "source": [StrOptions({"saliency", "feature_saliency"})],
        "use_boxes": ["boolean"],
        **DEVICE_PARAMETERS,
    }

    def __init__(self, rho=5.0, tau=0.4, sigma=2.5, purge=0.7, scale=float(np.sqrt(3.0)),
                 max_iter=50, sub_levels=0, source="saliency", use_boxes=True, device=None,
                 batch_size=256, n_jobs=None, verbose=0):
        self.rho = rho
        self.tau = tau
        self.sigma = sigma
        self.purge = purge
        self.scale = scale
        self.max_iter = max_iter
        self.sub_levels = sub_levels
        self.source = source
        self.use_boxes = use_boxes
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def transform(self, X):
        """Detect the regions of every image.

        Parameters
        ----------
        X : MapCollection
            With the field named by ``source``.

        Returns
        -------
        MapCollection
            ``X`` with the field ``regions`` set.
        """
        check_is_fitted(self)
        X = self._validate_collection(X, reset=False)
        X.field(self.source)  # a clear error now rather than in a worker
        regions = self._map_on_device(_egm_image, _egm_batch, X, source=self.source,
                                      use_boxes=self.use_boxes, params=self._egm_params(),
                                      sub_levels=self.sub_levels)
        empty = [i for i, r in enumerate(regions) if r is None]
        if empty:
            warnings.warn(
                f"{len(empty)} image(s) have an all-zero saliency map after thresholding "
                f"(tau={self.tau}); their region is the whole map: images {empty[:10]}"
                + (" ..." if len(empty) > 10 else "."),
                EmptySaliencyWarning, stacklevel=2)
            for i in empty:
                h, w = X.map_shape(i)[:2]
                regions[i] = whole_map_region(h, w)
        return X.with_fields(regions=regions)

    def _egm_params(self):
        """The EGM parameters (those of :func:`egm_regions`) as keyword arguments."""
        return {name: getattr(self, name) for name in EGM_PARAMETERS}


def _grid_image(X, i, index, *, use_boxes, levels, overlap, include_whole):
    box = X.box(i) if use_boxes else None  # the grid of the box, or of the whole map
    y0, x0, y1, x1 = (0, 0, *X.map_shape(i)[:2]) if box is None else box.tolist()
    grid = _uniform_regions(y1 - y0, x1 - x0, levels=levels, overlap=overlap,
                            include_whole=include_whole)
    return grid + np.array([y0, x0, y0, x0])


class UniformRegionDetector(MapTransformerMixin, BaseEstimator):
    """The R-MAC grid on every image: the Uniform baseline (stage 2).

    A thin layer over :func:`uniform_regions`; reads only the map shapes.

    Parameters
    ----------
    levels : int, default=3
        Number of scales.
    overlap : float, default=0.4
        Desired overlap of consecutive regions.
    include_whole : bool, default=False
        Also use the whole map as a region.
    use_boxes : bool, default=True
        An image that carries a box gets the grid laid inside the box.
    n_jobs : int, default=None
    verbose : int, default=0

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import UniformRegionDetector
    >>> Xt = UniformRegionDetector().fit_transform([np.ones((7, 7, 4), np.float32)])
    >>> len(Xt.field("regions")[0])
    14
    """

    _parameter_constraints = {
        **GRID_PARAMETERS,
        "use_boxes": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, levels=3, overlap=0.4, include_whole=False, use_boxes=True,
                 n_jobs=None, verbose=0):
        self.levels = levels
        self.overlap = overlap
        self.include_whole = include_whole
        self.use_boxes = use_boxes
        self.n_jobs = n_jobs
        self.verbose = verbose

    def transform(self, X):
        """Lay the grid on every image; returns ``X`` with the field ``regions``."""
        check_is_fitted(self)
        X = self._validate_collection(X, reset=False)
        regions = [
            _grid_image(X, i, i, use_boxes=self.use_boxes, levels=self.levels,
                        overlap=self.overlap, include_whole=self.include_whole)
            for i in range(len(X))
        ]
        return X.with_fields(regions=regions)


class WholeMapDetector(MapTransformerMixin, BaseEstimator):
    """One region per image, the whole map: the MAC baseline (stage 2).

    Parameters
    ----------
    use_boxes : bool, default=True
        An image that carries a box gets the box as its region.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import WholeMapDetector
    >>> WholeMapDetector().fit_transform([np.ones((3, 5, 2), np.float32)]).field("regions")[0].tolist()
    [[0, 0, 3, 5]]
    """

    _parameter_constraints = {"use_boxes": ["boolean"]}

    def __init__(self, use_boxes=True):
        self.use_boxes = use_boxes

    def transform(self, X):
        """One region per image; returns ``X`` with the field ``regions``."""
        check_is_fitted(self)
        X = self._validate_collection(X, reset=False)
        boxes = [_box_region(X, i, self.use_boxes) for i in range(len(X))]
        return X.with_fields(regions=[whole_map_region(*X.map_shape(i)[:2]) if box is None
                                      else box for i, box in enumerate(boxes)])
