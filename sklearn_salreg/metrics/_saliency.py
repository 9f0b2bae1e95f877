"""How much of a saliency map falls on the annotated objects (paper section 4.3)."""

import numpy as np

from ..collection import check_boxes, check_saliency_map

__all__ = ["saliency_precision"]


def saliency_precision(saliency_map, boxes):
    """Share of a saliency map's mass inside ground-truth boxes.

    ``sum(S inside the union of the boxes) / sum(S)``: pixels covered by several
    boxes are counted once.

    Parameters
    ----------
    saliency_map : array-like of shape (h, w)
        Non-negative saliency (e.g. a feature or object saliency map).
    boxes : array-like of int, shape (m, 4) or (4,)
        Ground-truth boxes ``[y0, x0, y1, x1)`` (half-open) in the coordinates of the
        map, each non-empty and inside the map. ``m`` may be 0.

    Returns
    -------
    precision : float
        In ``[0, 1]``. ``nan`` when the map is zero everywhere (there is no mass to
        place, so precision is undefined); average over images with
        :func:`numpy.nanmean`, or count such images separately.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.metrics import saliency_precision
    >>> S = np.zeros((4, 4)); S[1:3, 1:3] = 1.0; S[0, 0] = 4.0
    >>> saliency_precision(S, [[1, 1, 3, 3]])
    0.5
    >>> saliency_precision(S, [[1, 1, 3, 3], [1, 1, 2, 4]])  # overlap counted once
    0.5
    """
    S = check_saliency_map(saliency_map)
    boxes = check_boxes(boxes, S.shape, name="box") if np.size(boxes) else np.empty((0, 4), int)
    inside = np.zeros(S.shape, dtype=bool)
    for y0, x0, y1, x1 in boxes:
        inside[y0:y1, x0:x1] = True
    total = float(S.sum(dtype=np.float64))
    if total == 0.0:
        return float("nan")
    return float(S.sum(where=inside, dtype=np.float64) / total)
