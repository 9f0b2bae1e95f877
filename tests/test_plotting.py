"""The figures show what a reader needs: true boxes, detected regions, colour scales."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from sklearn_salreg import MapCollection, RegionAggregator  # noqa: E402
from sklearn_salreg.plotting import (boxes_to_pixels, plot_egm_iterations,  # noqa: E402
                                     plot_match_explanation, plot_retrieval_results,
                                     plot_saliency_examples)


def _rectangles(ax, **style):
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    if "edgecolor" in style:
        want = matplotlib.colors.to_rgba(style["edgecolor"])
        rects = [r for r in rects if np.allclose(r.get_edgecolor(), want)]
    return rects


@pytest.fixture
def scene():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    S = np.zeros((8, 12))
    S[2:5, 3:7] = 1.0
    return image, S


def test_saliency_figure_has_true_boxes_regions_and_a_colour_bar(scene):
    image, S = scene
    fig = plot_saliency_examples([image, image], [S, S], [[[2, 3, 5, 7]], [[0, 0, 2, 2]]],
                                 [S, S], [[[2, 3, 5, 7]], []],
                                 true_boxes=[[24, 16, 56, 40], [np.nan] * 4])
    axes = fig.axes
    assert len(axes) == 7  # 2 x 3 panels and the colour bar
    assert axes[-1].get_ylabel() == "saliency / its maximum"
    # row 0: the true box (dashed white) on each of its three panels; row 1 has none
    for ax in axes[:3]:
        assert len(_rectangles(ax, edgecolor="white")) == 1
    assert all(len(_rectangles(ax, edgecolor="white")) == 0 for ax in axes[3:6])
    # the true box in pixels: x 24..56, y 16..40
    r = _rectangles(axes[0], edgecolor="white")[0]
    assert (r.get_x(), r.get_y(), r.get_width(), r.get_height()) == (24, 16, 32, 24)
    assert len(_rectangles(axes[1], edgecolor="red")) == 1
    assert len(_rectangles(axes[5], edgecolor="red")) == 0
    plt.close(fig)


def test_egm_figure_has_a_colour_bar_and_the_true_box(scene):
    image, S = scene
    fig = plot_egm_iterations(image, S, true_box=[24, 16, 56, 40], rho=1.0, tau=0.0, sigma=1.0)
    assert fig.axes[-1].get_ylabel() == "saliency / its maximum"
    assert len(_rectangles(fig.axes[0], edgecolor="white")) == 1
    plt.close(fig)


def test_retrieval_figure_colours_titles_by_relevance(scene):
    image, S = scene
    images = [image] * 4
    fig = plot_retrieval_results(image, images, [2, 0, 1], scores=[0.5, 0.4, 0.9, 0.1],
                                 regions=[[[0, 0, 4, 4]]] * 4, map_shapes=[(8, 12)] * 4,
                                 relevant=[False, True, True, False], top=3)
    titles = fig.axes[1:4]
    assert [t.title.get_color() for t in titles] == ["green", "red", "green"]
    assert "score 0.900" in titles[0].get_title()
    plt.close(fig)


def test_match_explanation_figure(scene):
    image, _ = scene
    A = np.full((8, 12, 4), 0.01, np.float32)
    A[1:3, 1:3, 0] = 1.0
    A[5:7, 8:10, 1] = 1.0
    B = np.full((8, 12, 4), 0.01, np.float32)
    B[4:6, 4:6, 0] = 1.0
    XA = MapCollection([A]).with_fields(regions=[[[1, 1, 3, 3], [5, 8, 7, 10]]])
    XB = MapCollection([B]).with_fields(regions=[[[4, 4, 6, 6], [0, 0, 2, 2]]])
    e = RegionAggregator().fit(XA).explain_match(XA, XB)
    fig = plot_match_explanation(image, image, e, top=2)
    ax = fig.axes[0]
    assert "similarity" in ax.get_title()
    assert fig.axes[-1].get_ylabel().startswith("database image: share")
    # the strongest pair's boxes are drawn at the right places
    strongest = [r for r in ax.patches if isinstance(r, Rectangle) and r.get_edgecolor()
                 == matplotlib.colors.to_rgba("cyan")]
    q_px = boxes_to_pixels([[1, 1, 3, 3]], (8, 12), image.shape)[0]
    assert any(np.isclose(r.get_x(), q_px[1]) and np.isclose(r.get_y(), q_px[0])
               for r in strongest)
    plt.close(fig)
    with pytest.raises(ValueError, match="no region boxes"):
        from sklearn_salreg.pooling import explain_match
        plot_match_explanation(image, image, explain_match(np.ones((1, 3)), np.ones((1, 3))))
