"""The aggregation levers, on maps built so that the answer is known."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.pipeline import Pipeline

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, LearnedWhitening, MapCollection,
                            RegionAggregator, RegionMaxPooler, aggregate_regions)
from sklearn_salreg.pooling import region_masses, region_sum_pool, saliency_weighted_map
from sklearn_salreg.datasets import make_maps


def object_among_clutter():
    """One salient object region and four weakly salient clutter regions."""
    c = 20
    A = np.zeros((12, 12, c), np.float32)
    S = np.zeros((12, 12), np.float32)
    A[1:4, 1:4, 0:3] = 1.0  # the object: channels 0-2
    S[1:4, 1:4] = 1.0
    for k, (y, x) in enumerate([(1, 8), (8, 1), (8, 8), (5, 5)]):
        A[y:y + 3, x:x + 3, 4 + 4 * k:8 + 4 * k] = 1.0  # clutter: other channels each
        S[y:y + 3, x:x + 3] = 0.2
    regions = np.array([[1, 1, 4, 4], [1, 8, 4, 11], [8, 1, 11, 4], [8, 8, 11, 11],
                        [5, 5, 8, 8]])
    X = MapCollection([A]).with_fields(saliency=[S], regions=[regions])
    target = A[1:4, 1:4].max(axis=(0, 1))
    return X, target / np.linalg.norm(target)


def test_mass_weighting_moves_the_descriptor_towards_the_object():
    X, target = object_among_clutter()
    plain = RegionAggregator().fit_transform(X)[0]
    mass = RegionAggregator(weighting="mass").fit_transform(X)[0]
    assert mass @ target > plain @ target
    assert mass @ target > 0.9 > plain @ target


def test_max_regions_keeps_the_strongest():
    X, target = object_among_clutter()
    top = RegionAggregator(max_regions=1).fit_transform(X)[0]
    np.testing.assert_allclose(top, target, rtol=1e-6)


def test_masses_by_hand():
    S = np.zeros((4, 4))
    S[0, 0], S[3, 3] = 3.0, 1.0
    np.testing.assert_allclose(region_masses(S, [[0, 0, 2, 2], [2, 2, 4, 4], [0, 0, 4, 4]]),
                               [0.75, 0.25, 1.0])
    assert not region_masses(np.zeros((2, 2)), [[0, 0, 1, 1]]).any()


def test_weighted_aggregate_by_hand():
    Z = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(aggregate_regions(Z, [3.0, 1.0]), np.array([3.0, 1.0]) / np.sqrt(10),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="weights for 2 regions"):
        aggregate_regions(Z, [1.0])


def test_defaults_are_the_papers_plain_sum():
    X, _ = object_among_clutter()
    A = X[0]
    expected = aggregate_regions(np.stack([A[y0:y1, x0:x1].max(axis=(0, 1))
                                           for y0, x0, y1, x1 in X.field("regions")[0]]))
    np.testing.assert_allclose(RegionAggregator().fit_transform(X)[0], expected, rtol=1e-6)


def test_region_whitening_is_reused_for_the_global_vector():
    maps = make_maps(8, n_channels=16)
    pipe = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector(tau=0.2, rho=1.0)),
                     ("pool", RegionMaxPooler()), ("whiten", LearnedWhitening(n_components=6)),
                     ("egm2", EGMRegionDetector(tau=0.2, rho=1.0)),
                     ("agg", RegionAggregator(whitening="region"))])
    D = pipe.fit_transform(maps)
    assert D.shape == (8, 6)
    assert pipe.named_steps["agg"].whitening_ is pipe.named_steps["whiten"]
    with pytest.raises(ValueError, match='whitening="region" needs'):
        Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector()),
                  ("agg", RegionAggregator(whitening="region"))]).fit(maps)


# -- how each region is pooled ------------------------------------------------------


def clutter_inside_the_region():
    """One region (the whole map) holding a salient object and unsalient clutter."""
    c = 12
    A = np.zeros((8, 8, c), np.float32)
    S = np.zeros((8, 8), np.float32)
    A[1:3, 1:3, 0:3] = 1.0  # the object, salient
    S[1:3, 1:3] = 1.0
    A[5:8, 4:8, 6:12] = 2.0  # clutter, stronger activations but barely salient
    S[5:8, 4:8] = 0.1
    X = MapCollection([A]).with_fields(saliency=[S], regions=[np.array([[0, 0, 8, 8]])])
    target = np.zeros(c)
    target[0:3] = 1 / np.sqrt(3)
    return X, target


@pytest.mark.parametrize("pooling", ["max", "sum"])
def test_saliency_weighting_moves_the_descriptor_towards_the_object(pooling):
    X, target = clutter_inside_the_region()
    plain = RegionAggregator(pooling=pooling).fit_transform(X)[0]
    weighted = RegionAggregator(pooling=pooling, saliency_exponent=2.0).fit_transform(X)[0]
    assert weighted @ target > 0.99 > 0.7 > plain @ target


def test_sum_pooling_by_hand():
    X, _ = clutter_inside_the_region()
    A = X[0]
    expected = A.sum(axis=(0, 1))
    np.testing.assert_allclose(RegionAggregator(pooling="sum").fit_transform(X)[0],
                               expected / np.linalg.norm(expected), rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4)),
              elements=st.floats(0, 100, width=32)), st.data())
def test_region_sum_pool_matches_direct_sums(A, data):
    h, w, _ = A.shape
    y0 = data.draw(st.integers(0, h - 1))
    x0 = data.draw(st.integers(0, w - 1))
    y1 = data.draw(st.integers(y0 + 1, h))
    x1 = data.draw(st.integers(x0 + 1, w))
    got = region_sum_pool(A, [[y0, x0, y1, x1], [0, 0, h, w]])
    expected = [A[y0:y1, x0:x1].sum(axis=(0, 1), dtype=np.float64), A.sum(axis=(0, 1))]
    np.testing.assert_allclose(got, np.array(expected, np.float32), rtol=1e-5, atol=1e-3)


def test_saliency_weighted_map_by_hand_and_edge_cases():
    A = np.ones((2, 2, 3), np.float32)
    S = np.array([[0.0, 1.0], [2.0, 4.0]])
    W = saliency_weighted_map(A, S, exponent=2.0)
    np.testing.assert_allclose(W[:, :, 0], [[0.0, 1 / 16], [0.25, 1.0]])
    assert saliency_weighted_map(A, S, exponent=0.0) is A  # nothing to weight: no copy
    np.testing.assert_array_equal(saliency_weighted_map(A, np.zeros((2, 2))), A)
    with pytest.raises(ValueError, match="shape"):
        saliency_weighted_map(A, np.ones((3, 2)))


def test_pooling_defaults_reproduce_the_pooled_region_descriptors():
    """Plain max pooling reuses the region descriptors pooled earlier; any other choice
    pools the maps again, so the descriptors differ."""
    maps = make_maps(6, n_channels=16)
    front = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector(tau=0.2, rho=1.0)),
                      ("pool", RegionMaxPooler())])
    X = front.fit_transform(maps)
    from_fields = RegionAggregator().fit_transform(X)
    from_maps = RegionAggregator().fit_transform(front[:2].transform(maps))
    np.testing.assert_allclose(from_fields, from_maps, rtol=1e-6)
    summed = RegionAggregator(pooling="sum").fit_transform(X)
    assert not np.allclose(summed, from_fields)
