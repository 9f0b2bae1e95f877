"""The R-MAC grid against a direct transcription of Tolias et al.'s rule."""

import math

import numpy as np
import pytest

from sklearn_salreg import uniform_regions
from sklearn_salreg.detection import whole_map_region


def tolias_grid(H, W, L=3, ovr=0.4):
    """The rule as published, written as plainly as possible, loops and all."""
    w = min(W, H)
    best, idx = None, 0
    for i, steps in enumerate(range(2, 8)):
        b = (max(H, W) - w) / (steps - 1)
        err = abs((w * w - w * b) / (w * w) - ovr)
        if best is None or err < best:
            best, idx = err, i
    Wd = idx + 1 if H < W else 0
    Hd = idx + 1 if H > W else 0
    regions = []
    for l in range(1, L + 1):
        wl = math.floor(2 * w / (l + 1))
        wl2 = math.floor(wl / 2 - 1)
        bW = 0 if l + Wd == 1 else (W - wl) / (l + Wd - 1)
        bH = 0 if l + Hd == 1 else (H - wl) / (l + Hd - 1)
        cW = [math.floor(wl2 + k * bW) - wl2 for k in range(l + Wd)]
        cH = [math.floor(wl2 + k * bH) - wl2 for k in range(l + Hd)]
        for y in cH:
            for x in cW:
                if wl > 0:
                    regions.append([y, x, y + wl, x + wl])
    return regions


@pytest.mark.parametrize("shape", [(30, 40), (40, 30), (7, 7), (24, 32), (32, 24), (13, 50),
                                   (64, 48), (1, 9)])
def test_matches_published_rule(shape):
    assert uniform_regions(*shape).tolist() == tolias_grid(*shape)


def test_seven_by_seven_by_hand():
    expected = [[0, 0, 7, 7]]
    expected += [[y, x, y + 4, x + 4] for y in (0, 3) for x in (0, 3)]
    expected += [[y, x, y + 3, x + 3] for y in (0, 2, 4) for x in (0, 2, 4)]
    assert uniform_regions(7, 7).tolist() == expected


def test_landscape_and_portrait_are_transposes():
    a = uniform_regions(30, 40)
    b = uniform_regions(40, 30)[:, [1, 0, 3, 2]]
    assert sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))


def test_whole_map_option_and_mac():
    assert uniform_regions(5, 8, include_whole=True)[0].tolist() == [0, 0, 5, 8]
    assert whole_map_region(5, 8).tolist() == [[0, 0, 5, 8]]


@pytest.mark.parametrize("h, w", [(1, 1), (2, 3), (24, 32), (100, 7)])
def test_boxes_inside_and_square(h, w):
    boxes = uniform_regions(h, w, levels=4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= h).all() and (boxes[:, 3] <= w).all()
    np.testing.assert_array_equal(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def test_bad_sizes():
    with pytest.raises(ValueError, match="'h' parameter of uniform_regions .* range \\[1, inf\\)"):
        uniform_regions(0, 5)
    with pytest.raises(ValueError, match="levels"):
        uniform_regions(5, 5, levels=0)
