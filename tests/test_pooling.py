"""Region pooling and aggregation against direct computations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_salreg import aggregate_regions, region_max_pool, region_mean
from sklearn_salreg.utils import l2_normalize


def random_boxes(rng, h, w, m):
    y0 = rng.integers(0, h, m)
    x0 = rng.integers(0, w, m)
    return np.stack([y0, x0, rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)], 1)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 9), st.integers(0, 6))
def test_max_and_mean_equal_direct(seed, h, w, m):
    rng = np.random.default_rng(seed)
    A = rng.random((h, w, 5), dtype=np.float32)
    S = rng.random((h, w))
    boxes = random_boxes(rng, h, w, m)
    Z = region_max_pool(A, boxes)
    f = region_mean(S, boxes)
    assert Z.shape == (m, 5) and Z.dtype == np.float32 and f.shape == (m,)
    for k, (y0, x0, y1, x1) in enumerate(boxes):
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = True
        np.testing.assert_array_equal(Z[k], A[mask].max(axis=0))
        np.testing.assert_allclose(f[k], S[mask].mean(), rtol=1e-5)


def test_box_outside_map_is_an_error():
    A = np.ones((4, 5, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 0, 5, 5\].*\(4, 5\)"):
        region_max_pool(A, [[0, 0, 5, 5]])
    with pytest.raises(ValueError, match="empty or outside"):
        region_max_pool(A, [[2, 2, 2, 3]])
    with pytest.raises(ValueError, match="integer"):
        region_max_pool(A, [[0.5, 0, 2, 2]])


def test_aggregate_is_sum_of_normalised_regions():
    Z = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    expected = np.array([0.6, 0.8, 1.0]) / np.linalg.norm([0.6, 0.8, 1.0])
    np.testing.assert_allclose(aggregate_regions(Z), expected, rtol=1e-6)


def test_zero_vectors_stay_zero():
    assert not l2_normalize(np.zeros((2, 3))).any()
    assert not aggregate_regions(np.zeros((2, 3))).any()


# -- the batched torch path ---------------------------------------------------------

import torch  # noqa: E402

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, RegionAggregator,  # noqa: E402
                            RegionMaxPooler)
from sklearn_salreg.pooling import (region_pool_batch, region_sum_pool,  # noqa: E402
                                    saliency_weighted_map)
from sklearn_salreg.datasets import make_blob_maps  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 9), st.integers(0, 2),
       st.sampled_from(["max", "sum"]))
def test_batch_pooling_equals_the_per_map_functions(seed, h, w, exponent, pooling):
    rng = np.random.default_rng(seed)
    maps = [rng.random((h, w, 5), dtype=np.float32) * (rng.random((h, w, 1)) > 0.3)
            for _ in range(4)]
    regions = [random_boxes(rng, h, w, m) for m in (1, 3, 0, 2)]  # image 2 has no region
    saliency = [rng.random((h, w)), np.zeros((h, w)), rng.random((h, w)), rng.random((h, w))]
    got = region_pool_batch(maps, regions, pooling=pooling, saliency=saliency, exponent=exponent)
    pool = region_max_pool if pooling == "max" else region_sum_pool
    for Z, A, boxes, S in zip(got, maps, regions, saliency):
        assert Z.dtype == np.float32 and Z.shape == (len(boxes), 5)
        expected = pool(saliency_weighted_map(A, S, exponent), boxes)
        np.testing.assert_allclose(Z, expected, rtol=1e-5, atol=1e-6)


def test_batch_pooling_errors_name_the_image():
    maps = [np.ones((4, 5, 3), np.float32), np.ones((4, 6, 3), np.float32)]
    with pytest.raises(ValueError, match=r"image 1: map shape \(4, 6, 3\) differs"):
        region_pool_batch(maps, [[[0, 0, 1, 1]]] * 2)
    with pytest.raises(ValueError, match="image 0"):
        region_pool_batch(maps[:1], [[[0, 0, 9, 1]]])
    with pytest.raises(ValueError, match="one saliency map per activation map"):
        region_pool_batch(maps[:1], [[[0, 0, 1, 1]]], exponent=1.0)


@pytest.mark.parametrize("levers", [dict(), dict(pooling="sum"),
                                    dict(pooling="sum", weighting="mass", saliency_exponent=2.0),
                                    dict(saliency_exponent=1.0, max_regions=2)])
def test_aggregator_on_a_device_matches_the_numpy_loop(levers):
    maps = make_blob_maps(20, (24, 32), 16, random_state=1) + make_blob_maps(
        6, (20, 16), 16, random_state=2)
    X = EGMRegionDetector().fit_transform(FeatureSaliency().fit_transform(maps))
    expected = RegionAggregator(**levers).fit_transform(X)
    for n_jobs in (None, 2):
        got = RegionAggregator(device="cpu", batch_size=8, n_jobs=n_jobs, **levers).fit_transform(X)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_pooler_on_a_device_matches_the_numpy_loop():
    maps = make_blob_maps(12, (24, 32), 16, random_state=3) + make_blob_maps(
        3, (9, 9), 16, random_state=4)
    X = EGMRegionDetector().fit_transform(FeatureSaliency().fit_transform(maps))
    a = RegionMaxPooler().fit_transform(X)
    b = RegionMaxPooler(device="cpu", batch_size=4).fit_transform(X)
    for field in ("region_descriptors", "region_saliency"):
        for x, y in zip(a.field(field), b.field(field)):
            np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_pooling_equals_cpu_pooling():
    maps = make_blob_maps(32, (24, 32), 64, random_state=0)
    X = EGMRegionDetector().fit_transform(FeatureSaliency().fit_transform(maps))
    for levers in (dict(), dict(pooling="sum", saliency_exponent=2.0)):
        np.testing.assert_allclose(
            RegionAggregator(device="cuda", **levers).fit_transform(X),
            RegionAggregator(**levers).fit_transform(X), rtol=1e-4, atol=1e-5)
