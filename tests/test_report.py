"""The quality report's helpers (the report itself runs in benchmarks, not in tests)."""

import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from sklearn_salreg import LearnedWhitening, MapCollection
from sklearn_salreg.pipelines import make_mac, make_os_egm
from sklearn_salreg.experiments.report import TUNING_GRID, with_trained_whitening
from sklearn_salreg.datasets import make_object_maps


def _data():
    maps, labels, _ = make_object_maps(n_objects=3, n_views=4, n_distractors=3, n_channels=24,
                                       random_state=0)
    return MapCollection(maps), np.asarray(labels)


def test_region_whitening_is_learned_from_labels_and_frozen():
    maps, labels = _data()
    pipe = make_os_egm(region_whitening=LearnedWhitening(n_components=6), random_state=0)
    trained = with_trained_whitening(pipe, maps[:12], labels[:12])
    step = trained.named_steps["whiten"]
    assert isinstance(step, FrozenEstimator)
    assert step.estimator.supervised_ and step.estimator.n_pairs_ > 0
    projection = step.estimator.projection_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained.fit(maps[12:])  # a database of other images: the whitening stays
    np.testing.assert_array_equal(trained.named_steps["whiten"].estimator.projection_,
                                  projection)
    assert not hasattr(pipe.named_steps["whiten"], "projection_")  # the input is untouched


def test_global_whitening_of_the_aggregator_is_learned_from_labels():
    maps, labels = _data()
    pipe = make_mac(whitening=LearnedWhitening(n_components=4))
    trained = with_trained_whitening(pipe, maps, labels)
    whitening = trained.named_steps["agg"].whitening
    assert isinstance(whitening, FrozenEstimator) and whitening.estimator.supervised_
    assert trained.fit_transform(maps[:5]).shape == (5, 4)


def test_tuning_grid_starts_from_the_papers_levers():
    """Each lever's first value in the grid's first part is the paper's."""
    first = TUNING_GRID[0]
    assert first["egm__rho"][0] == 2.0 and first["egm__tau"][0] == 0.0
    assert first["agg__weighting"][0] == "sum" and first["agg__pooling"][0] == "max"
    assert first["agg__saliency_exponent"][0] == 0.0


def test_object_groups_keep_objects_together_and_spread_distractors():
    from sklearn_salreg.experiments.report import object_groups

    groups = object_groups([3, 3, -1, 0, -1, 0, -1])
    assert groups[0] == groups[1] == 3 and groups[3] == groups[5] == 0
    assert len({groups[2], groups[4], groups[6]} | {0, 3}) == 5


def test_report_sizes():
    from sklearn_salreg.datasets import INSTRE_LIKE
    from sklearn_salreg.experiments.report import SIZES

    assert SIZES["instre"] == INSTRE_LIKE
    assert SIZES["quick"] == dict(n_objects=40, n_views=6, n_distractors=80, n_queries=1)


def test_diffusion_for_clips_its_parameters():
    from sklearn_salreg.experiments.table1 import diffusion_for

    d = diffusion_for(30, 50, alpha=0.8, truncate=20)
    assert (d.n_neighbors, d.n_query_neighbors, d.alpha, d.truncate) == (29, 10, 0.8, 20)
    assert diffusion_for(30, 5, truncate=40).truncate is None  # not below the database
    assert diffusion_for(30, 5, truncate=3).truncate == 5  # at least the query's neighbours
    assert diffusion_for(30).alpha == 0.99 and diffusion_for(30).truncate is None


def test_choose_diffusion_picks_the_best_training_map_per_protocol():
    from sklearn_salreg.experiments.table1 import diffusion_for
    from sklearn_salreg.metrics import label_gnd, mean_average_precision
    from sklearn_salreg.model_selection import with_query_boxes
    from sklearn_salreg.experiments.report import choose_diffusion

    maps, labels, boxes = make_object_maps(n_objects=3, n_views=4, n_distractors=3,
                                           n_channels=24, random_state=0)
    labels = np.asarray(labels)
    X = with_query_boxes(MapCollection(maps), [b[0] if len(b) else None for b in boxes])
    grid = {"n_neighbors": (2, 5), "alpha": (0.5, 0.9), "truncate": (None,)}
    chosen = choose_diffusion(make_mac(), X, labels, grid=grid, verbose=0)
    assert set(chosen) == {"whole", "box"}
    # the whole-image choice is the best of the grid, scored by hand
    D = make_mac().fit_transform(X)
    gnd = label_gnd(labels)
    scores = {(k, a): mean_average_precision(
        diffusion_for(len(D), k, alpha=a).fit(D).rank(D, n_results=len(D)), gnd)
        for k in grid["n_neighbors"] for a in grid["alpha"]}
    best = chosen["whole"]
    assert scores[(best["n_neighbors"], best["alpha"])] == pytest.approx(max(scores.values()))


def test_diffusion_for_passes_the_method_on_and_keeps_the_papers_default():
    from sklearn_salreg.experiments.table1 import diffusion_for
    from sklearn_salreg.search import Diffusion

    assert Diffusion().method == "query" and diffusion_for(30).method == "query"
    d = diffusion_for(30, 5, alpha=0.5, truncate=12, method="decoupled")
    assert (d.method, d.n_neighbors, d.alpha, d.truncate) == ("decoupled", 5, 0.5, 12)


def test_diffusion_grid_offers_both_methods_and_truncates_the_decoupled_one():
    from sklearn.model_selection import ParameterGrid

    from sklearn_salreg.experiments.table1 import diffusion_for
    from sklearn_salreg.experiments.report import DIFFUSION_GRID

    candidates = list(ParameterGrid(DIFFUSION_GRID))
    assert {p["method"] for p in candidates} == {"query", "decoupled"}
    # untruncated, the decoupled diffusions fill an n x n matrix: never on a large database
    assert all(p["truncate"] is not None for p in candidates if p["method"] == "decoupled")
    X = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    for params in candidates:  # every candidate builds a valid diffusion
        assert diffusion_for(len(X), **params).fit(X).rank(X[:2], n_results=5).shape == (2, 5)


def test_choose_diffusion_walks_a_list_of_grids_and_keeps_the_best_candidate():
    from sklearn_salreg.experiments.table1 import diffusion_for
    from sklearn_salreg.metrics import label_gnd, mean_average_precision
    from sklearn_salreg.model_selection import with_query_boxes
    from sklearn_salreg.experiments.report import choose_diffusion

    maps, labels, boxes = make_object_maps(n_objects=3, n_views=4, n_distractors=3,
                                           n_channels=24, random_state=0)
    labels = np.asarray(labels)
    X = with_query_boxes(MapCollection(maps), [b[0] if len(b) else None for b in boxes])
    # the best candidate (query-time, k = 5, alpha = 0.9) is in the second grid
    grid = [{"method": ["decoupled"], "n_neighbors": [2, 5], "alpha": [0.9], "truncate": [8]},
            {"method": ["query"], "n_neighbors": [2, 5], "alpha": [0.5, 0.9],
             "truncate": [None]}]
    chosen = choose_diffusion(make_mac(), X, labels, grid=grid, verbose=0)
    D = make_mac().fit_transform(X)
    gnd = label_gnd(labels)
    candidates = [dict(method="query", n_neighbors=k, alpha=a, truncate=None)
                  for k in (2, 5) for a in (0.5, 0.9)]
    candidates += [dict(method="decoupled", n_neighbors=k, alpha=0.9, truncate=8) for k in (2, 5)]
    scores = [mean_average_precision(
        diffusion_for(len(D), **p).fit(D).rank(D, n_results=len(D)), gnd) for p in candidates]
    assert chosen["whole"] in candidates
    assert scores[candidates.index(chosen["whole"])] == pytest.approx(max(scores))
    assert chosen["box"]["method"] in ("query", "decoupled")


def test_every_grid_names_parameters_of_the_os_egm_pipeline():
    from sklearn.model_selection import ParameterGrid

    from sklearn_salreg.experiments.report import (BOX_TUNING_GRID, WHOLE_WHITENING_GRID,
                                                   _os_egm_base)

    for params in ParameterGrid([*TUNING_GRID, *BOX_TUNING_GRID, WHOLE_WHITENING_GRID]):
        _os_egm_base().set_params(**params)  # raises on a misspelt parameter
        # the box levers only act on an unsupervised region whitening
        assert params.get("whiten__unsupervised", "pca") == "pca" or \
            params["whiten__supervised"] is False
