"""Figures in the manner of the paper: saliency maps with detected regions (Figure 9)
and the evolution of EGM regions over iterations (Figure 3). Needs matplotlib."""

import numpy as np

from .detection import egm_regions

__all__ = ["plot_saliency_examples", "plot_egm_iterations", "boxes_to_pixels"]


def boxes_to_pixels(boxes, map_shape, image_shape):
    """Map boxes ``[y0, x0, y1, x1)`` on an (h, w) map to pixel boxes on the image."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sy = image_shape[0] / map_shape[0]
    sx = image_shape[1] / map_shape[1]
    return boxes * np.array([sy, sx, sy, sx])


def _overlay(ax, image, saliency, boxes, title):
    from matplotlib.patches import Rectangle

    ax.imshow(image)
    if saliency is not None:
        top = saliency.max()
        shown = saliency / top if top > 0 else saliency
        ax.imshow(shown, cmap="jet", alpha=0.45, interpolation="bilinear",
                  extent=(0, image.shape[1], image.shape[0], 0))
    if boxes is not None:
        for y0, x0, y1, x1 in boxes_to_pixels(boxes, saliency.shape, image.shape):
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="red",
                                   linewidth=1.5))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def plot_saliency_examples(images, fs_maps, fs_regions, os_maps, os_regions, path=None):
    """Figure 9: each image, its FS map with FS.EGM regions, its OS map with OS.EGM regions.

    Parameters
    ----------
    images : sequence of (H, W, 3) uint8 arrays
    fs_maps, os_maps : sequence of (h, w) arrays
    fs_regions, os_regions : sequence of (m, 4) int arrays (map coordinates)
    path : str or None
        Where to save the figure (PNG); the figure is returned either way.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(9, 2.4 * n), squeeze=False)
    for row, (img, F, rf, S, ro) in enumerate(zip(images, fs_maps, fs_regions, os_maps,
                                                   os_regions)):
        _overlay(axes[row, 0], img, None, None, "image" if row == 0 else "")
        _overlay(axes[row, 1], img, F, rf, "FS.EGM" if row == 0 else "")
        _overlay(axes[row, 2], img, S, ro, "OS.EGM" if row == 0 else "")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_egm_iterations(image, saliency, path=None, max_panels=8, **egm_params):
    """Figure 3: EGM regions at successive iterations on one saliency map.

    Parameters
    ----------
    image : (H, W, 3) uint8 array
    saliency : (h, w) array
    path : str or None
    max_panels : int
        Iterations shown (the first ones and the last).
    **egm_params
        Passed to :func:`egm_regions`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, history = egm_regions(saliency, return_history=True, **egm_params)
    shown = list(range(len(history)))
    if len(shown) > max_panels:
        shown = shown[:max_panels - 1] + [shown[-1]]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(2.6 * (len(shown) + 1), 2.6),
                             squeeze=False)
    _overlay(axes[0, 0], image, None, None, "image")
    for ax, it in zip(axes[0, 1:], shown):
        boxes = history[it]["boxes"]
        # the initial state has one tiny box per position: draw only a sample of them
        _overlay(ax, image, saliency, boxes if len(boxes) <= 60 else boxes[::max(1, len(boxes) // 60)],
                 f"i = {it}, m = {len(boxes)}")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
