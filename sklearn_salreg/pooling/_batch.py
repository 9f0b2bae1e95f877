"""Region pooling of many maps of one shape at once, in torch on a chosen device.

The batched counterpart of :func:`region_max_pool`, :func:`region_sum_pool` and
:func:`saliency_weighted_map`, for the estimators' ``device`` parameter: the maps
of a batch go to the device once and every region of every map is pooled there.

Why a second implementation: it is for GPUs. On the CPU the NumPy functions are
faster at both map sizes of ``benchmarks/bench_per_image.py``, so ``device=None``
never comes here; on a GPU the copy of each map to the device costs about as much
as the pooling (figures on the docs' benchmarks page). The doctest of
:func:`region_pool_batch` and ``tests/test_pooling.py`` pin it to the NumPy
functions: the same descriptors, bit for bit for max pooling.
"""

import numpy as np
import torch

from ..collection import check_boxes, check_map, check_saliency_map
from ..collection._validation import check_same_shape
from ..utils import check_device

__all__ = ["region_pool_batch"]


def _box_masks(regions, h, w, device):
    """(n_maps, m, h * w) 0/1 masks of the boxes, padded with empty boxes to the
    largest count ``m``; also the counts."""
    counts = [len(b) for b in regions]
    m = max(counts + [1])
    padded = np.zeros((len(regions), m, 4), dtype=np.int64)  # [0, 0, 0, 0): empty
    for i, b in enumerate(regions):
        padded[i, :len(b)] = b
    B = torch.as_tensor(padded, device=device)
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    inside_y = (rows >= B[..., 0, None]) & (rows < B[..., 2, None])  # (n, m, h)
    inside_x = (cols >= B[..., 1, None]) & (cols < B[..., 3, None])  # (n, m, w)
    masks = inside_y[..., :, None] & inside_x[..., None, :]
    return masks.reshape(len(regions), m, h * w), counts


def region_pool_batch(maps, regions, *, pooling="max", saliency=None, exponent=0.0, device="cpu"):
    """Pool the regions of many activation maps of one shape at once, in torch.

    For each map ``A_i`` with boxes ``regions[i]``: :func:`region_max_pool` or
    :func:`region_sum_pool` of ``A_i``, or of
    :func:`saliency_weighted_map` ``(A_i, saliency[i], exponent)`` when an exponent
    is given, all computed on ``device``.

    Parameters
    ----------
    maps : sequence of array-like of shape (h, w, c)
        Non-negative activation maps, all of one shape.
    regions : sequence of array-like of shape (m_i, 4)
        Boxes ``[y0, x0, y1, x1)`` of each map.
    pooling : {"max", "sum"}, default="max"
    saliency : sequence of array-like of shape (h, w), default=None
        Saliency maps for the weighting; needed when ``exponent`` is not 0.
    exponent : float, default=0.0
    device : str or torch.device, default="cpu"

    Returns
    -------
    list of ndarray of shape (m_i, c), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.pooling import region_max_pool, region_pool_batch
    >>> rng = np.random.default_rng(0)
    >>> maps = [rng.random((6, 8, 4), dtype=np.float32) for _ in range(3)]
    >>> regions = [[[0, 0, 3, 4]], [[1, 1, 6, 8], [0, 0, 1, 1]], [[2, 3, 4, 5]]]
    >>> pooled = region_pool_batch(maps, regions)
    >>> all(np.array_equal(Z, region_max_pool(A, b)) for Z, A, b in zip(pooled, maps, regions))
    True
    """
    if pooling not in ("max", "sum"):
        raise ValueError(f'pooling must be "max" or "sum"; got {pooling!r}.')
    if len(regions) != len(maps):
        raise ValueError(f"got {len(regions)} region sets for {len(maps)} maps.")
    if exponent and (saliency is None or len(saliency) != len(maps)):
        raise ValueError("a saliency exponent needs one saliency map per activation map.")
    maps = [check_map(A, index=i) for i, A in enumerate(maps)]
    if not maps:
        return []
    check_same_shape(maps)
    shape = maps[0].shape
    regions = [check_boxes(b, shape[:2], index=i, name="region") for i, b in enumerate(regions)]
    weights = None
    if exponent:
        weights = [check_saliency_map(S, index=i, shape=shape[:2]) for i, S in enumerate(saliency)]
    return _region_pool_batch(maps, regions, pooling, weights, exponent,
                              check_device(device, "region_pool_batch"))


def _region_pool_batch(maps, regions, pooling, saliency, exponent, device):
    """:func:`region_pool_batch` of maps, boxes and saliency maps already validated."""
    n = len(maps)
    h, w, c = maps[0].shape
    A = torch.as_tensor(np.stack(maps), device=device).reshape(n, h * w, c)
    if exponent and saliency is not None:
        S = torch.as_tensor(np.stack(saliency), dtype=torch.float64, device=device).reshape(n, -1)
        top = S.amax(dim=1, keepdim=True)
        # an all-zero saliency map leaves its activations unweighted
        scale = torch.where(top > 0, (S / torch.where(top > 0, top, 1.0)) ** exponent, 1.0)
        A = A * scale.to(torch.float32)[..., None]
    masks, counts = _box_masks(regions, h, w, device)
    if pooling == "sum":
        Z = torch.bmm(masks.to(torch.float32), A)
    else:
        # Activations are non-negative, so zeroing the outside of a (non-empty) box
        # leaves its maximum unchanged: one masked max per box slot of the batch.
        Z = torch.stack([(A * masks[:, k, :, None]).amax(dim=1)
                         for k in range(masks.shape[1])], dim=1)
    Z = Z.cpu().numpy()
    return [Z[i, :counts[i]].astype(np.float32, copy=False) for i in range(n)]
