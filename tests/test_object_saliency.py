"""Object saliency: the formula on a hand-worked case, and discovery on synthetic maps."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, MapCollection,
                            RegionMaxPooler)
from sklearn_salreg.discovery import CentralityGraph
from sklearn_salreg.metrics import saliency_precision
from sklearn_salreg.pipelines import make_os_egm
from sklearn_salreg.saliency import ObjectSaliency, object_saliency, patch_descriptors
from sklearn_salreg.datasets import make_maps
from sklearn_salreg.datasets import make_object_maps
from sklearn_salreg.whitening import LearnedWhitening


def test_formula_by_hand():
    V = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
    f = np.array([1.0, 0.5, 1.0])
    g = np.array([2.0, 1.0, 1.0])
    A = np.array([[[1.0, 0.0], [0.0, 2.0]]], np.float32)  # 1 x 2 map, 2 channels
    F = np.array([[1.0, 0.5]])
    S = object_saliency(A, F, V, f, g, patch_size=1, n_neighbors=2)
    # u0 = (1, 0): neighbours 0 (s=1) and 2 (s=0.6): 1*1*2 + 0.6^3*1*1
    # u1 = (0, 1): neighbours 1 (s=1) and 2 (s=0.8): 1*0.5^3*1 + 0.8^3*1*1, times 0.5^2
    np.testing.assert_allclose(S, [[2.216, 0.25 * 0.637]], rtol=1e-5)


def test_zero_where_feature_saliency_is_zero(rng):
    A = rng.random((5, 6, 4), dtype=np.float32)
    F = rng.random((5, 6))
    F[1:3, 2:5] = 0
    V = np.eye(4, dtype=np.float32)
    S = object_saliency(A, F, V, np.ones(4), np.ones(4), n_neighbors=2)
    assert not S[1:3, 2:5].any() and (S[F > 0] > 0).all()


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5, 0.9])
def test_min_saliency_drops_faint_positions_only(rng, share):
    # each position's lookup is independent of the others: the map with a floor is
    # the full map where F > share * max(F) (within float32 rounding: the search's
    # products are blocked by how many patches it gets), zero elsewhere
    A = rng.random((6, 7, 5), dtype=np.float32)
    F = rng.random((6, 7)) ** 2
    V = rng.standard_normal((9, 5)).astype(np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    f, g = rng.random(9), rng.random(9)
    full = object_saliency(A, F, V, f, g, n_neighbors=3)
    S = object_saliency(A, F, V, f, g, n_neighbors=3, min_saliency=share)
    kept = F > share * F.max()
    np.testing.assert_allclose(S, np.where(kept, full, 0), rtol=1e-6, atol=0)
    assert (S[kept] > 0).all() and kept.sum() < F.size or share == 0.0


def test_min_saliency_is_checked():
    A, F, V = np.ones((2, 2, 2), np.float32), np.ones((2, 2)), np.eye(2, dtype=np.float32)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="min_saliency"):
            object_saliency(A, F, V, np.ones(2), np.ones(2), min_saliency=bad)


def test_a_map_too_large_for_float32_keeps_its_shape(rng):
    # F of 1e20, squared, does not fit in float32: the map comes back divided by its
    # maximum (what the detectors and the aggregation use), not as inf
    A = rng.random((5, 6, 4), dtype=np.float32)
    F = rng.random((5, 6)).astype(np.float32)
    V, f, g = np.eye(4, dtype=np.float32), np.ones(4), np.ones(4)
    plain = object_saliency(A, F, V, f, g, n_neighbors=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = object_saliency(A, F * np.float32(1e20), V, f, g, n_neighbors=2)
    assert np.isfinite(huge).all() and huge.max() == 1.0
    np.testing.assert_allclose(huge, plain / plain.max(), rtol=1e-6, atol=1e-7)


def test_patch_descriptors_are_clipped_sliding_maxima(rng):
    A = rng.random((5, 7, 3), dtype=np.float32)
    for a in (1, 2, 3, 4):
        U = patch_descriptors(A, a).reshape(5, 7, 3)
        before = (a - 1) // 2
        for y in range(5):
            for x in range(7):
                block = A[max(0, y - before):y - before + a, max(0, x - before):x - before + a]
                expected = block.max(axis=(0, 1))
                np.testing.assert_allclose(U[y, x], expected / np.linalg.norm(expected),
                                           rtol=1e-6)


def test_estimator_equals_pure_function():
    maps = make_maps(6, n_channels=16)
    front = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector(tau=0.2, rho=1.0)),
                      ("pool", RegionMaxPooler()), ("whiten", LearnedWhitening(n_components=4)),
                      ("graph", CentralityGraph(n_neighbors=3))])
    X = front.fit_transform(maps)
    est = ObjectSaliency(n_neighbors=4).fit(X)
    Xt = est.transform(X)
    graph, whitening = front.named_steps["graph"], front.named_steps["whiten"]
    # the index is built in fit, over the graph's regions, and transform uses it
    assert est.index_.V is graph.descriptors_
    for A, F, S in zip(maps, X.field("feature_saliency"), Xt.field("saliency")):
        expected = object_saliency(A, F, graph.descriptors_, graph.region_saliency_,
                                   graph.centrality_, whitening=whitening, n_neighbors=4)
        np.testing.assert_allclose(S, expected, rtol=1e-4, atol=1e-7)
        # the same search passed in: the same map
        searched = object_saliency(A, F, graph.descriptors_, graph.region_saliency_,
                                   graph.centrality_, whitening=whitening, n_neighbors=4,
                                   search=est.index_)
        np.testing.assert_allclose(S, searched, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="search of object_saliency holds"):
        object_saliency(maps[0], X.field("feature_saliency")[0], graph.descriptors_[:5],
                        graph.region_saliency_[:5], graph.centrality_[:5], search=est.index_)
    # batching over images does not change anything
    Xb = ObjectSaliency(n_neighbors=4, batch_size=2).fit_transform(X)
    for a, b in zip(Xt.field("saliency"), Xb.field("saliency")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # the floor on feature saliency: the function's maps, image by image
    Xf = ObjectSaliency(n_neighbors=4, min_saliency=0.3, batch_size=4).fit_transform(X)
    for A, F, S in zip(maps, X.field("feature_saliency"), Xf.field("saliency")):
        expected = object_saliency(A, F, graph.descriptors_, graph.region_saliency_,
                                   graph.centrality_, whitening=whitening, n_neighbors=4,
                                   min_saliency=0.3)
        np.testing.assert_allclose(S, expected, rtol=1e-4, atol=1e-7)
        assert not S[F <= 0.3 * F.max()].any()


def test_repeated_pattern_beats_unique_pattern():
    """A pattern seen in many database images outweighs one seen once."""
    rng = np.random.default_rng(0)
    c = 12
    common = np.zeros(c, np.float32)
    common[[0, 1, 2]] = [2.0, 1.0, 1.5]
    rare = np.zeros(c, np.float32)
    rare[[6, 7, 8]] = [2.0, 1.5, 1.0]
    database = []
    for k in range(12):
        A = np.zeros((8, 8, c), np.float32)
        A[rng.integers(0, 3), rng.integers(0, 3)] = common * rng.uniform(0.9, 1.1)
        unique = np.zeros(c, np.float32)
        unique[[9 + k % 3, 3 + k % 3]] = rng.uniform(1, 2, 2)
        A[rng.integers(5, 8), rng.integers(5, 8)] = unique
        database.append(A)
    database[0][6, 1] = rare
    front = Pipeline([("fs", FeatureSaliency()),
                      ("egm", EGMRegionDetector(tau=0.0, rho=1.0, sigma=0.7)),
                      ("pool", RegionMaxPooler()), ("graph", CentralityGraph(n_neighbors=5))])
    front.fit(database)
    query = np.zeros((6, 6, c), np.float32)
    query[1, 1] = common
    query[4, 4] = rare * (np.linalg.norm(common) / np.linalg.norm(rare))
    Xq = front.transform([query])
    F = Xq.field("feature_saliency")[0]
    assert F[1, 1] == pytest.approx(F[4, 4], rel=1e-5)  # per-image saliency cannot tell
    S = ObjectSaliency(patch_size=1, n_neighbors=5).fit(Xq).transform(Xq).field("saliency")[0]
    assert S[1, 1] > 2 * S[4, 4] > 0


def test_discovery_concentrates_saliency_on_recurring_objects():
    maps, labels, boxes = make_object_maps(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_os_egm(region_whitening=LearnedWhitening(n_components=32, shrinkage=0.1))
        pipe.fit(maps)
        X = pipe[:-2].transform(maps)
    fs = [saliency_precision(F, b) for F, b, y in zip(X.field("feature_saliency"), boxes, labels)
          if y >= 0]
    os_ = [saliency_precision(S, b) for S, b, y in zip(X.field("saliency"), boxes, labels)
           if y >= 0]
    assert np.mean(os_) > 2 * np.mean(fs)
    assert np.mean(np.greater(os_, fs)) > 0.9


def test_transform_does_not_refit_and_reproduces_database():
    maps, _, _ = make_object_maps(n_objects=4, n_views=4, n_distractors=4, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_os_egm(region_whitening=LearnedWhitening(n_components=16))
        D = pipe.fit_transform(maps)
        graph = pipe.named_steps["graph"]
        centrality = graph.centrality_.copy()
        D2 = pipe.transform(maps)
        D3 = pipe.transform([maps[3], maps[0]])
    assert graph.centrality_ is not None and np.array_equal(graph.centrality_, centrality)
    np.testing.assert_allclose(D2, D, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(D3, D[[3, 0]], rtol=1e-5, atol=1e-6)


def test_missing_graph_is_a_clear_error():
    X = FeatureSaliency().fit_transform(make_maps(2))
    with pytest.raises(ValueError, match="needs a fitted CentralityGraph"):
        ObjectSaliency().fit(X)


def test_dimension_mismatch_is_a_clear_error():
    maps = make_maps(6, n_channels=16)
    front = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector(tau=0.2, rho=1.0)),
                      ("pool", RegionMaxPooler()), ("whiten", LearnedWhitening(n_components=4)),
                      ("graph", CentralityGraph(n_neighbors=3))])
    X = front.fit_transform(maps)
    no_whitening = MapCollection(maps).with_fields(
        feature_saliency=X.field("feature_saliency")).with_context(graph=X.context["graph"])
    with pytest.raises(ValueError, match="dimension 16 .* have 4"):
        ObjectSaliency().fit_transform(no_whitening)


def _front_collection(n_components=8):
    maps, _, _ = make_object_maps(n_objects=4, n_views=4, n_distractors=4, n_channels=32,
                                  random_state=2)
    front = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector(tau=0.2, rho=1.0)),
                      ("pool", RegionMaxPooler()),
                      ("whiten", LearnedWhitening(n_components=n_components)),
                      ("graph", CentralityGraph(n_neighbors=5, algorithm="brute"))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return front.fit_transform(maps)


def test_exact_search_threads_and_batches_agree():
    X = _front_collection()
    expected = ObjectSaliency(n_neighbors=6).fit_transform(X).field("saliency")
    for params in (dict(algorithm="brute"), dict(n_jobs=2, batch_size=3),
                   dict(algorithm="brute", n_jobs=2, batch_size=1)):
        got = ObjectSaliency(n_neighbors=6, **params).fit_transform(X).field("saliency")
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_bfloat16_search_gives_the_float32_maps():
    X = _front_collection()
    expected = ObjectSaliency(n_neighbors=6, precision="float32").fit_transform(X)
    got = ObjectSaliency(n_neighbors=6, precision="bfloat16").fit_transform(X)
    for a, b in zip(got.field("saliency"), expected.field("saliency")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_maps_equal_cpu_maps():
    X = _front_collection()
    expected = ObjectSaliency(n_neighbors=6).fit_transform(X).field("saliency")
    got = ObjectSaliency(n_neighbors=6, device="cuda").fit_transform(X).field("saliency")
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


@pytest.mark.slow
def test_nndescent_search_is_close_to_exact():
    """The approximate search (numba compiles it once per process: slow) against exact."""
    X = _front_collection()
    exact = np.concatenate([np.ravel(S) for S in
                            ObjectSaliency(n_neighbors=6).fit_transform(X).field("saliency")])
    os_ = ObjectSaliency(n_neighbors=6, algorithm="nndescent", epsilon=0.2, random_state=0)
    approx = np.concatenate([np.ravel(S) for S in os_.fit_transform(X).field("saliency")])
    assert os_.index_ is not None
    assert np.corrcoef(exact, approx)[0, 1] > 0.99
    np.testing.assert_array_equal(exact == 0, approx == 0)


def test_whole_pipeline_on_a_torch_device_matches_the_numpy_loops():
    # every batched stage (FS, both EGMs, pooling, aggregation) on torch's CPU device,
    # against the default NumPy loops: the same descriptors end to end
    from sklearn_salreg.pipelines import on_device

    maps, _, _ = make_object_maps(n_objects=4, n_views=4, n_distractors=4, random_state=2)
    make = lambda: make_os_egm(  # noqa: E731
        region_whitening=LearnedWhitening(n_components=16), sub_levels=2, random_state=0,
        aggregation=dict(pooling="sum", saliency_exponent=2.0, weighting="mass"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = make().fit_transform(maps)
        pipe = on_device(make(), "cpu")
        assert pipe.get_params()["egm__device"] == "cpu"
        got = pipe.fit_transform(maps)
        back = on_device(pipe, None)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert back.get_params()["fs__device"] is None and back.get_params()["graph__device"] is None


# -- patch descriptors in torch batches (the GPU path, run here on the CPU) ---------------

from sklearn.decomposition import PCA  # noqa: E402

from sklearn_salreg.saliency import patch_descriptors_batch  # noqa: E402


@pytest.mark.parametrize("patch_size", [1, 2, 3, 4])
def test_patch_descriptors_batch_equals_the_numpy_function(patch_size):
    rng = np.random.default_rng(patch_size)
    maps = [np.maximum(rng.normal(size=(5, 7, 12)), 0).astype(np.float32) for _ in range(3)]
    masks = [rng.random((5, 7)) > 0.3 for _ in range(3)]
    got = patch_descriptors_batch(maps, patch_size, masks)
    expected = np.concatenate([patch_descriptors(A, patch_size, m) for A, m in zip(maps, masks)])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    # whitened: a LearnedWhitening in torch, any other transformer through NumPy
    whitening = LearnedWhitening(n_components=6).fit(expected)
    np.testing.assert_allclose(patch_descriptors_batch(maps, patch_size, masks, whitening),
                               whitening.transform(expected), rtol=1e-4, atol=1e-5)
    pca = PCA(n_components=4).fit(expected)
    np.testing.assert_allclose(patch_descriptors_batch(maps, patch_size, masks, pca),
                               pca.transform(expected), rtol=1e-4, atol=1e-5)


def test_patch_descriptors_batch_errors():
    maps = [np.ones((3, 4, 2), np.float32), np.ones((4, 3, 2), np.float32)]
    with pytest.raises(ValueError, match=r"image 1: map shape \(4, 3, 2\) differs"):
        patch_descriptors_batch(maps)
    with pytest.raises(ValueError, match=r"one \(3, 4\) mask per map"):
        patch_descriptors_batch(maps[:1], masks=[np.ones((4, 3), bool)])


def test_torch_patch_path_gives_the_numpy_maps():
    # device="cpu": the torch path (the GPU's) on the CPU gives the maps of device=None
    maps, _, _ = make_object_maps(n_objects=4, n_views=4, n_distractors=4, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_os_egm(region_whitening=LearnedWhitening(n_components=16))
        pipe.fit(maps)
        X = pipe[:5].transform(maps + [maps[0][:7, :9]])  # a second shape in the batch
        expected = pipe.named_steps["os"].transform(X).field("saliency")
        got = pipe.named_steps["os"].set_params(device="cpu").transform(X).field("saliency")
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6 * max(b.max(), 1e-12))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_pipeline_equals_cpu_pipeline():
    from sklearn_salreg.pipelines import on_device

    maps, _, _ = make_object_maps(n_objects=4, n_views=4, n_distractors=4, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu = make_os_egm(region_whitening=LearnedWhitening(n_components=16), random_state=0)
        gpu = on_device(make_os_egm(region_whitening=LearnedWhitening(n_components=16),
                                    random_state=0), "cuda")
        np.testing.assert_allclose(gpu.fit_transform(maps), cpu.fit_transform(maps),
                                   rtol=1e-3, atol=1e-4)
        # fitted on the GPU, used on the CPU after a pickle round trip
        import pickle

        back = on_device(pickle.loads(pickle.dumps(gpu)), None)
        np.testing.assert_allclose(back.transform(maps[:4]), cpu.transform(maps[:4]),
                                   rtol=1e-3, atol=1e-4)
