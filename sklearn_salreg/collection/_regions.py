"""The regions of a collection stacked into arrays: the one stacking that the stages
reading regions (whitening, the region graph) share."""

import numpy as np

__all__ = ["stack_regions"]


def stack_regions(X, saliency=False):
    """All region descriptors of a collection as one array, image after image.

    Parameters
    ----------
    X : MapCollection
        With the field ``region_descriptors`` (and ``region_saliency`` if
        ``saliency``).
    saliency : bool, default=False
        Also stack the field ``region_saliency`` (one value per region).

    Returns
    -------
    Z : ndarray of shape (n_regions, c), float32
    image_index : ndarray of shape (n_regions,), int64
        The image of each region.
    counts : ndarray of shape (n_images,), int64
        Regions per image.
    f : ndarray of shape (n_regions,), float32
        Only if ``saliency``: the regions' saliency.

    Raises
    ------
    ValueError
        Naming the image whose regions do not match the others' width (or their
        saliency), or hold NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.collection import MapCollection, stack_regions
    >>> X = MapCollection([np.zeros((2, 2, 3))] * 2).with_fields(
    ...     region_descriptors=[np.ones((2, 3)), np.zeros((1, 3))])
    >>> Z, image_index, counts = stack_regions(X)
    >>> Z.shape, image_index.tolist(), counts.tolist()
    ((3, 3), [0, 0, 1], [2, 1])
    """
    per_image = [np.asarray(Z) for Z in X.field("region_descriptors")]
    f = [np.asarray(s) for s in X.field("region_saliency")] if saliency else None
    for i, Z in enumerate(per_image):
        if Z.ndim != 2 or Z.shape[1] != per_image[0].shape[1]:
            raise ValueError(
                f"image {i}: region descriptors must be (m_i, {per_image[0].shape[1]}) like "
                f"those of image 0; got shape {Z.shape}.")
        if saliency and f[i].shape != (len(Z),):
            raise ValueError(
                f"image {i}: region descriptors of shape {Z.shape} and region saliency of "
                f"shape {f[i].shape} do not match: expected (m, {Z.shape[1]}) and (m,).")
    counts = np.array([len(Z) for Z in per_image], dtype=np.int64)
    image_index = np.repeat(np.arange(len(per_image)), counts)
    Z = np.concatenate(per_image).astype(np.float32, copy=False)
    if not np.isfinite(Z).all():
        bad = int(image_index[np.flatnonzero(~np.isfinite(Z).all(axis=1))[0]])
        raise ValueError(f"image {bad}: region descriptors contain NaN or inf.")
    if saliency:
        return Z, image_index, counts, np.concatenate(f).astype(np.float32)
    return Z, image_index, counts
