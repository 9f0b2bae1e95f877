"""The aggregation levers, on maps built so that the answer is known."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, LearnedWhitening, MapCollection,
                            RegionAggregator, RegionMaxPooler, aggregate_regions)
from sklearn_salreg.pooling import region_masses
from sklearn_salreg.utils.estimator_checks import make_maps


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
