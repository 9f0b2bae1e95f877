"""How a query is described from its box: the levers of the box protocol.

INSTRE's queries (and Oxford's) come with a box around the object. The paper lets the
box replace detection: the query's one region is the box. :func:`query_box_regions`
gives the other ways to describe a box that the quality report searches, and
:class:`BoxQueryEGMDetector` is the final OS.EGM detector with them as parameters, so
that a grid search under the box protocol chooses among them (images without a box,
the database, are detected exactly as by :class:`EGMRegionDetector`).
"""

from numbers import Integral

import numpy as np

from ..collection import check_saliency_map
from ..utils._param_validation import Interval, StrOptions
from ._detectors import EGMRegionDetector, add_subregions
from ._egm import egm_regions

__all__ = ["BoxQueryEGMDetector", "QUERY_REGIONS", "query_box_regions"]

#: The ways of describing a query box: ``"box"`` the box alone (the paper), ``"detect"``
#: the regions EGM finds on the saliency map inside the box (the box if none),
#: ``"box+detect"`` both, ``"grid"`` the box and the R-MAC grid inside it (the query
#: side of OS.EGM-4).
QUERY_REGIONS = ("box", "detect", "box+detect", "grid")


def query_box_regions(S, box, how="box", *, levels=2, **egm_params):
    """The regions that describe a query from its ``box``.

    Parameters
    ----------
    S : array-like of shape (h, w)
        The query image's saliency map (read for ``"detect"`` and ``"box+detect"``).
    box : array-like of shape (4,)
        ``[y0, x0, y1, x1)`` in map cells, inside ``S``.
    how : {"box", "detect", "box+detect", "grid"}, default="box"
        See :data:`QUERY_REGIONS`.
    levels : int, default=2
        Scales of the R-MAC grid inside the box, for ``"grid"``.
    **egm_params
        Parameters of :func:`~sklearn_salreg.detection.egm_regions`.

    Returns
    -------
    regions : ndarray of shape (m, 4), int64
        Inside the box; the box first where it is kept.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.detection import query_box_regions
    >>> S = np.zeros((10, 12), np.float32)
    >>> S[3:5, 6:9] = 1.0
    >>> query_box_regions(S, [1, 4, 9, 11], "detect").tolist()
    [[3, 6, 5, 9]]
    >>> query_box_regions(S, [1, 4, 9, 11], "grid").shape[1]
    4
    """
    if how not in QUERY_REGIONS:
        raise ValueError(f"how must be one of {QUERY_REGIONS}; got {how!r}.")
    S = np.asarray(S)
    y0, x0, y1, x1 = (int(v) for v in np.asarray(box).ravel()[:4])
    if not (0 <= y0 < y1 <= S.shape[0] and 0 <= x0 < x1 <= S.shape[1]):
        raise ValueError(f"box {[y0, x0, y1, x1]} is not a non-empty box inside the "
                         f"saliency map of shape {S.shape}.")
    whole = np.array([[y0, x0, y1, x1]], dtype=np.int64)
    if how == "box":
        return whole
    if how == "grid":
        return add_subregions(whole, levels)
    inside = S[y0:y1, x0:x1]
    found = (egm_regions(inside, **egm_params) if inside.max(initial=0) > 0
             else np.zeros((0, 4), np.int64))
    found = np.asarray(found, dtype=np.int64).reshape(-1, 4) + np.array([y0, x0, y0, x0])
    if how == "detect":
        return found if len(found) else whole
    _, first = np.unique(np.concatenate([whole, found]), axis=0, return_index=True)
    return np.concatenate([whole, found])[np.sort(first)]


class BoxQueryEGMDetector(EGMRegionDetector):
    """EGM detection, with a choice of how an image's box (a query) is described.

    Images without a box are detected as by :class:`EGMRegionDetector`. An image with a
    box (``use_boxes=True``) gets the regions of :func:`query_box_regions` with
    ``how=query_regions``; ``query_regions="box"`` is :class:`EGMRegionDetector`'s
    behaviour (the box alone, plus the ``sub_levels`` grid inside it).

    Parameters
    ----------
    query_regions : {"box", "detect", "box+detect", "grid"}, default="box"
        How a box is described (see :data:`QUERY_REGIONS`); the detection inside the
        box uses this detector's EGM parameters.
    query_levels : int, default=2
        Scales of the grid inside the box for ``query_regions="grid"``.
    **params
        Those of :class:`EGMRegionDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import FeatureSaliency, MapCollection
    >>> from sklearn_salreg.detection import BoxQueryEGMDetector
    >>> A = np.zeros((12, 16, 8), np.float32)
    >>> A[2:6, 3:9, :4] = 1.0
    >>> X = FeatureSaliency().fit_transform(MapCollection([A], boxes=[[0, 0, 10, 12]]))
    >>> det = BoxQueryEGMDetector(query_regions="detect").fit(X)
    >>> det.transform(X).field("regions")[0].tolist()
    [[2, 3, 6, 9]]
    """

    _parameter_constraints = {
        **EGMRegionDetector._parameter_constraints,
        "query_regions": [StrOptions(set(QUERY_REGIONS))],
        "query_levels": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, rho=5.0, tau=0.4, sigma=2.5, purge=0.7, scale=float(np.sqrt(3.0)),
                 max_iter=50, sub_levels=0, source="saliency", use_boxes=True, device=None,
                 batch_size=256, n_jobs=None, verbose=0, query_regions="box", query_levels=2):
        super().__init__(rho=rho, tau=tau, sigma=sigma, purge=purge, scale=scale,
                         max_iter=max_iter, sub_levels=sub_levels, source=source,
                         use_boxes=use_boxes, device=device, batch_size=batch_size,
                         n_jobs=n_jobs, verbose=verbose)
        self.query_regions = query_regions
        self.query_levels = query_levels

    def transform(self, X):
        """Detect the regions of every image; see the class docstring.

        Parameters
        ----------
        X : MapCollection
            With the field named by ``source``.

        Returns
        -------
        MapCollection
            ``X`` with the field ``regions`` set.
        """
        Xt = super().transform(X)
        if self.query_regions == "box" or not self.use_boxes:
            return Xt
        params = self._egm_params()
        regions = list(Xt.field("regions"))
        for i in range(len(Xt)):
            box = Xt.box(i)
            if box is None:
                continue
            S = check_saliency_map(Xt.field(self.source)[i], index=i, shape=Xt.map_shape(i)[:2])
            found = query_box_regions(S, box, self.query_regions, levels=self.query_levels,
                                      **params)
            regions[i] = add_subregions(found, self.sub_levels) if self.sub_levels else found
        return Xt.with_fields(regions=regions)
