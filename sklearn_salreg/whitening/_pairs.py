"""Matching pairs for supervised whitening, drawn from labels.

Vectors sharing a label match. For plain descriptors every same-label pair is used,
or a uniform random subset of ``max_pairs`` of them when there are more. For the
regions of labelled images (inside a descriptor pipeline) two regions match when
they lie in different images of the same label and each is the other's most similar
region among such images (mutual nearest regions): same-label images show the same
object, and a region's best counterpart in another view of it is most likely the
same part, whereas most other region pairs of those images are clutter.

Numeric labels below zero mark distractors, as in :func:`sklearn_salreg.metrics.label_gnd`:
they show no common object and match nothing, not even each other.
"""

import numpy as np

from ..metrics import is_distractor  # the one definition of a distractor

__all__ = ["mutual_neighbor_pairs", "pairs_from_labels", "region_pairs_from_labels"]

# Rows of the similarity matrix of one label group computed at a time.
_SIM_BLOCK = 2048


def _subsample(pairs, max_pairs, rng):
    if max_pairs is None or len(pairs) <= max_pairs:
        return pairs
    return pairs[np.sort(rng.choice(len(pairs), size=max_pairs, replace=False))]


def pairs_from_labels(labels, *, max_pairs=None, random_state=None):
    """Index pairs ``(i, j)``, ``i < j``, of equal labels.

    All pairs when there are at most ``max_pairs`` (or ``max_pairs`` is None);
    otherwise ``max_pairs`` pairs drawn uniformly at random, with replacement,
    without ever listing all of them (a label shared by 10^5 vectors has 5 10^9).

    Negative numeric labels (distractors) match nothing.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Object label of each vector.
    max_pairs : int, default=None
        Draw this many pairs when there are more; None keeps them all.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64

    Examples
    --------
    >>> from sklearn_salreg.whitening import pairs_from_labels
    >>> pairs_from_labels([0, 1, 0, -1, -1, 0]).tolist()
    [[0, 2], [0, 5], [2, 5]]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    kept = np.flatnonzero(~is_distractor(labels))
    _, inverse, counts = np.unique(labels[kept], return_inverse=True, return_counts=True)
    members = kept[np.argsort(inverse, kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_group = counts * (counts - 1) // 2
    total = int(per_group.sum())
    if total == 0:
        return np.empty((0, 2), dtype=np.int64)
    if max_pairs is None or total <= max_pairs:
        # Enumerate: every group's upper triangle, mapped to original rows.
        out = []
        for g in np.flatnonzero(counts > 1):
            a, b = np.triu_indices(counts[g], k=1)
            rows = members[starts[g] : starts[g] + counts[g]]
            out.append(np.stack([rows[a], rows[b]], axis=1))
        pairs = np.concatenate(out).astype(np.int64)
        return np.sort(pairs, axis=1)
    # Sample: a group in proportion to its pair count, then two distinct members.
    groups = rng.choice(len(counts), size=max_pairs, p=per_group / total)
    a = rng.integers(0, counts[groups])
    b = rng.integers(0, counts[groups] - 1)
    b = b + (b >= a)  # distinct from a, still uniform
    pairs = np.stack([members[starts[groups] + a], members[starts[groups] + b]], axis=1)
    return np.sort(pairs, axis=1).astype(np.int64)


def region_pairs_from_labels(Z, image_index, image_labels, *, max_pairs=None, random_state=None):
    """Mutual nearest regions across different images of the same label.

    Parameters
    ----------
    Z : ndarray of shape (n_regions, c)
        L2-normalised region descriptors of all images, stacked.
    image_index : ndarray of shape (n_regions,)
        Image of each region.
    image_labels : array-like of shape (n_images,)
        Label of each image; negative numeric labels (distractors) match nothing.
    max_pairs : int, default=None
        Keep a uniform random subset of at most this many pairs.
    random_state : int, RandomState instance or None, default=None
        Seed of that subset.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        Row indices into ``Z``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.whitening import region_pairs_from_labels
    >>> Z = np.eye(3, dtype=np.float32)[[0, 1, 0, 2]]  # regions of images 0, 0, 1, 1
    >>> region_pairs_from_labels(Z, np.array([0, 0, 1, 1]), image_labels=[7, 7]).tolist()
    [[0, 2]]
    """
    rng = np.random.default_rng(random_state)
    region_labels = np.asarray(image_labels)[image_index]
    _, inverse = np.unique(region_labels, return_inverse=True)
    distractor = is_distractor(region_labels)
    found = []
    for g in range(inverse.max() + 1 if len(inverse) else 0):
        rows = np.flatnonzero(inverse == g)
        if distractor[rows].any() or len(np.unique(image_index[rows])) < 2:
            continue
        found.append(rows[_mutual_nearest(Z[rows], image_index[rows])])
    pairs = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    return _subsample(pairs.astype(np.int64), max_pairs, rng)


def _mutual_nearest(Z, image_index):
    """Pairs ``(i, j)``, ``i < j``, of rows that are each other's most similar row in
    another image (by dot product), as an (n_pairs, 2) int64 array."""
    n = len(Z)
    nearest = np.full(n, -1, dtype=np.int64)
    for lo in range(0, n, _SIM_BLOCK):
        S = Z[lo : lo + _SIM_BLOCK] @ Z.T
        S[image_index[lo : lo + _SIM_BLOCK, None] == image_index[None, :]] = -np.inf
        best = S.argmax(axis=1)
        found = np.isfinite(S[np.arange(len(S)), best])  # a row alone in its image has none
        nearest[lo : lo + _SIM_BLOCK] = np.where(found, best, -1)
    rows = np.flatnonzero(nearest >= 0)
    rows = rows[(nearest[nearest[rows]] == rows) & (rows < nearest[rows])]  # mutual, once
    return np.stack([rows, nearest[rows]], axis=1).astype(np.int64)


def mutual_neighbor_pairs(Z, image_index=None, *, max_pairs=None, random_state=None):
    """Matching pairs found without labels: mutual nearest neighbours across images.

    Two vectors are paired when each is the other's most similar vector (dot product)
    among the vectors of the *other* images. In a collection where objects recur,
    such pairs are mostly two views of the same part of an object, the pairs that
    labels would give (:func:`region_pairs_from_labels`): the region graph of object
    discovery links the same neighbours. The search is exact, ``n^2 c`` work in blocks
    of rows.

    Parameters
    ----------
    Z : ndarray of shape (n, c)
        Vectors, compared by dot product (L2-normalise, and whiten, them first).
    image_index : array-like of shape (n,), default=None
        Image of each vector; vectors of one image are never paired. None: every vector
        is its own image.
    max_pairs : int, default=None
        Keep a uniform random subset of at most this many pairs.
    random_state : int, RandomState instance or None, default=None
        Seed of that subset.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        Row indices into ``Z``, ``i < j`` in each pair.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.whitening import mutual_neighbor_pairs
    >>> Z = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.28, 0.96]])
    >>> mutual_neighbor_pairs(Z).tolist()
    [[0, 1], [2, 3]]
    >>> mutual_neighbor_pairs(Z, image_index=[0, 0, 1, 1]).tolist()  # across images only
    [[1, 3]]
    """
    Z = np.asarray(Z)
    if Z.ndim != 2:
        raise ValueError(f"Z must be a 2-D array of vectors; got shape {Z.shape}.")
    image_index = np.arange(len(Z)) if image_index is None else np.asarray(image_index).ravel()
    if image_index.shape != (len(Z),):
        raise ValueError(f"image_index has {image_index.size} entries for {len(Z)} vectors.")
    pairs = _mutual_nearest(Z, image_index) if len(Z) > 1 else np.empty((0, 2), np.int64)
    return _subsample(pairs, max_pairs, np.random.default_rng(random_state))
