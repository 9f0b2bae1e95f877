"""Figures in the manner of the paper: saliency maps with detected regions (Figure 9),
the evolution of EGM regions over iterations (Figure 3), a query and its top results,
and the region pairs that explain a match. Needs matplotlib."""

import numpy as np

from .detection import egm_regions

__all__ = ["boxes_to_pixels", "plot_egm_iterations", "plot_match_explanation",
           "plot_retrieval_results", "plot_saliency_examples"]


def boxes_to_pixels(boxes, map_shape, image_shape):
    """Map boxes ``[y0, x0, y1, x1)`` on an (h, w) map to pixel boxes on the image.

    Examples
    --------
    >>> from sklearn_salreg.plotting import boxes_to_pixels
    >>> boxes_to_pixels([[0, 0, 2, 4]], map_shape=(10, 20), image_shape=(100, 200)).tolist()
    [[0.0, 0.0, 20.0, 40.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sy = image_shape[0] / map_shape[0]
    sx = image_shape[1] / map_shape[1]
    return boxes * np.array([sy, sx, sy, sx])


def _draw_boxes(ax, boxes, color, linewidth=1.5, linestyle="-", label=None):
    from matplotlib.patches import Rectangle

    for k, (y0, x0, y1, x1) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                               linewidth=linewidth, linestyle=linestyle,
                               label=label if k == 0 else None))


def _true_box_pixels(true_box):
    """A dataset box ``[x1, y1, x2, y2]`` (pixels) as ``[y0, x0, y1, x1]``, or None."""
    if true_box is None:
        return None
    b = np.asarray(true_box, dtype=np.float64).reshape(-1)
    if b.size != 4 or np.isnan(b).any():
        return None
    return b[[1, 0, 3, 2]]


def _overlay(ax, image, saliency, boxes, title, true_box=None):
    """``image`` with ``saliency`` (scaled to its maximum) over it, the detected
    ``boxes`` (map coordinates) in red and the true object box (pixels, ``[x1, y1, x2,
    y2]``) dashed in white. Returns the saliency image (for a colour bar) or None."""
    ax.imshow(image)
    shown = None
    if saliency is not None:
        top = saliency.max()
        scaled = saliency / top if top > 0 else saliency
        shown = ax.imshow(scaled, cmap="jet", alpha=0.45, interpolation="bilinear", vmin=0,
                          vmax=1, extent=(0, image.shape[1], image.shape[0], 0))
    if boxes is not None and len(boxes):
        _draw_boxes(ax, boxes_to_pixels(boxes, saliency.shape, image.shape), "red",
                    label="detected regions")
    box = _true_box_pixels(true_box)
    if box is not None:
        _draw_boxes(ax, box, "white", linewidth=2.0, linestyle="--", label="true object box")
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return shown


def _colorbar(fig, mappable, axes, label="saliency / its maximum"):
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, shrink=0.8, pad=0.02, label=label)


def _legend(fig, axes, ncols=None):
    """One legend below the figure: the labelled artists of ``axes``, each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols or len(labels),
                   fontsize=8, facecolor="0.55")


def _saved(fig, path):
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_saliency_examples(images, fs_maps, fs_regions, os_maps, os_regions, path=None,
                           true_boxes=None):
    """Figure 9: each image, its FS map with FS.EGM regions, its OS map with OS.EGM regions.

    Parameters
    ----------
    images : sequence of (H, W, 3) uint8 arrays
    fs_maps, os_maps : sequence of (h, w) arrays
    fs_regions, os_regions : sequence of (m, 4) int arrays (map coordinates)
    path : str or None
        Where to save the figure (PNG); the figure is returned either way.
    true_boxes : sequence of (4,) arrays or None, default=None
        The object's box in each image, ``[x1, y1, x2, y2]`` in pixels as
        :func:`~sklearn_salreg.datasets.make_cluttered_instances` gives it (NaN:
        none); drawn dashed in white.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_salreg.plotting import plot_saliency_examples
    >>> image = np.zeros((64, 96, 3), np.uint8)
    >>> S = np.zeros((8, 12)); S[2:5, 3:7] = 1.0
    >>> fig = plot_saliency_examples([image], [S], [[[2, 3, 5, 7]]], [S], [[[2, 3, 5, 7]]])
    >>> len(fig.axes), fig.axes[-1].get_ylabel()  # three panels and the colour bar
    (4, 'saliency / its maximum')
    """
    import matplotlib.pyplot as plt

    n = len(images)
    true_boxes = [None] * n if true_boxes is None else list(true_boxes)
    fig, axes = plt.subplots(n, 3, figsize=(9.6, 2.4 * n), squeeze=False, layout="constrained")
    shown = None
    for row, (img, F, rf, S, ro, tb) in enumerate(zip(images, fs_maps, fs_regions, os_maps,
                                                       os_regions, true_boxes)):
        _overlay(axes[row, 0], img, None, None, "image" if row == 0 else "", tb)
        shown = _overlay(axes[row, 1], img, F, rf, "FS map, FS.EGM regions" if row == 0 else "", tb)
        _overlay(axes[row, 2], img, S, ro, "OS map, OS.EGM regions" if row == 0 else "", tb)
    _legend(fig, [axes[0, 1], axes[0, 0]], ncols=2)
    _colorbar(fig, shown, axes[:, 1:])
    return _saved(fig, path)


def plot_egm_iterations(image, saliency, path=None, max_panels=8, true_box=None, **egm_params):
    """Figure 3: EGM regions at successive iterations on one saliency map.

    Parameters
    ----------
    image : (H, W, 3) uint8 array
    saliency : (h, w) array
    path : str or None
    max_panels : int
        Iterations shown (the first ones and the last).
    true_box : (4,) array or None, default=None
        The object's box ``[x1, y1, x2, y2]`` in pixels, drawn dashed in white.
    **egm_params
        Passed to :func:`~sklearn_salreg.egm_regions`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_salreg.plotting import plot_egm_iterations
    >>> image = np.zeros((64, 96, 3), np.uint8)
    >>> S = np.zeros((8, 12)); S[2:5, 3:7] = 1.0
    >>> fig = plot_egm_iterations(image, S, rho=1.0, tau=0.0, sigma=1.0)
    >>> fig.axes[-1].get_ylabel()
    'saliency / its maximum'
    """
    import matplotlib.pyplot as plt

    _, history = egm_regions(saliency, return_history=True, **egm_params)
    shown = list(range(len(history)))
    if len(shown) > max_panels:
        shown = shown[:max_panels - 1] + [shown[-1]]
    n = len(shown) + 1
    rows = 1 if n <= 5 else 2
    cols = -(-n // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.8, 2.3 * rows), squeeze=False,
                             layout="constrained")
    axes = axes.ravel()
    _overlay(axes[0], image, None, None, "image", true_box)
    mappable = None
    for ax, it in zip(axes[1:], shown):
        boxes = history[it]["boxes"]
        # the initial state has one tiny box per position: draw only a sample of them
        sample = boxes if len(boxes) <= 60 else boxes[::max(1, len(boxes) // 60)]
        plural = "" if len(boxes) == 1 else "s"
        mappable = _overlay(ax, image, saliency, sample,
                            f"iteration {it}: {len(boxes)} region{plural}", true_box)
    for ax in axes[n:]:
        ax.set_axis_off()
    _colorbar(fig, mappable, axes)
    return _saved(fig, path)


def plot_retrieval_results(query_image, images, ranking, *, scores=None, regions=None,
                           map_shapes=None, query_regions=None, query_map_shape=None,
                           relevant=None, true_boxes=None, query_box=None, top=5, path=None):
    """A query and its ``top`` results, each with its detected regions.

    Parameters
    ----------
    query_image : (H, W, 3) uint8 array
    images : sequence of (H, W, 3) uint8 arrays
        The database images.
    ranking : sequence of int
        Database indices, best first (a row of ``KNNRetriever.rank``).
    scores : sequence of float or None, default=None
        Similarity of each database image to the query (indexed like ``images``).
    regions : sequence of (m, 4) int arrays or None, default=None
        Detected regions of each database image (map coordinates), drawn in red.
    map_shapes : sequence of (h, w) or None
        Map shape of each database image (needed with ``regions``).
    query_regions, query_map_shape : optional
        The same for the query.
    relevant : sequence of bool or None, default=None
        Whether each database image is a true match: its title is green, else red.
    true_boxes : sequence of (4,) arrays or None, default=None
        True object box of each database image (pixels ``[x1, y1, x2, y2]``).
    query_box : (4,) array or None, default=None
        The query's object box.
    top : int, default=5
    path : str or None

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_salreg.plotting import plot_retrieval_results
    >>> image = np.zeros((64, 96, 3), np.uint8)
    >>> fig = plot_retrieval_results(image, [image] * 3, [2, 0], scores=[0.5, 0.4, 0.9],
    ...                              relevant=[False, True, True], top=2)
    >>> [ax.get_title().splitlines() for ax in fig.axes]
    [['query'], ['rank 1: image 2', 'score 0.900'], ['rank 2: image 0', 'score 0.500']]
    """
    import matplotlib.pyplot as plt

    shown = [int(j) for j in list(ranking)[:top]]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(2.4 * (len(shown) + 1), 2.8),
                             squeeze=False, layout="constrained")
    axes = axes[0]

    def boxes_of(boxes, map_shape, image):
        if boxes is None or not len(boxes):
            return
        return boxes_to_pixels(boxes, map_shape, image.shape)

    _overlay(axes[0], query_image, None, None, "query", query_box)
    if query_regions is not None:
        _draw_boxes(axes[0], boxes_of(query_regions, query_map_shape, query_image), "red")
    for k, (ax, j) in enumerate(zip(axes[1:], shown), start=1):
        tb = None if true_boxes is None else true_boxes[j]
        title = f"rank {k}: image {j}" + ("" if scores is None else f"\nscore {scores[j]:.3f}")
        _overlay(ax, images[j], None, None, title, tb)
        if regions is not None:
            b = boxes_of(regions[j], map_shapes[j], images[j])
            if b is not None:
                _draw_boxes(ax, b, "red", label="detected regions")
        if relevant is not None:
            ax.title.set_color("green" if relevant[j] else "red")
    _legend(fig, axes)
    return _saved(fig, path)


def _share_density(boxes, totals, map_shape):
    """Each region's share spread evenly over its cells, summed: (h, w), in % per cell."""
    D = np.zeros(tuple(map_shape), dtype=np.float64)
    for (y0, x0, y1, x1), t in zip(np.asarray(boxes, dtype=np.int64), totals):
        area = max((y1 - y0) * (x1 - x0), 1)
        D[y0:y1, x0:x1] += t / area
    return D


def plot_match_explanation(query_image, database_image, explanation, *, top=5,
                           query_map_shape=None, database_map_shape=None, cmap="inferno",
                           path=None):
    """Where a similarity comes from: the query with its regions (red) and the database
    image coloured by the share of the score its regions carry, the ``top`` strongest
    region pairs linked.

    A database region's share is the sum of the contributions of its pairs
    (``explanation.contributions`` summed over the query regions), spread evenly over
    the map cells of its box; the colour of a cell is the sum over the regions that
    cover it, in % of the similarity per cell. The pairs with the largest
    contributions are drawn as linked boxes, labelled with their share.

    Parameters
    ----------
    query_image, database_image : (H, W, 3) uint8 arrays
    explanation : Bunch
        From :meth:`RegionAggregator.explain_match
        <sklearn_salreg.RegionAggregator.explain_match>` (or
        :func:`~sklearn_salreg.pooling.explain_match` given the boxes).
    top : int, default=5
        Pairs drawn, those with the largest contributions.
    query_map_shape, database_map_shape : (h, w) or None
        Shapes of the activation maps the boxes refer to; by default those stored in
        ``explanation``.
    cmap : str, default="inferno"
        Colour map of the shares.
    path : str or None

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_salreg import MapCollection, RegionAggregator
    >>> from sklearn_salreg.plotting import plot_match_explanation
    >>> A = np.full((8, 12, 4), 0.01, np.float32); A[1:3, 1:3, 0] = 1.0
    >>> B = np.full((8, 12, 4), 0.01, np.float32); B[4:6, 4:6, 0] = 1.0
    >>> XA = MapCollection([A]).with_fields(regions=[[[1, 1, 3, 3]]])
    >>> XB = MapCollection([B]).with_fields(regions=[[[4, 4, 6, 6], [0, 0, 2, 2]]])
    >>> explanation = RegionAggregator().fit(XA).explain_match(XA, XB)
    >>> image = np.zeros((64, 96, 3), np.uint8)
    >>> fig = plot_match_explanation(image, image, explanation, top=1)
    >>> fig.axes[0].get_title().startswith("similarity 0.870 = sum of 2 region-pair terms")
    True
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    e = explanation
    if e.query_boxes is None or e.database_boxes is None:
        raise ValueError("the explanation has no region boxes: pass query_boxes and "
                         "database_boxes to explain_match.")
    q_shape = query_map_shape if query_map_shape is not None else e.get("query_map_shape")
    x_shape = (database_map_shape if database_map_shape is not None
               else e.get("database_map_shape"))
    if q_shape is None or x_shape is None:
        raise ValueError("pass query_map_shape and database_map_shape: the explanation does "
                         "not hold the maps' shapes.")
    C = np.asarray(e.contributions, dtype=np.float64)
    total = C.sum()
    Dx = _share_density(e.database_boxes, C.sum(axis=0) * (100 / total if total != 0 else 0.0),
                        x_shape)
    norm = Normalize(vmin=min(0.0, Dx.min()), vmax=max(Dx.max(), 1e-12))

    Hq, Wq = query_image.shape[:2]
    Hx, Wx = database_image.shape[:2]
    gap = max(Wq, Wx) // 20
    canvas = np.full((max(Hq, Hx), Wq + gap + Wx, 3), 255, dtype=np.uint8)
    canvas[:Hq, :Wq] = query_image
    canvas[:Hx, Wq + gap:] = database_image
    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    ax.imshow(canvas)
    heat = ax.imshow(Dx, cmap=cmap, norm=norm, alpha=0.6, interpolation="nearest",
                     extent=(Wq + gap, Wq + gap + Wx, Hx, 0))
    qb = boxes_to_pixels(e.query_boxes, q_shape, query_image.shape)
    xb = boxes_to_pixels(e.database_boxes, x_shape, database_image.shape)
    xb = xb + np.array([0, Wq + gap, 0, Wq + gap])
    _draw_boxes(ax, qb, "red", linewidth=0.8)
    n = min(top, len(e.pairs))
    shares = 100 * np.asarray(e.shares[:n], dtype=np.float64)
    strongest = max(np.abs(shares).max(initial=0.0), 1e-12)
    for rank, ((r, s), share) in enumerate(zip(e.pairs[:n], shares)):
        width = 0.8 + 2.2 * max(share, 0) / strongest
        colour = "cyan" if rank == 0 else "deepskyblue"
        _draw_boxes(ax, qb[r], colour, linewidth=width)
        _draw_boxes(ax, xb[s], colour, linewidth=width)
        (qy0, qx0, qy1, qx1), (xy0, xx0, xy1, xx1) = qb[r], xb[s]
        ends = np.array([[(qx0 + qx1) / 2, (qy0 + qy1) / 2], [(xx0 + xx1) / 2, (xy0 + xy1) / 2]])
        ax.plot(ends[:, 0], ends[:, 1], color=colour, linewidth=width)
        ax.text(*(ends[0] + (0.8 - 0.1 * rank) * (ends[1] - ends[0])), f"{share:.1f} %",
                color="black", fontsize=7, ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", facecolor=colour, edgecolor="none"))
    ax.set_xlim(0, canvas.shape[1])
    ax.set_ylim(canvas.shape[0], 0)
    ax.set_axis_off()
    ax.set_title(f"similarity {e.score:.3f} = sum of {C.size} region-pair terms; the {n} "
                 f"strongest pairs (linked) carry {shares.sum():.1f} %", fontsize=10)
    fig.colorbar(heat, ax=ax, shrink=0.8, pad=0.01,
                 label="database image: share of the similarity per map cell (%)")
    return _saved(fig, path)
