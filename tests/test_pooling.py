"""Region pooling and aggregation against direct computations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_salreg import aggregate_regions, region_max_pool, region_mean
from sklearn_salreg.pooling import l2_normalize


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
