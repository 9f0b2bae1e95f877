"""Synthetic activation maps for tests and benchmarks.

Real-looking in the ways that matter to the method: ReLU-sparse, blob-structured,
non-negative float32, and (for :func:`make_object_maps`) small objects that recur
across images on top of clutter that does not.
"""

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_blob_maps", "make_maps", "make_object_maps"]


def _pattern(rng, size, n_channels, density):
    """A spatial pattern (size, size, c): a few active channels with a smooth profile."""
    active = rng.random(n_channels) < density
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    profile = np.exp(-0.5 * (yy**2 + xx**2) / max(size / 2.5, 0.5) ** 2)
    amplitude = rng.gamma(2.0, 1.0, n_channels) * active
    return (profile[:, :, None] * amplitude[None, None, :]).astype(np.float32)


def _paste(A, P, y, x):
    h, w = P.shape[:2]
    np.maximum(A[y:y + h, x:x + w], P, out=A[y:y + h, x:x + w])


def _scatter(A, rng, count, sizes, density, strength=1.0):
    """Paste ``count`` random patterns (sides drawn from ``sizes``) at random places."""
    h, w, c = A.shape
    for _ in range(count):
        size = int(rng.integers(*sizes))
        _paste(A, _pattern(rng, size, c, density) * strength,
               rng.integers(0, h - size + 1), rng.integers(0, w - size + 1))


def _background(rng, h, w, c, sparsity):
    noise = rng.standard_normal((h, w, c), dtype=np.float32)
    return np.maximum(noise - sparsity, 0.0) * 0.3


def make_blob_maps(n_maps=100, shape=(24, 32), n_channels=512, n_blobs=(3, 8), sparsity=1.5,
                   random_state=None):
    """ReLU-sparse maps with blobs of activity: the input of the per-image benchmarks.

    Parameters
    ----------
    n_maps : int, default=100
        Number of maps.
    shape : (h, w), default=(24, 32)
        Spatial size of every map (the activation grid of a 384 x 512 image at stride 16).
    n_channels : int, default=512
        Channels of every map.
    n_blobs : (low, high), default=(3, 8)
        Number of blobs per map is drawn in ``[low, high)``.
    sparsity : float
        Background is ``max(N(0, 1) - sparsity, 0)``: 1.5 leaves about 7 % non-zero.
    random_state : int, RandomState instance or None, default=None
        Seed of the maps.

    Returns
    -------
    list of ndarray of shape (h, w, n_channels), float32

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_blob_maps
    >>> maps = make_blob_maps(n_maps=3, shape=(6, 8), n_channels=16, random_state=0)
    >>> len(maps), maps[0].shape, maps[0].dtype, bool((maps[0] >= 0).all())
    (3, (6, 8, 16), dtype('float32'), True)
    """
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    h, w = shape
    maps = []
    for _ in range(n_maps):
        A = _background(rng, h, w, n_channels, sparsity)
        _scatter(A, rng, rng.integers(*n_blobs), (2, max(3, min(h, w) // 3)), 0.1)
        maps.append(A)
    return maps


def make_object_maps(n_objects=8, n_views=6, n_distractors=16, shape=(24, 32), n_channels=128,
                     object_size=(4, 6), n_clutter=(3, 6), clutter_strength=1.2, noise=0.15,
                     random_state=None):
    """Small objects that recur across images, pasted among clutter that does not.

    Every image gets ``n_clutter`` patterns seen nowhere else, as strong as the object
    (``clutter_strength``), so that per-image saliency cannot tell them apart; object
    images also get one view of their object (its pattern with multiplicative noise,
    at a random place). Distractor images have clutter only. The region graph of
    object discovery should find the objects (:doc:`/user_guide/region_graph`).

    Parameters
    ----------
    n_objects : int, default=8
        Number of distinct objects.
    n_views : int, default=6
        Images of each object.
    n_distractors : int, default=16
        Images without object (label -1).
    shape : (h, w), default=(24, 32)
        Spatial size of every map.
    n_channels : int, default=128
        Channels of every map.
    object_size : (low, high), default=(4, 6)
        Side of an object's square pattern, in cells, drawn in ``[low, high)``.
    n_clutter : (low, high), default=(3, 6)
        Number of clutter patterns per image, drawn in ``[low, high)``.
    clutter_strength : float, default=1.2
        Scale of the clutter patterns relative to the objects.
    noise : float, default=0.15
        Standard deviation of the log-normal noise that multiplies each view of an object.
    random_state : int, RandomState instance or None, default=None
        Seed of the maps.

    Returns
    -------
    maps : list of ndarray (h, w, n_channels), float32
    labels : ndarray of shape (n_images,)
        Object id, -1 for distractors.
    boxes : list of ndarray (1, 4) or (0, 4)
        The object's box ``[y0, x0, y1, x1)`` in map coordinates.

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_object_maps
    >>> maps, labels = make_object_maps(n_objects=2, n_views=3, n_distractors=2, n_channels=16,
    ...                                 random_state=0)[:2]
    >>> len(maps), maps[0].shape, labels.tolist()
    (8, (24, 32, 16), [1, 1, -1, 1, 0, 0, -1, 0])
    """
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    h, w = shape
    objects = [_pattern(rng, int(rng.integers(*object_size)), n_channels, 0.15)
               for _ in range(n_objects)]
    labels = np.concatenate([np.repeat(np.arange(n_objects), n_views), np.full(n_distractors, -1)])
    rng.shuffle(labels)
    maps, boxes = [], []
    for label in labels:
        A = _background(rng, h, w, n_channels, 1.5)
        _scatter(A, rng, rng.integers(*n_clutter), (object_size[0], object_size[1] + 2), 0.15,
                 clutter_strength)
        if label >= 0:
            P = objects[label] * rng.lognormal(0.0, noise, objects[label].shape).astype(np.float32)
            size = P.shape[0]
            y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            A[y:y + size, x:x + size] = P + 0.1 * A[y:y + size, x:x + size]
            boxes.append(np.array([[y, x, y + size, x + size]]))
        else:
            boxes.append(np.zeros((0, 4), dtype=np.int64))
        maps.append(A.astype(np.float32))
    return maps, labels, boxes


def make_maps(n_maps=6, n_channels=16, random_state=0):
    """Small ReLU-sparse maps of different spatial sizes with one bright blob each.

    The maps of the estimator checks (:mod:`sklearn_salreg.utils.estimator_checks`):
    sizes from 6 to 13 cells per side, so that every stage meets maps of several shapes.

    Parameters
    ----------
    n_maps : int, default=6
        Number of maps.
    n_channels : int, default=16
        Channels of every map; the blob lights the first half.
    random_state : int, default=0
        Seed of the maps.

    Returns
    -------
    maps : list of ndarray of shape (h_i, w_i, n_channels), float32

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_maps
    >>> [A.shape for A in make_maps(n_maps=3, n_channels=4)]
    [(12, 11, 4), (9, 11, 4), (11, 6, 4)]
    """
    rng = np.random.default_rng(random_state)
    maps = []
    for _ in range(n_maps):
        h, w = rng.integers(6, 14), rng.integers(6, 14)
        A = np.maximum(rng.standard_normal((h, w, n_channels)) - 1.0, 0.0)
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        A[y:y + 3, x:x + 3, : n_channels // 2] += 2.0
        maps.append(A.astype(np.float32))
    return maps
