"""Multi-scale description: one fitted pipeline, the image seen at several scales.

Retrieval practice describes an image at several scales (e.g. 1, 1/sqrt(2) and 1/2 of
its size) and sums the L2-normalised descriptors. Here each scale is a collection of
activation maps of the same images, extracted at a smaller input size
(:class:`~sklearn_salreg.extraction.ActivationExtractor` with ``max_side`` scaled). The
pipeline is fitted once, on the first scale (object discovery on the database at full
size); every scale is then described by it, and the descriptors summed.
"""

import numpy as np

from .utils import l2_normalize

__all__ = ["SCALES", "multiscale_transform"]

#: The scales of the input image that retrieval practice sums.
SCALES = (1.0, float(1 / np.sqrt(2)), 0.5)


def multiscale_transform(estimator, collections, weights=None):
    """The L2-normalised sum of ``estimator.transform`` over the scales of the images.

    Parameters
    ----------
    estimator : fitted transformer
        A descriptor pipeline (maps to ``(n, d)`` descriptors), fitted on the first scale.
    collections : sequence of MapCollection
        The same images (in the same order, with the same query boxes in their own map
        coordinates) at each scale.
    weights : sequence of float, default=None
        Weight of each scale in the sum; equal weights by default.

    Returns
    -------
    Y : ndarray of shape (n_images, d), float32
        Unit-norm rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.multiscale import multiscale_transform
    >>> from sklearn_salreg.pipelines import make_mac
    >>> rng = np.random.default_rng(0)
    >>> big = [rng.random((8, 10, 4), dtype=np.float32) for _ in range(3)]
    >>> small = [A[::2, ::2] for A in big]
    >>> mac = make_mac().fit(big)
    >>> multiscale_transform(mac, [big, small]).shape
    (3, 4)
    """
    collections = list(collections)
    if not collections:
        raise ValueError("collections must hold at least one scale.")
    n = len(collections[0])
    for s, X in enumerate(collections):
        if len(X) != n:
            raise ValueError(f"scale {s} holds {len(X)} images; scale 0 holds {n}.")
    if weights is None:
        weights = np.ones(len(collections))
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(collections),) or not np.isfinite(weights).all():
        raise ValueError(f"weights must be {len(collections)} finite numbers, one per scale; "
                         f"got {weights!r}.")
    total = None
    for w, X in zip(weights, collections):
        Y = l2_normalize(np.asarray(estimator.transform(X), dtype=np.float32))
        total = w * Y if total is None else total + w * Y
    return l2_normalize(total.astype(np.float32))
