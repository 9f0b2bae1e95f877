"""Pure helpers on images: read one as RGB, resize it, map a pixel box onto a map."""

import math
import os

import numpy as np
from PIL import Image

__all__ = ["load_image", "resize_image", "box_to_activation", "image_name"]


def load_image(image):
    """Return ``image`` as an RGB uint8 array of shape (H, W, 3).

    Parameters
    ----------
    image : str, path-like, PIL.Image.Image or ndarray
        A file path, a PIL image, or an array (H, W), (H, W, 1), (H, W, 3) or
        (H, W, 4). Grayscale is replicated to three channels and an alpha channel
        is dropped (composited on nothing: transparent pixels keep their colour).
        Float arrays must hold values in [0, 1]; bool arrays are taken as 0 / 255.

    Returns
    -------
    rgb : ndarray of shape (H, W, 3), dtype uint8

    Raises
    ------
    OSError
        The file is missing, unreadable or truncated (the message names the path).
    ValueError
        The array has a shape or values that are not an image.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        try:
            with Image.open(path) as pil:
                # load() forces the full decode, so a truncated file fails here, not later.
                pil.load()
                return np.asarray(pil.convert("RGB"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise OSError(f"cannot read image {path!r}: {exc}") from exc
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    return _array_to_rgb(np.asarray(image))


def _array_to_rgb(a):
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(
            f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}."
        )
    a = a[:, :, :3]
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise ValueError(
                f"a float image must hold finite values in [0, 1]; got range "
                f"[{np.nanmin(a):.4g}, {np.nanmax(a):.4g}] for shape {a.shape}."
            )
        return np.round(a * 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"an integer image must hold values in 0..255; got dtype {a.dtype} "
                             f"with range [{a.min()}, {a.max()}].")
        return a.astype(np.uint8)
    raise ValueError(f"cannot read an image from an array of dtype {a.dtype}.")


def resize_image(rgb, max_side, upscale=True):
    """Resize so that the longer side is ``max_side`` pixels, keeping the aspect ratio.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
    max_side : int or None
        Target length of the longer side; None keeps the image as it is.
    upscale : bool, default=True
        Whether images smaller than ``max_side`` are enlarged (if False they keep
        their size, as PIL's ``thumbnail`` does in the retrieval literature).

    Returns
    -------
    resized : ndarray of shape (H', W', 3), dtype uint8
    """
    h, w = rgb.shape[:2]
    if max_side is None or max(h, w) == max_side or (max(h, w) < max_side and not upscale):
        return rgb
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (width, height)
    # Bicubic: PIL widens the filter when shrinking, so downscaling is antialiased.
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def box_to_activation(box, image_shape, map_shape):
    """Map a pixel box [x1, y1, x2, y2] onto the cells of an activation map.

    The box is in the coordinates of the image as given (before any resizing), as
    Oxford / Paris ground truth gives query boxes (``bbx``). Each map cell covers an
    equal share of the image, so the box is scaled by ``map / image`` per axis; every
    cell the box touches is kept (floor of the start, ceiling of the end).

    Parameters
    ----------
    box : array-like of 4 floats
        ``[x1, y1, x2, y2]`` in pixels, x to the right, y down.
    image_shape : tuple (H, W)
        Size of the image the box refers to.
    map_shape : tuple (h, w)
        Spatial size of its activation map.

    Returns
    -------
    cells : ndarray of shape (4,), dtype int64
        ``[y0, x0, y1, x1)`` half-open, clipped to the map, at least one cell.

    Examples
    --------
    >>> box_to_activation([100, 50, 300, 200], image_shape=(480, 640), map_shape=(15, 20))
    array([ 1,  3,  7, 10])
    """
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all():
        raise ValueError(f"a box must be 4 finite numbers [x1, y1, x2, y2]; got {box.tolist()}.")
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        raise ValueError(f"box {box.tolist()} [x1, y1, x2, y2] has x2 < x1 or y2 < y1.")
    H, W = image_shape[:2]
    h, w = map_shape[:2]
    sy, sx = h / H, w / W

    def span(lo, hi, scale, n):
        start = min(max(math.floor(lo * scale), 0), n - 1)
        stop = min(max(math.ceil(hi * scale), start + 1), n)
        return start, stop

    r0, r1 = span(y1, y2, sy, h)
    c0, c1 = span(x1, x2, sx, w)
    return np.array([r0, c0, r1, c1], dtype=np.int64)


def image_name(image, index):
    """The name an image is stored under: its path, or ``"image-<index>"`` for arrays."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    filename = getattr(image, "filename", None)  # a PIL image opened from a file
    return filename if filename else f"image-{index}"
