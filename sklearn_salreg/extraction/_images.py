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
        Arrays: uint8 as it is; uint16 scaled from 0..65535 to 0..255; other integer
        types must hold values in 0..255; float arrays must hold values in [0, 1];
        bool arrays are taken as 0 / 255. PIL images and files of any mode: 16-bit
        ones (modes ``I;16*``, and ``I``, whose values must lie in 0..65535) are scaled
        to 0..255 like uint16 arrays, ``F`` images follow the float rule, and every
        other mode (``L``, ``LA``, ``P``, ``PA``, ``RGBA``, ``CMYK``, ``YCbCr``, ``1``...)
        is converted by PIL.

    Returns
    -------
    rgb : ndarray of shape (H, W, 3), dtype uint8

    Raises
    ------
    OSError
        The file is missing, unreadable or truncated (the message names the path).
    ValueError
        The array has a shape or values that are not an image.
    TypeError
        ``image`` is none of the above.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.extraction import load_image
    >>> load_image(np.array([[0, 32896, 65535]], dtype=np.uint16))[0, :, 0].tolist()
    [0, 128, 255]
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        try:
            with Image.open(path) as pil:
                # load() forces the full decode, so a truncated file fails here, not later.
                pil.load()
                return _pil_to_rgb(pil, f"image {path!r}")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise OSError(f"cannot read image {path!r}: {exc}") from exc
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, "the PIL image")
    if isinstance(image, (bytes, dict)) or image is None:
        raise TypeError(
            f"an image must be a path, a PIL image or an array; got {type(image).__name__}.")
    return _array_to_rgb(np.asarray(image))


def _pil_to_rgb(pil, what):
    """RGB uint8 array of a PIL image: PIL converts 8-bit modes, the 16-bit and float
    modes go through :func:`_array_to_rgb` (PIL would clip them to 0..255)."""
    if pil.mode.startswith("I;16"):
        return _array_to_rgb(np.asarray(pil).astype(np.uint16))
    if pil.mode == "I":  # 32-bit integers: what PIL makes of 16-bit files
        a = np.asarray(pil)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(
                f"{what} of mode 'I' holds values in [{a.min()}, {a.max()}]; expected 16-bit "
                "values in 0..65535.")
        return _array_to_rgb(a.astype(np.uint16))
    if pil.mode == "F":
        return _array_to_rgb(np.asarray(pil))
    return np.asarray(pil.convert("RGB"))


def _array_to_rgb(a):
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(
            f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}.")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"the image array of shape {a.shape} is empty.")
    a = a[:, :, :3]
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        # 0..65535 onto 0..255, rounded to the nearest level (65535 = 255 * 257)
        return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise ValueError(
                f"a float image must hold finite values in [0, 1]; got range "
                f"[{np.nanmin(a):.4g}, {np.nanmax(a):.4g}] for shape {a.shape}.")
        return np.round(a * 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"an integer image must hold values in 0..255 (uint16: 0..65535); "
                             f"got dtype {a.dtype} with range [{a.min()}, {a.max()}].")
        return a.astype(np.uint8)
    raise ValueError(f"cannot read an image from an array of dtype {a.dtype}.")


def resize_image(rgb, max_side, upscale=True):
    """Resize so that the longer side is ``max_side`` pixels, keeping the aspect ratio.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), dtype uint8
        The image (e.g. from :func:`load_image`).
    max_side : int or None
        Target length of the longer side; None keeps the image as it is.
    upscale : bool, default=True
        Whether images smaller than ``max_side`` are enlarged (if False they keep
        their size, as PIL's ``thumbnail`` does in the retrieval literature).

    Returns
    -------
    resized : ndarray of shape (H', W', 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.extraction import resize_image
    >>> resize_image(np.zeros((300, 400, 3), np.uint8), 200).shape
    (150, 200, 3)
    >>> resize_image(np.zeros((30, 40, 3), np.uint8), 200, upscale=False).shape
    (30, 40, 3)
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
        ``[x1, y1, x2, y2]`` in pixels, x to the right, y down. One box: an array of
        shape (2, 4) is refused. A box partly outside the image is clipped to it; a box
        entirely outside is refused.
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
    box = np.asarray(box, dtype=np.float64)
    if box.size != 4:
        raise ValueError(
            f"a box must be 4 numbers [x1, y1, x2, y2] (one box per image); got an array of "
            f"shape {box.shape}.")
    box = box.reshape(-1)
    if not np.isfinite(box).all():
        raise ValueError(f"a box must be 4 finite numbers [x1, y1, x2, y2]; got {box.tolist()}.")
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        raise ValueError(f"box {box.tolist()} [x1, y1, x2, y2] has x2 < x1 or y2 < y1.")
    H, W = image_shape[:2]
    if x1 >= W or y1 >= H or x2 <= 0 or y2 <= 0:
        raise ValueError(
            f"box {box.tolist()} [x1, y1, x2, y2] lies entirely outside the image of "
            f"(H, W) = {(H, W)} pixels.")
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
