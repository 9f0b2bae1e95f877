"""Match explanations: a similarity split exactly into region-pair terms."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator

from sklearn_salreg import LearnedWhitening, MapCollection, RegionAggregator
from sklearn_salreg.pipelines import CONFIGURATIONS, make_configuration, make_mac, make_os_egm
from sklearn_salreg.pooling import explain_match
from sklearn_salreg.datasets import make_object_maps


@pytest.fixture(scope="module")
def object_maps():
    maps, labels, boxes = make_object_maps(n_objects=4, n_views=4, n_distractors=6,
                                           shape=(12, 16), n_channels=32, random_state=0)
    return maps, labels, boxes


def _check_pairs(pipe, database, queries, pairs):
    G_db, G_q = pipe.transform(database), pipe.transform(queries)
    X_db, X_q = pipe[:-1].transform(database), pipe[:-1].transform(queries)
    for q, j in pairs:
        e = pipe[-1].explain_match(X_q, X_db, query=q, database=j)
        expected = float(G_q[q] @ G_db[j])
        assert e.score == pytest.approx(expected, abs=1e-6)
        assert e.contributions.sum() == pytest.approx(expected, abs=2e-6)
        assert e.contributions.shape == (len(e.query_boxes), len(e.database_boxes))
        if abs(expected) > 1e-3:
            assert e.shares.sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", list(CONFIGURATIONS))
def test_decomposition_sums_to_the_score_for_every_named_configuration(name, object_maps):
    maps, labels, _ = object_maps
    kwargs = {}
    if name.startswith("OS.EGM") and "tuned" not in name:
        kwargs["region_whitening"] = LearnedWhitening(n_components=16, shrinkage=0.1)
    if "tuned" in name:
        kwargs["region_whitening"] = LearnedWhitening(n_components=16, shrinkage=0.1,
                                                      supervised=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_configuration(name, **kwargs).fit(maps)
        queries = MapCollection(maps[:3])
        _check_pairs(pipe, maps, queries, [(0, 0), (0, 5), (1, 7), (2, 11)])


@pytest.mark.parametrize("whitening", [
    LearnedWhitening(n_components=12),
    LearnedWhitening(n_components=8, shrinkage=0.5),
    PCA(n_components=10, whiten=True),
    PCA(n_components=10),
])
def test_decomposition_sums_to_the_score_through_a_whitening(whitening, object_maps):
    maps, labels, _ = object_maps
    pipe = make_mac(whitening=whitening).fit(maps)
    _check_pairs(pipe, maps, MapCollection(maps[:4]), [(0, 1), (1, 2), (3, 3), (2, 19)])


def test_region_whitening_and_frozen_whitening(object_maps):
    maps, labels, _ = object_maps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_os_egm(region_whitening=LearnedWhitening(n_components=16, shrinkage=0.1),
                           whitening="region").fit(maps)
        _check_pairs(pipe, maps, maps[:2], [(0, 3), (1, 9)])
    lw = LearnedWhitening(n_components=12).fit(np.random.default_rng(0).random((50, 32)))
    pipe = make_mac(whitening=FrozenEstimator(lw)).fit(maps)
    _check_pairs(pipe, maps, maps[:2], [(0, 3), (1, 9)])


def _scene(rng, obj, where, clutter, shape=(12, 16), c=24):
    """A map with ``obj`` pasted at ``where`` and clutter patterns at their places."""
    A = 0.001 * rng.random((*shape, c), dtype=np.float32)  # a faint floor everywhere
    for pattern, (y, x) in [(obj, where), *clutter]:
        A[y:y + 3, x:x + 3] += pattern
    return A


def test_the_recurring_object_carries_the_match():
    rng = np.random.default_rng(0)
    c = 24
    obj = np.zeros(c, np.float32)
    obj[[0, 1, 2]] = [2.0, 1.5, 1.0]
    # six clutter patterns, each on its own three channels: none recurs
    clutter = np.zeros((6, c), np.float32)
    for k in range(6):
        clutter[k, 3 + 3 * k:6 + 3 * k] = rng.uniform(1.0, 2.0, 3)
    # the object at different places, clutter elsewhere
    A = _scene(rng, obj, (1, 1), list(zip(clutter[:3], [(7, 2), (2, 11), (8, 12)])))
    B = _scene(rng, obj, (8, 9), list(zip(clutter[3:], [(1, 1), (1, 12), (8, 2)])))
    boxes_A = np.array([[7, 2, 10, 5], [1, 1, 4, 4], [2, 11, 5, 14], [8, 12, 11, 15]])
    boxes_B = np.array([[1, 1, 4, 4], [1, 12, 4, 15], [8, 9, 11, 12], [8, 2, 11, 5]])
    XA = MapCollection([A]).with_fields(regions=[boxes_A])
    XB = MapCollection([B]).with_fields(regions=[boxes_B])
    agg = RegionAggregator().fit(XA)
    e = agg.explain_match(XA, XB)
    assert e.pairs[0].tolist() == [1, 2]  # object box of A with object box of B
    assert e.shares[0] > 0.9
    assert e.contributions.sum() == pytest.approx(float(agg.transform(XA)[0] @ agg.transform(XB)[0]),
                                                  abs=1e-6)
    np.testing.assert_array_equal(e.query_boxes[e.pairs[0, 0]], [1, 1, 4, 4])
    np.testing.assert_array_equal(e.database_boxes[e.pairs[0, 1]], [8, 9, 11, 12])
    assert e.query_map_shape == (12, 16)
    # the same images with only clutter regions: the match is gone
    no_object = agg.explain_match(XA.with_fields(regions=[boxes_A[[0, 2, 3]]]),
                                  XB.with_fields(regions=[boxes_B[[0, 1, 3]]]))
    assert no_object.score < 0.1 * e.score


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.booleans(), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_decomposition_property(m_q, m_x, weighted, whitened, seed):
    rng = np.random.default_rng(seed)
    d = 10
    Zq = np.maximum(rng.standard_normal((m_q, d)), 0).astype(np.float32)
    Zx = np.maximum(rng.standard_normal((m_x, d)), 0).astype(np.float32)
    wq = rng.random(m_q) if weighted else None
    wx = rng.random(m_x) if weighted else None
    whitening = (LearnedWhitening(n_components=6, shrinkage=0.2).fit(rng.random((40, d)))
                 if whitened else None)
    e = explain_match(Zq, Zx, query_weights=wq, database_weights=wx, whitening=whitening)
    assert e.contributions.shape == (m_q, m_x)
    assert e.contributions.sum() == pytest.approx(e.score, abs=2e-6)
    assert -1 - 1e-6 <= e.score <= 1 + 1e-6
    if not whitened:  # non-negative descriptors: every term non-negative
        assert (e.contributions >= -1e-12).all()
    # pairs cover every cell once, in decreasing order
    assert sorted(map(tuple, e.pairs.tolist())) == [(r, s) for r in range(m_q) for s in range(m_x)]
    ordered = e.contributions[e.pairs[:, 0], e.pairs[:, 1]]
    assert (np.diff(ordered) <= 0).all()


def test_one_region_each_is_the_whole_score():
    e = explain_match([[1.0, 2.0, 0.0]], [[2.0, 1.0, 0.0]])
    assert e.contributions.shape == (1, 1)
    assert e.score == pytest.approx(0.8, abs=1e-6)
    assert e.shares.tolist() == pytest.approx([1.0])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="query_regions must be 2-D"):
        explain_match(np.ones(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="dimensions"):
        explain_match(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="database_weights"):
        explain_match(np.ones((2, 3)), np.ones((2, 3)), database_weights=[1.0])
    with pytest.raises(ValueError, match="NaN"):
        explain_match(np.full((2, 3), np.nan), np.ones((2, 3)))
    with pytest.raises(TypeError, match="StandardScaler"):
        from sklearn.preprocessing import StandardScaler
        explain_match(np.ones((2, 3)), np.ones((2, 3)),
                      whitening=StandardScaler().fit(np.random.default_rng(0).random((5, 3))))
    agg = RegionAggregator().fit(MapCollection([np.ones((4, 4, 3), np.float32)])
                                 .with_fields(regions=[[[0, 0, 2, 2]]]))
    X = MapCollection([np.ones((4, 4, 3), np.float32)]).with_fields(regions=[[[0, 0, 2, 2]]])
    with pytest.raises(IndexError, match="out of range"):
        agg.explain_match(X, X, database=3)
