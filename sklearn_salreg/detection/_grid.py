"""Regions that ignore the content: the R-MAC grid and the whole map (MAC).

R-MAC regions (Tolias, Sicre, Jegou, ICLR 2016).
"""

from numbers import Real

import numpy as np

from ..utils._param_validation import Interval, PositiveInt, check_params

__all__ = ["uniform_regions", "whole_map_region", "GRID_PARAMETERS"]

#: Constraints of the parameters of :func:`uniform_regions`, shared with
#: :class:`~sklearn_salreg.UniformRegionDetector`.
GRID_PARAMETERS = {
    "levels": [PositiveInt],
    "overlap": [Interval(Real, 0, 1, closed="neither")],
    "include_whole": ["boolean"],
}

# Candidate numbers of regions along the long side at the coarsest level.
_LONG_SIDE_COUNTS = np.arange(2, 8)


def _extra_long_side_regions(h, w, overlap):
    """How many more regions the long side gets than the short side at every level.

    At the coarsest level squares of side min(h, w) are laid along the long side; the
    count is chosen so that consecutive squares overlap by about ``overlap``.
    """
    if h == w:
        return 0
    side = min(h, w)
    step = (max(h, w) - side) / (_LONG_SIDE_COUNTS - 1)
    achieved = (side**2 - side * step) / side**2
    return int(np.argmin(np.abs(achieved - overlap))) + 1


def _starts(length, side, count):
    """Start coordinates of ``count`` windows of ``side`` spread evenly over ``length``."""
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    step = (length - side) / (count - 1)
    half = np.floor(side / 2 - 1)
    return (np.floor(half + np.arange(count) * step) - half).astype(np.int64)


def uniform_regions(h, w, levels=3, overlap=0.4, include_whole=False):
    """The R-MAC grid of square regions on an ``h x w`` map.

    At level ``l = 1 .. levels`` the squares have side ``floor(2 min(h, w) / (l + 1))``;
    ``l`` of them lie along the short side and ``l + e`` along the long side, where
    ``e`` (the same at every level) makes neighbouring squares of the first level
    overlap by about ``overlap``.

    Parameters
    ----------
    h, w : int >= 1
        Spatial size of the map.
    levels : int >= 1, default=3
        Number of scales ``L``.
    overlap : float in (0, 1), default=0.4
        Desired overlap of consecutive regions along the long side.
    include_whole : bool, default=False
        Also return the whole map as the first region (as cnnimageretrieval-pytorch
        does; Tolias et al. do not).

    Returns
    -------
    boxes : ndarray of shape (m, 4), dtype int64
        ``[y0, x0, y1, x1)``, level by level, row-major within a level.

    Examples
    --------
    >>> from sklearn_salreg import uniform_regions
    >>> len(uniform_regions(7, 7)), uniform_regions(7, 7)[0].tolist()
    (14, [0, 0, 7, 7])
    """
    check_params(dict(GRID_PARAMETERS, h=[PositiveInt], w=[PositiveInt]), "uniform_regions",
                 h=h, w=w, levels=levels, overlap=overlap, include_whole=include_whole)
    return _uniform_regions(h, w, levels, overlap, include_whole)


def _uniform_regions(h, w, levels=3, overlap=0.4, include_whole=False):
    """:func:`uniform_regions` with checked parameters (the detector's, checked in fit;
    its map sizes come from validated maps)."""
    h, w, levels = int(h), int(w), int(levels)
    extra = _extra_long_side_regions(h, w, overlap)
    extra_y, extra_x = (extra, 0) if h > w else (0, extra)
    boxes = [np.array([[0, 0, h, w]], dtype=np.int64)] if include_whole else []
    for level in range(1, levels + 1):
        side = int(np.floor(2 * min(h, w) / (level + 1)))
        if side == 0:
            continue
        ys = _starts(h, side, level + extra_y)
        xs = _starts(w, side, level + extra_x)
        y0, x0 = np.meshgrid(ys, xs, indexing="ij")
        y0, x0 = y0.ravel(), x0.ravel()
        boxes.append(np.stack([y0, x0, y0 + side, x0 + side], axis=1))
    return np.concatenate(boxes, axis=0)


def whole_map_region(h, w):
    """The single region ``[0, 0, h, w)`` of MAC, as an array of shape (1, 4).

    Examples
    --------
    >>> from sklearn_salreg.detection import whole_map_region
    >>> whole_map_region(3, 5).tolist()
    [[0, 0, 3, 5]]
    """
    return np.array([[0, 0, int(h), int(w)]], dtype=np.int64)
