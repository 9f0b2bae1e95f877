"""Region graph and Katz centrality: the linear algebra, the search, the estimator."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_salreg import MapCollection
from sklearn_salreg.discovery import CentralityGraph, katz_centrality
from sklearn_salreg.neighbors import ExactIndex, NNDescentIndex, mutual_knn_graph, normalize_graph
from sklearn_salreg.whitening import LearnedWhitening


def _unit(X):
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def cnn_like_descriptors(n, d=512, n_objects=200, share_on_objects=0.6, seed=0):
    """Region descriptors that look like max-pooled CNN activations: non-negative,
    ~20 % non-zero, L2-normalised; most regions are noisy views of recurring objects
    (sharing their active channels), the rest is unique clutter."""
    rng = np.random.default_rng(seed)
    objects = np.maximum(rng.normal(-0.8, 1.0, size=(n_objects, d)), 0)
    n_obj = int(n * share_on_objects)
    which = rng.integers(0, n_objects, n_obj)
    active = objects[which] > 0
    views = objects[which] + 0.5 * rng.normal(size=(n_obj, d)) * active
    views += np.maximum(rng.normal(-1.2, 0.5, size=(n_obj, d)), 0)  # stray activations
    clutter = rng.normal(-0.8, 1.0, size=(n - n_obj, d))
    return _unit(np.maximum(np.concatenate([views, clutter]), 0))


def _recall(found, exact):
    k = exact.shape[1]
    hits = (found[:, :, None] == exact[:, None, :]).any(axis=2).sum(axis=1)
    return float(hits.mean() / k)


# -- the linear algebra ------------------------------------------------------------


def test_centrality_solves_system_and_matches_dense_solve(rng):
    V = _unit(rng.normal(size=(60, 8)))
    Wn = normalize_graph(mutual_knn_graph(V, n_neighbors=5))
    g, info = katz_centrality(Wn, alpha=0.99, tol=1e-8, max_iter=500)
    A = np.eye(60) - 0.99 * Wn.toarray().astype(np.float64)
    b = np.full(60, 0.01)
    assert info["converged"] and info["residual"] < 1e-8
    assert np.linalg.norm(b - A @ g) / np.linalg.norm(b) < 1e-8
    np.testing.assert_allclose(g, np.linalg.solve(A, b), rtol=1e-6)


def test_isolated_vertex_normalisation_and_centrality():
    W = sp.csr_array(np.array([[0, 2, 0], [2, 0, 0], [0, 0, 0]], dtype=np.float32))
    Wn = normalize_graph(W)
    assert np.isfinite(Wn.toarray()).all()  # 0/0 = 0 on the isolated row
    np.testing.assert_allclose(Wn.toarray(), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    g, info = katz_centrality(Wn, alpha=0.9, tol=1e-10)
    assert g[2] == pytest.approx(0.1)
    np.testing.assert_allclose(g[:2], 1.0, rtol=1e-8)



def test_device_is_validated():
    V = _unit(np.random.default_rng(0).normal(size=(30, 4)))
    with pytest.raises(ValueError, match="not a torch device"):
        CentralityGraph(n_neighbors=3, device="gpu0").fit(V)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            CentralityGraph(n_neighbors=3, device="cuda").fit(V)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_search_and_graph_equal_cpu(rng):
    V = _unit(rng.normal(size=(3000, 32)))
    U = _unit(rng.normal(size=(500, 32)))
    for precision in ("float32", "bfloat16"):
        cpu = ExactIndex(V, precision).query(U, 10)
        gpu = ExactIndex(V, precision, device="cuda").query(U, 10)
        np.testing.assert_array_equal(gpu[1], cpu[1])
        np.testing.assert_allclose(gpu[0], cpu[0], atol=1e-5)
    cpu_graph = CentralityGraph(n_neighbors=5, algorithm="brute").fit(V)
    gpu_graph = CentralityGraph(n_neighbors=5, algorithm="brute", device="cuda").fit(V)
    np.testing.assert_allclose(gpu_graph.centrality_, cpu_graph.centrality_, rtol=1e-5)
    loaded = pickle.loads(pickle.dumps(gpu_graph.set_params(device="cpu")))
    np.testing.assert_array_equal(loaded.query(U, 3)[1], cpu_graph.query(U, 3)[1])


# -- the estimator -----------------------------------------------------------------


def _region_collection(rng, counts, d=16):
    maps = [np.zeros((2, 2, 3), dtype=np.float32) for _ in counts]
    descs = [_unit(rng.random((m, d))) if m else np.zeros((0, d), np.float32) for m in counts]
    sal = [rng.random(m).astype(np.float32) for m in counts]
    return MapCollection(maps).with_fields(region_descriptors=descs, region_saliency=sal)


def test_fit_on_collection_and_transform(rng):
    X = _region_collection(rng, [4, 0, 6, 5])
    graph = CentralityGraph(n_neighbors=3)
    out = graph.fit_transform(X)
    assert out.context["graph"] is graph
    assert graph.descriptors_.shape == (15, 16) and graph.descriptors_.dtype == np.float32
    np.testing.assert_array_equal(graph.image_index_, np.repeat([0, 2, 3], [4, 6, 5]))
    saliency = np.concatenate(X.field("region_saliency"))
    np.testing.assert_array_equal(graph.region_saliency_, saliency)
    assert graph.centrality_.shape == (15,) and graph.algorithm_ == "brute"
    assert graph.residual_ < graph.tol
    # transform refits nothing and leaves the fields alone.
    before = graph.centrality_.copy()
    graph.transform(X[:2])
    np.testing.assert_array_equal(graph.centrality_, before)


def test_recurring_regions_are_more_central(rng):
    # Half the regions are views of 10 objects, half clutter (ratio 1.43 when written).
    V = cnn_like_descriptors(600, d=64, n_objects=10, share_on_objects=0.5, seed=1)
    V = LearnedWhitening(n_components=32).fit_transform(V)
    g = CentralityGraph(n_neighbors=10).fit(V).centrality_
    assert g[:300].mean() > 1.25 * g[300:].mean()


def test_zero_descriptor_is_an_isolated_vertex(rng):
    V = _unit(rng.normal(size=(20, 5)))
    V[7] = 0
    graph = CentralityGraph(n_neighbors=4, alpha=0.99).fit(V)
    assert graph.graph_[[7], :].nnz == 0 and graph.graph_[:, [7]].nnz == 0
    assert graph.centrality_[7] == pytest.approx(0.01, rel=1e-6)
    sims, _ = graph.query(V[[7]], k=3)
    np.testing.assert_array_equal(sims, 0)


def test_fewer_regions_than_neighbors_clips_k(rng):
    V = _unit(rng.normal(size=(4, 5)))
    with pytest.warns(UserWarning, match="using n_neighbors=3"):
        graph = CentralityGraph(n_neighbors=10).fit(V)
    assert graph.n_neighbors_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = CentralityGraph(n_neighbors=1)
        with pytest.warns(UserWarning):
            single.fit(V[:1])
    assert single.centrality_ == pytest.approx([0.01])


def test_query_batched_exact(rng):
    V = _unit(rng.normal(size=(300, 12)))
    graph = CentralityGraph(n_neighbors=5, algorithm="brute").fit(V)
    U = _unit(rng.normal(size=(50, 12)))
    sims, indices = graph.query(U, k=4)
    np.testing.assert_array_equal(indices, np.argsort(-(U @ V.T), axis=1)[:, :4])
    assert graph.query(U[:0], k=4)[0].shape == (0, 4)
    assert graph.query(U[:0], k=4)[1].dtype == np.int64


def test_brute_round_trip(rng):
    V = _unit(rng.normal(size=(100, 8)))
    graph = CentralityGraph(n_neighbors=5).fit(V)
    U = _unit(rng.normal(size=(9, 8)))
    again = pickle.loads(pickle.dumps(graph))
    for a, b in zip(graph.query(U, 3), again.query(U, 3)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(again.centrality_, graph.centrality_)


def test_errors(rng):
    V = _unit(rng.normal(size=(30, 8)))
    graph = CentralityGraph(n_neighbors=3).fit(V)
    with pytest.raises(ValueError, match="dimension 8"):
        graph.query(rng.random((2, 5)), k=3)
    with pytest.raises(ValueError, match=r"k=31 must be an integer in \[1, 30\]"):
        graph.query(V[:2], k=31)
    with pytest.raises(TypeError, match="MapCollection"):
        graph.transform(V)
    with pytest.raises(InvalidParameterError, match="alpha"):
        CentralityGraph(alpha=1.0).fit(V)
    with pytest.raises(InvalidParameterError, match="algorithm"):
        CentralityGraph(algorithm="kd_tree").fit(V)
    with pytest.raises(ValueError, match="NaN"):
        CentralityGraph().fit(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="no regions at all"):
        CentralityGraph().fit(_region_collection(rng, [0, 0]))
    X = _region_collection(rng, [3, 2])
    with pytest.raises(ValueError, match="has no field 'region_saliency'"):
        CentralityGraph().fit(MapCollection(list(X)).with_fields(
            region_descriptors=X.field("region_descriptors")))
    with pytest.raises(ValueError, match=r"n_neighbors=5 must be in \[1, n - 1\]"):
        mutual_knn_graph(V[:3], n_neighbors=5)


def test_katz_reports_non_convergence(rng):
    V = _unit(rng.normal(size=(200, 4)))
    with pytest.warns(Warning, match="raise max_iter"):
        graph = CentralityGraph(n_neighbors=10, max_iter=1, tol=1e-12).fit(V)
    assert graph.n_iter_ == 1


# -- NN-descent (numba compiles pynndescent on first use: ~35 s per process) ---------


@pytest.fixture(scope="module")
def nndescent_setup():
    raw = cnn_like_descriptors(4000)
    whitened = LearnedWhitening(n_components=256).fit_transform(raw)
    graphs = {
        name: CentralityGraph(n_neighbors=10, algorithm="nndescent", random_state=0).fit(V)
        for name, V in [("raw", raw), ("whitened", whitened)]
    }
    return {"raw": raw, "whitened": whitened}, graphs


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["raw", "whitened"])
def test_nndescent_recall_against_exact(nndescent_setup, kind):
    data, graphs = nndescent_setup
    V, approx = data[kind], graphs[kind]
    exact = CentralityGraph(n_neighbors=10, algorithm="brute").fit(V)
    graph_recall = _recall(*[g.index_.neighbor_graph(10)[1] for g in (approx, exact)])
    rng = np.random.default_rng(1)
    U = _unit(V[:1000] + 0.02 * rng.normal(size=(1000, V.shape[1])))
    query_recall = _recall(approx.query(U, 10)[1], exact.query(U, 10)[1])
    g_corr = np.corrcoef(approx.centrality_, exact.centrality_)[0, 1]
    print(f"\n{kind}: k-NN graph recall@10 {graph_recall:.3f}, query recall@10 "
          f"{query_recall:.3f}, centrality correlation {g_corr:.3f}")
    assert graph_recall > 0.9 and query_recall > 0.9 and g_corr > 0.95


@pytest.mark.slow
def test_nndescent_pickle_and_joblib_round_trip(nndescent_setup):
    data, graphs = nndescent_setup
    graph = graphs["raw"]
    assert isinstance(graph.index_, NNDescentIndex)
    U = data["raw"][::50]
    copies = [pickle.loads(pickle.dumps(graph))]
    buffer = io.BytesIO()
    joblib.dump(graph, buffer)
    buffer.seek(0)
    copies.append(joblib.load(buffer))
    expected = graph.query(U, 5)
    for copy in copies:
        for a, b in zip(copy.query(U, 5), expected):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(copy.centrality_, graph.centrality_)


def test_pipeline_whitening_then_graph_serves_object_saliency(rng):
    from sklearn.pipeline import make_pipeline

    X = _region_collection(rng, [6, 0, 8, 7], d=24)
    pipe = make_pipeline(LearnedWhitening(n_components=8), CentralityGraph(n_neighbors=4))
    out = pipe.fit_transform(X)
    whitening, graph = out.context["whitening"], out.context["graph"]
    np.testing.assert_array_equal(graph.descriptors_, np.concatenate(out.field("region_descriptors")))
    # What object saliency does: whiten the patch descriptors, look up the database.
    patches = rng.random((30, 24)).astype(np.float32)
    sims, indices = graph.query(whitening.transform(patches), k=5)
    assert indices.shape == (30, 5) and (np.diff(sims, axis=1) <= 0).all()


def test_auto_algorithm_keeps_the_exact_work_of_50000_regions_in_512_dimensions():
    from sklearn_salreg.discovery._centrality import _auto_algorithm

    assert _auto_algorithm(50_000, 512) == "brute"
    assert _auto_algorithm(50_001, 512) == "nndescent"
    assert _auto_algorithm(141_000, 64) == "brute"  # 50,000 * sqrt(8) = 141,421
    assert _auto_algorithm(142_000, 64) == "nndescent"
    assert _auto_algorithm(35_000, 1280) == "nndescent"


# --- growing databases: CentralityGraph.partial_fit and pipelines.add_images -------------

def _unit_rows(rng, n, d=12, centres=4):
    C = rng.normal(size=(centres, d))
    V = C[rng.integers(0, centres, n)] + 0.4 * rng.normal(size=(n, d))
    return (V / np.linalg.norm(V, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("n_old, n_new", [(200, 2), (200, 30), (50, 120), (4, 10)])
def test_partial_fit_equals_a_fit_on_all_regions(n_old, n_new):
    rng = np.random.default_rng(n_old + n_new)
    V = _unit_rows(rng, n_old + n_new)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_neighbors clipped for the smallest case
        full = CentralityGraph(n_neighbors=8, algorithm="brute", tol=1e-10).fit(V)
        grown = CentralityGraph(n_neighbors=8, algorithm="brute", tol=1e-10).fit(V[:n_old])
        grown.partial_fit(V[n_old:])
    np.testing.assert_array_equal(grown.neighbors_, full.neighbors_)
    np.testing.assert_allclose(grown.neighbor_similarities_, full.neighbor_similarities_,
                               atol=1e-6)
    # the same edges; weights and centrality within float32 rounding of the similarities
    # (products of blocks of other shapes may round the last bit otherwise)
    np.testing.assert_array_equal(grown.graph_.indices, full.graph_.indices)
    np.testing.assert_array_equal(grown.graph_.indptr, full.graph_.indptr)
    np.testing.assert_allclose(grown.graph_.data, full.graph_.data, rtol=1e-5)
    np.testing.assert_allclose(grown.centrality_, full.centrality_, rtol=1e-5)
    np.testing.assert_array_equal(grown.descriptors_, V)
    np.testing.assert_array_equal(grown.image_index_, np.arange(n_old + n_new))
    assert grown.n_images_ == n_old + n_new
    np.testing.assert_array_equal(grown.query(V[:5], 3)[1], full.query(V[:5], 3)[1])


def test_partial_fit_warm_start_saves_iterations():
    rng = np.random.default_rng(3)
    V = _unit_rows(rng, 2000, d=16, centres=20)
    full = CentralityGraph(n_neighbors=10, algorithm="brute").fit(V)
    grown = CentralityGraph(n_neighbors=10, algorithm="brute").fit(V[:1980]).partial_fit(V[1980:])
    assert grown.n_iter_ < full.n_iter_
    np.testing.assert_allclose(grown.centrality_, full.centrality_, rtol=1e-4)


def test_partial_fit_refuses_what_it_cannot_grow():
    V = _unit_rows(np.random.default_rng(4), 40)
    graph = CentralityGraph(n_neighbors=4, algorithm="brute").fit(V)
    with pytest.raises(ValueError, match="features"):
        graph.partial_fit(V[:3, :5])
    with pytest.raises(ValueError, match="NaN"):
        graph.partial_fit(np.full((2, V.shape[1]), np.nan, np.float32))
    graph.algorithm_ = "nndescent"
    with pytest.raises(ValueError, match="exact search"):
        graph.partial_fit(V[:3])
    # unfitted: partial_fit is fit
    np.testing.assert_array_equal(
        CentralityGraph(n_neighbors=4).partial_fit(V).centrality_,
        CentralityGraph(n_neighbors=4).fit(V).centrality_)


def test_add_images_grows_an_os_egm_pipeline_like_a_refit_with_the_same_whitening():
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    from sklearn_salreg.pipelines import add_images, make_os_egm
    from sklearn_salreg.datasets import make_object_maps
    from sklearn_salreg.whitening import LearnedWhitening

    maps, _, _ = make_object_maps(n_objects=5, n_views=5, n_distractors=5, random_state=6)
    old, new = maps[:27], maps[27:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grown = make_os_egm(region_whitening=LearnedWhitening(n_components=16),
                            graph=dict(n_neighbors=5, algorithm="brute", tol=1e-10))
        grown.fit(old)
        add_images(grown, new)
        # the reference: the same fitted whitening, frozen, and every other step refitted
        whitening = FrozenEstimator(grown.named_steps["whiten"])
        refit = make_os_egm(region_whitening=whitening,
                            graph=dict(n_neighbors=5, algorithm="brute", tol=1e-10)).fit(maps)
        D_grown, D_refit = grown.transform(maps), refit.transform(maps)
    g_grown, g_refit = grown.named_steps["graph"], refit.named_steps["graph"]
    np.testing.assert_array_equal(g_grown.neighbors_, g_refit.neighbors_)
    np.testing.assert_allclose(g_grown.centrality_, g_refit.centrality_, rtol=1e-6)
    np.testing.assert_allclose(D_grown, D_refit, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="CentralityGraph"):
        add_images(clone(grown)[:3], new)


def test_katz_centrality_warm_start_gives_the_same_solution():
    from sklearn_salreg.discovery import katz_centrality

    V = _unit_rows(np.random.default_rng(8), 300)
    Wn = CentralityGraph(n_neighbors=6, algorithm="brute").fit(V).graph_
    cold, cold_info = katz_centrality(Wn, tol=1e-10)
    warm, warm_info = katz_centrality(Wn, tol=1e-10, x0=cold * (1 + 1e-4))
    np.testing.assert_allclose(warm, cold, rtol=1e-8)
    assert warm_info["n_iter"] < cold_info["n_iter"]
    with pytest.raises(ValueError, match="x0"):
        katz_centrality(Wn, x0=np.ones(3))
