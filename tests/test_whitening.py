"""Whitening: the functions against direct linear algebra, the estimator, the pipeline role."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_salreg import MapCollection
from sklearn_salreg.utils import l2_normalize
from sklearn_salreg.whitening import (
    LearnedWhitening,
    apply_whitening,
    learn_whitening,
    pairs_from_labels,
    pca_whitening,
    region_pairs_from_labels,
)


@parametrize_with_checks([LearnedWhitening(), LearnedWhitening(n_components=1, shrinkage=0.5),
                          LearnedWhitening(unsupervised="mutual", n_rounds=2, shrinkage=0.1)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _objects(rng, nuisance_dirs, n_objects=30, views=4, noise=0.05):
    """Views of objects: each object a random point, views differ by a nuisance that
    is strong along a few directions shared by all objects (what whitening should
    suppress, and what PCA whitening cannot tell from object identity)."""
    c = nuisance_dirs.shape[1]
    centres = rng.normal(size=(n_objects, c))
    coef = rng.normal(size=(n_objects * views, 3)) * 2.0
    noise = noise * rng.normal(size=(n_objects * views, c))
    X = np.repeat(centres, views, axis=0) + coef @ nuisance_dirs + noise
    return X, np.repeat(np.arange(n_objects), views)


def test_pca_whitening_matches_eigendecomposition(rng):
    X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    mean, P = pca_whitening(X)
    C = np.cov(X.T, bias=True)
    vals, vecs = np.linalg.eigh(C)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    # Rows agree with eigvec / sqrt(eigval) up to the sign of each eigenvector.
    expected = vecs.T / np.sqrt(vals)[:, None]
    signs = np.sign(np.sum(P * expected, axis=1))
    np.testing.assert_allclose(P, signs[:, None] * expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(mean, X.mean(axis=0))
    Y = (X - mean) @ P.T
    np.testing.assert_allclose(np.cov(Y.T, bias=True), np.eye(5), atol=1e-8)


def test_pca_whitening_shrinkage_one_only_rotates(rng):
    X = rng.normal(size=(100, 4)) * [3.0, 1.0, 0.5, 0.1]
    _, P = pca_whitening(X, shrinkage=1.0)
    # A multiple of an orthogonal matrix: whitening switched off.
    G = P @ P.T
    np.testing.assert_allclose(G, G[0, 0] * np.eye(4), atol=1e-10)


def test_learn_whitening_matches_direct_computation(rng):
    X = rng.normal(size=(60, 4))
    pairs = np.stack([np.arange(0, 60, 2), np.arange(1, 60, 2)], axis=1)
    mean, P = learn_whitening(X, pairs)
    D = X[pairs[:, 0]] - X[pairs[:, 1]]
    C_s = D.T @ D / len(D)
    L = np.linalg.cholesky(C_s)
    Linv = np.linalg.inv(L)
    np.testing.assert_allclose(Linv @ C_s @ Linv.T, np.eye(4), atol=1e-10)
    Y = (X - mean) @ Linv.T
    vals, vecs = np.linalg.eigh(Y.T @ Y / len(Y))
    expected = vecs[:, ::-1].T @ Linv
    signs = np.sign(np.sum(P * expected, axis=1))
    np.testing.assert_allclose(P, signs[:, None] * expected, rtol=1e-8, atol=1e-10)
    # Matching differences come out isotropic, principal axes ordered by variance.
    np.testing.assert_allclose((D @ P.T).T @ (D @ P.T) / len(D), np.eye(4), atol=1e-8)
    var = np.var((X - mean) @ P.T, axis=0)
    assert np.all(np.diff(var) <= 1e-12)


def test_learn_whitening_rank_deficient_pairs(rng):
    # 3 pairs in 10 dimensions: C_s has rank 3; the growing diagonal must rescue Cholesky.
    X = rng.normal(size=(20, 10))
    mean, P = learn_whitening(X, [[0, 1], [2, 3], [4, 5]])
    assert np.isfinite(P).all() and P.shape == (10, 10)


def test_supervised_whitening_brings_matches_closer(rng):
    nuisance = rng.normal(size=(3, 12))
    X, y = _objects(rng, nuisance)
    Xtest, ytest = _objects(np.random.default_rng(1), nuisance)
    same = ytest[:, None] == ytest[None, :]
    off_diag = ~np.eye(len(ytest), dtype=bool)

    def margin(Y):
        S = Y @ Y.T
        return S[same & off_diag].mean() - S[~same].mean()

    sup = LearnedWhitening(n_components=8).fit(X, y)
    unsup = LearnedWhitening(n_components=8).fit(X)
    assert sup.supervised_ and not unsup.supervised_
    raw = margin(l2_normalize(Xtest))
    # Matching views are closer than non-matching ones, and more so than before.
    assert margin(sup.transform(Xtest)) > max(raw, margin(unsup.transform(Xtest))) + 0.1
    # And the explicit pairs route gives the same whitening as the labels route.
    pairs = pairs_from_labels(y)
    explicit = LearnedWhitening(n_components=8).fit(X, pairs=pairs)
    np.testing.assert_allclose(explicit.projection_, sup.projection_)


def test_apply_whitening_l2_and_float32(rng):
    X = rng.normal(size=(30, 6))
    mean, P = pca_whitening(X)
    Y = apply_whitening(X, mean, P, n_components=3)
    assert Y.dtype == np.float32 and Y.shape == (30, 3)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1, rtol=1e-5)
    ref = (X - mean) @ P[:3].T
    np.testing.assert_allclose(Y, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)
    # A vector at the mean whitens to 0 (0/0 = 0), not NaN.
    assert not apply_whitening(mean[None], mean, P).any()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=2, max_size=40), st.sampled_from([None, 1, 7]))
def test_pairs_from_labels_match_and_cap(labels, max_pairs):
    labels = np.array(labels)
    pairs = pairs_from_labels(labels, max_pairs=max_pairs, random_state=0)
    n_all = sum(c * (c - 1) // 2 for c in np.unique(labels, return_counts=True)[1])
    assert pairs.shape == (n_all if max_pairs is None else min(n_all, max_pairs), 2)
    if len(pairs):
        assert np.all(labels[pairs[:, 0]] == labels[pairs[:, 1]])
        assert np.all(pairs[:, 0] < pairs[:, 1])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-2, 3), min_size=2, max_size=40), st.sampled_from([None, 3]))
def test_distractor_labels_match_nothing(labels, max_pairs):
    """Negative labels mark distractors (as in label_gnd): never in a pair."""
    labels = np.array(labels)
    pairs = pairs_from_labels(labels, max_pairs=max_pairs, random_state=0)
    assert not (labels[pairs] < 0).any()
    kept = labels[labels >= 0]
    n_all = sum(c * (c - 1) // 2 for c in np.unique(kept, return_counts=True)[1])
    assert len(pairs) == (n_all if max_pairs is None else min(n_all, max_pairs))


def test_region_pairs_skip_distractor_images(rng):
    shared = rng.normal(size=8)
    Z = l2_normalize(np.vstack([shared, shared + 0.01, shared + 0.02, shared - 0.01]))
    image_index = np.array([0, 1, 2, 3])
    pairs = region_pairs_from_labels(Z, image_index, [-1, -1, 4, 4])
    assert pairs.tolist() == [[2, 3]]


def test_region_pairs_are_mutual_nearest_across_same_label_images(rng):
    # Two images of object A share a region (up to noise); image 2 is another object.
    shared = rng.normal(size=8)
    Z = np.vstack([shared, rng.normal(size=8), shared + 0.01, rng.normal(size=8), shared])
    Z = l2_normalize(Z)
    image_index = np.array([0, 0, 1, 1, 2])
    pairs = region_pairs_from_labels(Z, image_index, ["A", "A", "B"])
    assert [0, 2] in pairs.tolist()
    assert not np.isin(pairs, 4).any()  # region of the other label
    assert np.all(image_index[pairs[:, 0]] != image_index[pairs[:, 1]])


def _collection(rng, counts, c=16):
    maps = [np.zeros((2, 2, c), dtype=np.float32) for _ in counts]
    descs = [rng.random((m, c)).astype(np.float32) for m in counts]
    return MapCollection(maps).with_fields(region_descriptors=descs)


def test_collection_fit_transform_and_context(rng):
    X = _collection(rng, [5, 0, 7, 3])
    given = [z.copy() for z in X.field("region_descriptors")]
    lw = LearnedWhitening(n_components=4)
    out = lw.fit_transform(X)
    # the stacked regions are normalised in place: the collection's own are untouched
    for z, before in zip(X.field("region_descriptors"), given):
        np.testing.assert_array_equal(z, before)
    assert isinstance(out, MapCollection) and out.context["whitening"] is lw
    Zs = out.field("region_descriptors")
    assert [z.shape for z in Zs] == [(5, 4), (0, 4), (7, 4), (3, 4)]
    assert all(z.dtype == np.float32 for z in Zs)
    # Same as whitening the stacked regions as a 2-D array; fit saw all 15 regions.
    stacked = np.concatenate(X.field("region_descriptors"))
    np.testing.assert_allclose(np.concatenate(Zs), lw.transform(stacked), atol=1e-6)
    kept = stacked.copy()
    ref = LearnedWhitening(n_components=4).fit(stacked)
    np.testing.assert_allclose(ref.projection_, lw.projection_)
    np.testing.assert_array_equal(stacked, kept)  # an array given to fit is not normalised
    assert not X.has_field("region_descriptors") or X.field("region_descriptors")[0].shape[1] == 16


def test_collection_supervised_with_image_labels(rng):
    X = _collection(rng, [6, 6, 6, 6])
    lw = LearnedWhitening(n_components=4, random_state=0).fit(X, y=[0, 0, 1, 1])
    assert lw.supervised_ and lw.n_pairs_ > 0
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        LearnedWhitening().fit(X, y=[0, 0, 1])


def test_frozen_prefit_is_reused_not_refitted(rng):
    external = rng.random((200, 16))
    lw = LearnedWhitening(n_components=4).fit(external)
    pipe = clone(make_pipeline(FrozenEstimator(lw)))
    X = _collection(rng, [4, 2])
    out = pipe.fit_transform(X)
    assert out.context["whitening"] is lw
    np.testing.assert_array_equal(lw.mean_, LearnedWhitening(n_components=4).fit(external).mean_)


def test_from_projection_round_trip(rng):
    lw = LearnedWhitening(n_components=3).fit(rng.random((50, 6)))
    copy = LearnedWhitening.from_projection(lw.mean_, lw.projection_, n_components=3)
    X = rng.random((10, 6))
    np.testing.assert_array_equal(copy.transform(X), lw.transform(X))
    again = pickle.loads(pickle.dumps(lw))
    np.testing.assert_array_equal(again.transform(X), lw.transform(X))


def test_errors(rng):
    X = rng.random((5, 8))
    with pytest.raises(ValueError, match=r"n_components=5 exceeds .* = min\(4, 8\) = 4"):
        LearnedWhitening(n_components=5).fit(X)
    with pytest.raises(ValueError, match="no matching pairs"):
        LearnedWhitening().fit(X, y=np.arange(5))
    with pytest.raises(ValueError, match="outside the 5 rows"):
        LearnedWhitening().fit(X, pairs=[[0, 9]])
    with pytest.raises(ValueError, match=r"\(n_pairs, 2\)"):
        learn_whitening(X, [0, 1])
    lw = LearnedWhitening().fit(X)
    with pytest.raises(ValueError, match="8 features"):
        lw.transform(rng.random((3, 7)))
    with pytest.raises(ValueError, match="was fitted with 8"):
        lw.transform(_collection(rng, [2], c=7))
    bad = _collection(rng, [2, 3])
    bad = bad.with_fields(region_descriptors=[z.copy() for z in bad.field("region_descriptors")])
    bad.field("region_descriptors")[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="image 1: region descriptors contain NaN"):
        LearnedWhitening().fit(bad)
    with pytest.raises(ValueError, match="n_components=9"):
        LearnedWhitening.from_projection(np.zeros(8), np.eye(8), n_components=9)


def test_supervised_false_ignores_labels(rng):
    X = rng.random((60, 10))
    y = np.repeat(np.arange(12), 5)
    off = LearnedWhitening(n_components=4, supervised=False).fit(X, y)
    pca = LearnedWhitening(n_components=4).fit(X)
    assert off.supervised_ is False and off.n_pairs_ == 0
    np.testing.assert_allclose(off.projection_, pca.projection_)
    assert LearnedWhitening(n_components=4).fit(X, y).supervised_ is True


# -- whitening from pairs discovered without labels ----------------------------------------
def _nuisance_data(seed=0, n_objects=100, n_views=4, c=32):
    """Views of objects under a strong nuisance in 8 of the 32 dimensions: PCA whitening
    keeps the nuisance (it has the most variance), a whitening of matching differences
    discards it."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_objects), n_views)
    scale = np.r_[np.full(8, 3.0), np.full(c - 8, 0.3)]
    X = rng.normal(size=(n_objects, c))[y] + rng.normal(size=(len(y), c)) * scale
    return X, y


def _label_map(D, y):
    from sklearn_salreg.metrics import label_gnd, mean_average_precision
    from sklearn_salreg.search import KNNRetriever

    return mean_average_precision(KNNRetriever().fit(D).rank(D, n_results=len(D)), label_gnd(y))


def test_mutual_neighbor_pairs_match_across_images_only():
    from sklearn_salreg.whitening import mutual_neighbor_pairs

    X, y = _nuisance_data()
    pairs = mutual_neighbor_pairs(X / np.linalg.norm(X, axis=1, keepdims=True))
    assert len(pairs) and (pairs[:, 0] < pairs[:, 1]).all()
    assert len(np.unique(pairs)) == 2 * len(pairs)  # each row in at most one mutual pair
    images = y  # one "image" per object: its views are never paired with each other
    across = mutual_neighbor_pairs(X, images)
    assert len(across) and (images[across[:, 0]] != images[across[:, 1]]).all()
    assert mutual_neighbor_pairs(X[:1]).shape == (0, 2)
    with pytest.raises(ValueError, match="image_index"):
        mutual_neighbor_pairs(X, images[:-1])


def test_discovered_pairs_recover_the_supervised_whitening():
    """On data where the matching pairs are known, pairs found without labels give a
    whitening close to the supervised one: its subspace, and its matching mAP, far above
    PCA whitening's."""
    X, y = _nuisance_data()
    pca = LearnedWhitening(16, supervised=False).fit(X)
    supervised = LearnedWhitening(16).fit(X, y)
    mutual = LearnedWhitening(16, unsupervised="mutual", n_rounds=3, random_state=0).fit(X)
    assert not mutual.supervised_ and mutual.n_pairs_ > 50
    scores = {name: _label_map(w.transform(X), y)
              for name, w in (("pca", pca), ("supervised", supervised), ("mutual", mutual))}
    assert scores["supervised"] > 0.95 and scores["pca"] < 0.5
    assert scores["mutual"] > 0.9
    # the kept subspace: the 8 nuisance dimensions are what the supervised one drops
    def nuisance_share(w):
        rows = w.projection_[:16] / np.linalg.norm(w.projection_[:16], axis=1, keepdims=True)
        return float((rows[:, :8] ** 2).sum() / 16)
    assert nuisance_share(supervised) < 0.05 and nuisance_share(pca) > 0.3
    assert nuisance_share(mutual) < 0.1
    # one round already helps; more rounds help more
    once = LearnedWhitening(16, unsupervised="mutual").fit(X)
    assert scores["pca"] < _label_map(once.transform(X), y) <= scores["mutual"] + 1e-9


def test_discovered_pairs_on_region_collections_and_with_labels():
    X, y = _nuisance_data(n_objects=30, n_views=3)
    rng = np.random.default_rng(1)
    maps = [np.ones((2, 2, X.shape[1]), np.float32) for _ in range(len(X) // 2)]
    # two regions per image: images never pair their own regions
    coll = MapCollection(maps).with_fields(
        region_descriptors=[X[2 * i:2 * i + 2].astype(np.float32) for i in range(len(maps))])
    w = LearnedWhitening(8, unsupervised="mutual").fit(coll)
    assert w.n_pairs_ > 0 and not w.supervised_
    assert w.transform(coll).field("region_descriptors")[0].shape == (2, 8)
    # labels take precedence (supervised), as before
    assert LearnedWhitening(8, unsupervised="mutual").fit(X, y).supervised_
    # no pair at all (one vector per image, one image): PCA stays
    single = LearnedWhitening(2, unsupervised="mutual").fit(
        MapCollection(maps[:1]).with_fields(region_descriptors=[rng.random((3, 4))]))
    assert single.n_pairs_ == 0
    with pytest.raises(ValueError):
        LearnedWhitening(unsupervised="graph").fit(X)
