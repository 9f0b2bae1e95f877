"""Checks on one activation map, one box set, one saliency map.

Every check raises a ``ValueError`` that names the image index and the shapes
involved, so that a bad map in a collection of thousands can be found.
"""

import numpy as np

__all__ = ["check_map", "check_saliency_map", "check_boxes", "as_numpy"]


def as_numpy(array):
    """Return ``array`` as a numpy array without copying numpy input.

    Torch tensors (on any device) are detached and moved to the CPU.
    """
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "detach") and hasattr(array, "cpu"):  # a torch tensor
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _where(index):
    return "" if index is None else f"image {index}: "


def check_map(A, index=None, n_channels=None, *, return_max=False):
    """Validate one activation map and return it as float32 (h, w, c).

    Parameters
    ----------
    A : array-like of shape (h, w, c)
        Non-negative activations (the output of a ReLU).
    index : int, default=None
        Position of the map in its collection, quoted in error messages.
    n_channels : int, default=None
        Expected number of channels ``c`` (e.g. the number seen during fit).
    return_max : bool, default=False
        Also return the map's maximum, which the check computes anyway.

    Returns
    -------
    A : ndarray of shape (h, w, c), dtype float32
        The input itself when it is already float32; never modified.
    max : float32
        The largest activation; only when ``return_max`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.collection import check_map
    >>> A, top = check_map(np.ones((2, 3, 4)), return_max=True)
    >>> A.dtype, float(top)
    (dtype('float32'), 1.0)
    >>> check_map(-np.ones((2, 3, 4)), index=5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: image 5: the activation map ... has negative values (min -1); ...
    """
    A, top = _check_map(A, index, n_channels)
    return (A, top) if return_max else A


def _check_map(A, index=None, n_channels=None):
    """:func:`check_map`, also returning the map's maximum (found by the check anyway)."""
    A = as_numpy(A)
    where = _where(index)
    if A.ndim != 3:
        raise ValueError(
            f"{where}an activation map must be 3-D (h, w, c); got an array of shape {A.shape}.")
    h, w, c = A.shape
    if h == 0 or w == 0 or c == 0:
        raise ValueError(f"{where}the activation map of shape {A.shape} is empty.")
    if n_channels is not None and c != n_channels:
        raise ValueError(
            f"{where}the activation map of shape {A.shape} has {c} channels, "
            f"expected {n_channels} (as in the maps seen before).")
    if A.dtype != np.float32:
        if not np.issubdtype(A.dtype, np.number) or np.iscomplexobj(A):
            raise ValueError(f"{where}activation maps must be real numbers; got dtype {A.dtype}.")
        A = A.astype(np.float32)
    # One reduction each: min catches negatives, max +inf, and NaN propagates through
    # both. (torch.aminmax does both in one pass, but wakes torch's thread pool: 3 ms
    # a call beside BLAS threads, as in object saliency.)
    lo, hi = A.min(), A.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{where}the activation map of shape {A.shape} contains NaN or inf.")
    if lo < 0:
        raise ValueError(
            f"{where}the activation map of shape {A.shape} has negative values (min {lo:.4g}); "
            "activations must be non-negative (take them after a ReLU).")
    return A, hi


def check_same_shape(arrays, what="map"):
    """Raise a ValueError naming the first array whose shape differs from the first's
    (the batched torch stages stack the arrays of a batch)."""
    for i, A in enumerate(arrays):
        if A.shape != arrays[0].shape:
            raise ValueError(
                f"image {i}: {what} shape {A.shape} differs from the batch's first {what} "
                f"{arrays[0].shape}; batch the arrays of one shape together.")


def check_saliency_map(S, index=None, shape=None):
    """Validate one 2-D saliency map and return it as a float array (h, w).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.collection import check_saliency_map
    >>> check_saliency_map(np.eye(3)).shape
    (3, 3)
    >>> check_saliency_map(np.full((2, 2), np.nan), index=1)
    Traceback (most recent call last):
        ...
    ValueError: image 1: the saliency map of shape (2, 2) contains NaN or inf.
    """
    S = as_numpy(S)
    where = _where(index)
    if S.ndim != 2:
        raise ValueError(f"{where}a saliency map must be 2-D (h, w); got shape {S.shape}.")
    if shape is not None and S.shape != tuple(shape):
        raise ValueError(
            f"{where}the saliency map of shape {S.shape} does not match its activation map "
            f"of spatial shape {tuple(shape)}.")
    if not np.issubdtype(S.dtype, np.floating):
        if S.dtype.kind not in "iub":
            raise ValueError(f"{where}saliency maps must be real numbers; got dtype {S.dtype}.")
        S = S.astype(np.float32)
    if S.size and not np.isfinite(S).all():
        raise ValueError(f"{where}the saliency map of shape {S.shape} contains NaN or inf.")
    if S.size and S.min() < 0:
        raise ValueError(f"{where}the saliency map of shape {S.shape} has negative values.")
    return S


def check_boxes(boxes, shape, index=None, name="box"):
    """Validate boxes ``[y0, x0, y1, x1)`` against a map of spatial ``shape``.

    Parameters
    ----------
    boxes : array-like of shape (m, 4) or (4,)
        Half-open integer boxes in activation coordinates.
    shape : tuple (h, w)
        Spatial shape of the map the boxes refer to.
    index : int, default=None
        Image index quoted in error messages.
    name : str, default="box"
        What the boxes are, quoted in error messages.

    Returns
    -------
    boxes : ndarray of shape (m, 4), dtype int64

    Examples
    --------
    >>> from sklearn_salreg.collection import check_boxes
    >>> check_boxes([1, 2, 4, 6], shape=(5, 8)).tolist()
    [[1, 2, 4, 6]]
    >>> check_boxes([1, 2, 9, 6], shape=(5, 8), index=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: image 3: box [1, 2, 9, 6] ... outside the map of spatial shape (5, 8).
    """
    where = _where(index)
    arr = as_numpy(boxes)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}{name}es must have shape (m, 4) [y0, x0, y1, x1); got {arr.shape}.")
    if arr.size and not np.isfinite(arr.astype(np.float64)).all():
        raise ValueError(f"{where}{name}es contain NaN or inf.")
    as_int = np.asarray(arr, dtype=np.int64)
    if arr.size and not np.array_equal(as_int, arr):
        raise ValueError(f"{where}{name}es must hold integer coordinates; got {arr.tolist()}.")
    h, w = shape
    bad = (
        (as_int[:, 0] < 0)
        | (as_int[:, 1] < 0)
        | (as_int[:, 2] > h)
        | (as_int[:, 3] > w)
        | (as_int[:, 2] <= as_int[:, 0])
        | (as_int[:, 3] <= as_int[:, 1])
    )
    if bad.any():
        first = as_int[np.flatnonzero(bad)[0]].tolist()
        raise ValueError(
            f"{where}{name} {first} [y0, x0, y1, x1) is empty or outside the map of spatial "
            f"shape {(h, w)}.")
    return as_int
