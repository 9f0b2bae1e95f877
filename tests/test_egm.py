"""EGM region detection on synthetic saliency maps whose answer is known."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from sklearn_salreg import egm_regions
from sklearn_salreg.detection import mixture_boxes, prepare_saliency


def iou(a, b):
    ih = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iw = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ih * iw
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


def match(found, truth):
    """Best one-to-one IoU between found and true boxes."""
    cost = np.array([[-iou(f, t) for t in truth] for f in found])
    rows, cols = linear_sum_assignment(cost)
    return -cost[rows, cols]


def blob_map(shape, blobs, smooth=False):
    S = np.zeros(shape)
    for (y0, x0, y1, x1), value in blobs:
        if smooth:  # a Gaussian bump filling the box at about 2 standard deviations
            yy, xx = np.mgrid[: shape[0], : shape[1]]
            cy, cx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2
            sy, sx = (y1 - y0) / 4, (x1 - x0) / 4
            S += value * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
        else:
            S[y0:y1, x0:x1] = value
    return S


BLOBS = [((2, 3, 8, 10), 1.0), ((14, 20, 22, 29), 0.9), ((15, 2, 20, 7), 0.8)]


@pytest.mark.parametrize("params", [dict(), dict(rho=2.0, tau=0.0, sigma=2.0),
                                    dict(rho=1.0, tau=0.2, sigma=1.0)])
def test_one_box_per_blob(params):
    S = blob_map((24, 32), BLOBS)
    boxes = egm_regions(S, **params)
    assert len(boxes) == len(BLOBS), boxes
    assert (match(boxes, [b for b, _ in BLOBS]) > 0.7).all()


def test_smooth_blobs_are_found():
    S = blob_map((24, 32), BLOBS, smooth=True)
    boxes = egm_regions(S, rho=2.0, tau=0.0, sigma=2.0)
    assert len(boxes) == len(BLOBS), boxes
    # a Gaussian bump has no edge: ask only that each box is centred on its bump
    centre = lambda r: np.array([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2])
    dist = np.array([[np.abs(centre(f) - centre(t)).max() for t, _ in BLOBS] for f in boxes])
    rows, cols = linear_sum_assignment(dist)
    assert (dist[rows, cols] <= 1.0).all(), dist


@pytest.mark.parametrize("size", [(4, 14), (14, 4), (6, 10), (9, 5)])
def test_box_follows_aspect_ratio(size):
    S = np.zeros((24, 32))
    S[3:3 + size[0], 5:5 + size[1]] = 1.0
    boxes = egm_regions(S)
    assert len(boxes) == 1
    (y0, x0, y1, x1), = boxes
    assert iou(boxes[0], (3, 5, 3 + size[0], 5 + size[1])) > 0.7
    ratio = (x1 - x0) / (y1 - y0)
    assert ratio == pytest.approx(size[1] / size[0], rel=0.25)


def test_uniform_rectangle_gives_its_own_extent():
    S = np.zeros((20, 30))
    S[4:10, 5:15] = 1.0
    assert egm_regions(S, rho=1, tau=0, sigma=1.5).tolist() == [[4, 5, 10, 15]]


def test_all_zero_map_has_no_region():
    boxes = egm_regions(np.zeros((8, 9)))
    assert boxes.shape == (0, 4) and boxes.dtype == np.int64
    boxes, history = egm_regions(np.zeros((8, 9)), return_history=True)
    assert history == []


def test_threshold_drops_weak_blob():
    S = blob_map((24, 32), [((2, 3, 8, 10), 1.0), ((14, 20, 22, 29), 0.3)])
    assert len(egm_regions(S, tau=0.4)) == 1
    assert len(egm_regions(S, tau=0.2)) == 2


def test_history_records_iterations():
    S = blob_map((24, 32), BLOBS)
    boxes, history = egm_regions(S, rho=1.0, tau=0.0, sigma=2.0, return_history=True)
    assert len(history[0]["weights"]) == np.count_nonzero(S)  # one component per sample
    counts = [len(h["weights"]) for h in history]
    assert counts == sorted(counts, reverse=True) and counts[-1] == len(boxes)
    np.testing.assert_array_equal(np.sort(history[-1]["boxes"], axis=0), np.sort(boxes, axis=0))
    for h in history:
        np.testing.assert_allclose(h["weights"].sum(), 1.0)


def test_prepare_saliency():
    S = np.array([[0.0, 1.0, 2.0, 4.0]])
    np.testing.assert_allclose(prepare_saliency(S, rho=2, tau=0.3), [[0, 0, 0.25, 1.0]])


def test_mixture_boxes_clip_and_never_empty():
    boxes = mixture_boxes([[0.0, 0.0], [5.0, 5.0]], [[100.0, 100.0], [0.0, 0.0]], (6, 7))
    assert boxes.tolist() == [[0, 0, 6, 7], [5, 5, 6, 6]]


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        egm_regions(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="negative"):
        egm_regions(-np.ones((3, 3)))
    with pytest.raises(ValueError, match="purge"):
        egm_regions(np.ones((3, 3)), purge=1.5)


maps = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).random((9, 13)) ** 4)


@settings(max_examples=30, deadline=None)
@given(maps, st.floats(0.5, 6), st.floats(0, 0.6), st.floats(0.5, 3))
def test_properties(S, rho, tau, sigma):
    boxes = egm_regions(S, rho=rho, tau=tau, sigma=sigma)
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and boxes.dtype == np.int64
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 9).all() and (boxes[:, 3] <= 13).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert 1 <= len(boxes) <= np.count_nonzero(prepare_saliency(S, rho, tau))
    # the detector normalises by the maximum: a scaled map gives the same boxes
    np.testing.assert_array_equal(egm_regions(3.5 * S, rho=rho, tau=tau, sigma=sigma), boxes)
    # transposing the map transposes the boxes
    transposed = egm_regions(S.T, rho=rho, tau=tau, sigma=sigma)[:, [1, 0, 3, 2]]
    assert sorted(map(tuple, transposed.tolist())) == sorted(map(tuple, boxes.tolist()))


# -- the batched torch path ---------------------------------------------------------

from sklearn_salreg import EGMRegionDetector, FeatureSaliency, MapCollection  # noqa: E402
from sklearn_salreg.detection import egm_regions_batch  # noqa: E402
from sklearn_salreg.datasets import make_blob_maps  # noqa: E402

PARAMS = [dict(), dict(rho=2.0, tau=0.0, sigma=2.0), dict(sigma=0.5, purge=0.3, max_iter=2),
          dict(max_iter=1)]


@pytest.mark.parametrize("params", PARAMS)
def test_batch_gives_the_per_image_boxes_on_blob_maps(params):
    # realistic feature saliency maps: the same boxes in the same order, map by map
    fs = FeatureSaliency().fit_transform(make_blob_maps(40, (24, 32), 32, random_state=5))
    maps = fs.field("saliency")
    for S, boxes in zip(maps, egm_regions_batch(maps, **params)):
        np.testing.assert_array_equal(boxes, egm_regions(S, **params))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 12),
       st.sampled_from(PARAMS))
def test_batch_finds_the_per_image_boxes(seed, h, w, params):
    rng = np.random.default_rng(seed)
    maps = [rng.random((h, w)) ** 6, (rng.random((h, w)) > 0.8) * 1.0, np.zeros((h, w)),
            rng.random((h, w)) * (rng.random((h, w)) > 0.5)]
    for S, boxes in zip(maps, egm_regions_batch(maps, **params)):
        expected = egm_regions(S, **params)
        assert boxes.dtype == np.int64 and boxes.shape == expected.shape
        # equal mixing weights may be ordered either way after float64 rounding
        assert sorted(map(tuple, boxes.tolist())) == sorted(map(tuple, expected.tolist()))


def test_batch_edge_cases():
    assert egm_regions_batch([]) == []
    assert egm_regions_batch([np.zeros((0, 5))])[0].shape == (0, 4)
    S = np.zeros((6, 7))
    S[2, 3] = 1.0  # one salient cell: one box of one cell
    assert egm_regions_batch([S, np.zeros((6, 7))])[0].tolist() == [[2, 3, 3, 4]]
    with pytest.raises(ValueError, match=r"image 1: saliency map shape \(3, 3\) differs"):
        egm_regions_batch([np.ones((2, 2)), np.ones((3, 3))])
    with pytest.raises(ValueError, match=r"image 0: the saliency map of shape \(3, 3\) has negative"):
        egm_regions_batch([-np.ones((3, 3))])
    with pytest.raises(ValueError, match="not a torch device"):
        egm_regions_batch([np.ones((3, 3))], device="gpu0")


def test_detector_on_a_device_matches_the_numpy_loop():
    maps = make_blob_maps(30, (24, 32), 16, random_state=1) + make_blob_maps(
        12, (20, 16), 16, random_state=2)
    maps[3] = np.zeros_like(maps[3])  # falls back to the whole map on both paths
    boxes = [[1, 2, 9, 12] if i == 5 else None for i in range(len(maps))]
    X = FeatureSaliency().fit_transform(MapCollection(maps, boxes=boxes))
    with pytest.warns(UserWarning, match="images \\[3\\]"):
        expected = EGMRegionDetector(sub_levels=2).fit_transform(X).field("regions")
    for n_jobs in (None, 2):
        with pytest.warns(UserWarning, match="images \\[3\\]"):
            got = EGMRegionDetector(sub_levels=2, device="cpu", batch_size=8,
                                    n_jobs=n_jobs).fit_transform(X).field("regions")
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    assert got[5][0].tolist() == [1, 2, 9, 12]  # the query box replaces detection


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_boxes_equal_cpu_boxes():
    maps = FeatureSaliency().fit_transform(
        make_blob_maps(64, (24, 32), 32, random_state=0)).field("saliency")
    for params in PARAMS[:2]:
        for a, S in zip(egm_regions_batch(maps, device="cuda", **params), maps):
            assert sorted(map(tuple, a.tolist())) == sorted(
                map(tuple, egm_regions(S, **params).tolist()))


# -- the compiled iterations against the NumPy reference -----------------------------

from sklearn_salreg.detection import _egm_kernel  # noqa: E402
from sklearn_salreg.detection._egm import _gaussian_kernel  # noqa: E402

ENGINE_PARAMS = PARAMS + [dict(rho=1.0, tau=0.0, sigma=0.6, purge=0.5), dict(max_iter=1),
                          dict(rho=8.0, tau=0.2, sigma=3.5, purge=0.9, scale=1.0)]


def same_boxes(S, **params):
    """The compiled path finds the reference's boxes, in its order up to equal weights."""
    fast = egm_regions(S, **params)
    reference, history = egm_regions(S, engine="numpy", return_history=True, **params)
    assert fast.dtype == np.int64 and fast.shape == reference.shape
    if np.array_equal(fast, reference):
        return
    # Components of equal weight (a symmetric map) may come out in either order, as
    # their weights differ in the last bits only.
    assert sorted(map(tuple, fast.tolist())) == sorted(map(tuple, reference.tolist()))
    weights = {}  # box -> the weights of its components, largest last
    for box, w in sorted(zip(map(tuple, history[-1]["boxes"].tolist()), history[-1]["weights"]),
                         key=lambda item: item[1]):
        weights.setdefault(box, []).append(w)
    weights = np.array([weights[tuple(box)].pop() for box in fast.tolist()])
    assert (weights[:-1] >= weights[1:] * (1 - 1e-9)).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 40),
       st.sampled_from(ENGINE_PARAMS))
def test_compiled_iterations_give_the_reference_boxes(seed, h, w, params):
    rng = np.random.default_rng(seed)
    for S in (rng.random((h, w)) ** 6, (rng.random((h, w)) > 0.8) * 1.0, np.zeros((h, w)),
              rng.random((h, w)) * (rng.random((h, w)) > 0.5), rng.random((h, w))):
        same_boxes(S, **params)


@pytest.mark.parametrize("params", ENGINE_PARAMS)
def test_compiled_iterations_on_blob_maps(params):
    # realistic feature saliency maps, both sizes of the benchmarks: same boxes, same order
    for shape, seed in (((24, 32), 5), ((48, 64), 6)):
        fs = FeatureSaliency().fit_transform(make_blob_maps(6, shape, 32, random_state=seed))
        for S in fs.field("saliency"):
            same_boxes(S, **params)


def test_compiled_step_far_apart_components():
    # Two tight components in opposite corners: for a sample in another corner both
    # row-times-column factors underflow, and the sample is redone directly.
    from sklearn_salreg.detection._egm import _e_step, _m_step

    h = w = 60
    ys, xs = (A.ravel() for A in np.indices((h, w)))
    positions = np.stack([ys, xs], axis=1).astype(np.float64)
    mass = np.random.default_rng(0).random(h * w)
    pi = np.array([0.6, 0.4])
    means = np.array([[1.0, 1.0], [58.0, 58.0]])
    covs = np.full((2, 2), 1.0 / 12.0)
    sigma2 = 0.3**2
    resp = _e_step(positions, positions**2, np.log(pi), means, covs, sigma2)
    expected = _m_step(positions, positions**2, mass, resp)
    got = _egm_kernel._em_step(ys, xs, mass, mass.sum(), pi, means, covs, sigma2, h, w)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.isfinite(got[1]).all()  # no 0 / 0 from the corner samples


def test_compiled_iterations_far_apart_blobs():
    S = 1e-3 * np.random.default_rng(1).random((40, 40))
    S[:3, :3] = S[-3:, -3:] = 1.0
    for sigma in (0.3, 2.0):
        same_boxes(S, rho=1.0, tau=0.0, sigma=sigma)


@pytest.mark.parametrize("sd", [0.7, np.sqrt(8.0), np.sqrt(12.5), 6.0])
def test_compiled_blur_is_scipys(sd):
    from scipy.ndimage import gaussian_filter

    G = np.random.default_rng(0).random((17, 23)) ** 3
    expected = gaussian_filter(G, sd, mode="constant", truncate=4.0)
    np.testing.assert_array_equal(_egm_kernel._blur(G, _gaussian_kernel(sd)), expected)


def test_engine_is_checked():
    with pytest.raises(ValueError, match="engine. parameter of egm_regions"):
        egm_regions(np.ones((3, 3)), engine="c")
