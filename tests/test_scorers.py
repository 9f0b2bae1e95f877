"""Tests of sklearn_salreg.model_selection: mAP scorers in grid searches."""

import pickle

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer

from sklearn_salreg.metrics import label_gnd, mean_average_precision, revisited_map
from sklearn_salreg.model_selection import make_gnd_scorer, make_map_scorer
from sklearn_salreg.search import Diffusion, KNNRetriever


def objects(n_objects=12, per_object=8, d=24, noise=0.8, seed=0):
    """Images as descriptors: an object signal in a few dimensions, clutter in all."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_objects), per_object)
    signal = np.zeros((n_objects, d))
    signal[:, :6] = 3 * rng.normal(size=(n_objects, 6))
    X = signal[y] + noise * rng.normal(size=(len(y), d))
    return X, y


def pipeline():
    return Pipeline([
        # Stands in for the map stages: turns the input into a float32 array.
        ("as_array", FunctionTransformer(lambda X: np.asarray(X, dtype=np.float32))),
        ("pca", PCA(n_components=4)),
        ("norm", Normalizer()),
    ])


@pytest.mark.parametrize("diffusion", [None, Diffusion(n_neighbors=5, n_query_neighbors=3)])
def test_grid_search_serial_and_parallel_agree(diffusion):
    X, y = objects()
    grid = {"pca__n_components": [2, 6, 20]}
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(pipeline(), grid, cv=StratifiedKFold(3),
                              scoring=make_map_scorer(diffusion), n_jobs=n_jobs).fit(X, y)
        results.append(search.cv_results_)
    for key in ("mean_test_score", "rank_test_score", "split0_test_score"):
        np.testing.assert_array_equal(results[0][key], results[1][key])
    assert np.all((results[0]["mean_test_score"] > 0) & (results[0]["mean_test_score"] <= 1))
    # The objects span 6 dimensions: 2 components lose some, 20 bring in clutter.
    assert results[0]["rank_test_score"][1] == 1


def test_label_scorer_equals_the_metric():
    X, y = objects()
    pipe = pipeline().fit(X, y)
    D = pipe.transform(X)
    ranks = KNNRetriever().fit(D).rank(D)
    assert make_map_scorer()(pipe, X, y) == pytest.approx(mean_average_precision(ranks, label_gnd(y)))
    diffusion = Diffusion(n_neighbors=5)
    ranks = Diffusion(n_neighbors=5).fit(D).rank(D)
    assert make_map_scorer(diffusion)(pipe, X, y) == pytest.approx(
        mean_average_precision(ranks, label_gnd(y)))
    assert not hasattr(diffusion, "knn_")  # the scorer fits a clone
    # Pickles (for joblib workers) and says what it is.
    again = pickle.loads(pickle.dumps(make_map_scorer(diffusion)))
    assert again(pipe, X, y) == make_map_scorer(diffusion)(pipe, X, y)
    assert "Diffusion" in repr(again)


def test_label_scorer_errors():
    X, y = objects()
    pipe = pipeline().fit(X, y)
    with pytest.raises(ValueError, match="labels"):
        make_map_scorer()(pipe, X, None)
    with pytest.raises(ValueError, match="one label per image"):
        make_map_scorer()(pipe, X, y[:5])
    with pytest.raises(ValueError, match="no transform"):
        make_map_scorer()(KNNRetriever().fit(X), X, y)
    with pytest.raises(ValueError, match="diffusion"):
        make_map_scorer(diffusion="yes")
    assert np.isnan(make_map_scorer()(pipe, X, np.arange(len(y))))  # no positives at all


def test_gnd_scorer_with_separate_queries_and_with_query_indices():
    X, y = objects()
    pipe = pipeline().fit(X, y)
    D = pipe.transform(X)
    query_indices = np.arange(0, len(X), 8)
    gnd = [{"ok": np.flatnonzero(y == y[q]), "junk": [q]} for q in query_indices]
    ranks = KNNRetriever().fit(D).rank(D[query_indices])
    expected = mean_average_precision(ranks, gnd)
    by_index = make_gnd_scorer(gnd, query_indices=query_indices)
    assert by_index(pipe, X) == pytest.approx(expected)
    # Separate query inputs go through the same transform.
    by_input = make_gnd_scorer(gnd, queries=X[query_indices])
    assert by_input(pipe, X) == pytest.approx(expected)
    # With diffusion fitted on the database descriptors.
    diffused = Diffusion(n_neighbors=5).fit(D).rank(D[query_indices])
    scorer = make_gnd_scorer(gnd, queries=X[query_indices], diffusion=Diffusion(n_neighbors=5))
    assert scorer(pipe, X) == pytest.approx(mean_average_precision(diffused, gnd))
    # In a grid search over one predefined split holding the whole database.
    search = GridSearchCV(pipeline(), {"pca__n_components": [2, 6]},
                          cv=[(np.arange(len(X)), np.arange(len(X)))], scoring=by_index).fit(X, y)
    assert search.best_score_ >= expected - 1e-12


def test_gnd_scorer_revisited_protocols_and_errors():
    X, y = objects()
    pipe = pipeline().fit(X, y)
    D = pipe.transform(X)
    query_indices = np.arange(0, len(X), 8)
    gnd = []
    for q in query_indices:
        same = np.setdiff1d(np.flatnonzero(y == y[q]), [q])
        gnd.append({"easy": same[:4], "hard": same[4:], "junk": [q]})
    ranks = KNNRetriever().fit(D).rank(D[query_indices])
    expected = revisited_map(ranks, gnd)
    for protocol in ("easy", "medium", "hard"):
        scorer = make_gnd_scorer(gnd, query_indices=query_indices, protocol=protocol)
        assert scorer(pipe, X) == pytest.approx(expected[protocol])
    assert make_gnd_scorer(gnd, query_indices=query_indices)(pipe, X) == expected["medium"]
    with pytest.raises(ValueError, match="protocol"):
        make_gnd_scorer(gnd, query_indices=query_indices, protocol="classic")
    with pytest.raises(ValueError, match="exactly one"):
        make_gnd_scorer(gnd)
    with pytest.raises(ValueError, match="entries"):
        make_gnd_scorer(gnd, query_indices=query_indices[:3])
    with pytest.raises(ValueError, match="whole database"):
        make_gnd_scorer(gnd, query_indices=query_indices)(pipe, X[:50])


def test_refit_scores_the_split_as_its_own_database():
    """refit=True fits a fresh copy on the scored images (PCA learned there), except
    the whitening learned from labels, which is kept as fitted."""
    from sklearn_salreg import LearnedWhitening
    from sklearn_salreg.model_selection import refit_on_database

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(8), 5)
    X = rng.normal(size=(8, 16))[y] + 0.6 * rng.normal(size=(40, 16))
    train, test = np.arange(20), np.arange(20, 40)
    pipe = Pipeline([("pca", PCA(n_components=4)), ("norm", Normalizer())]).fit(X[train])
    scorer = make_map_scorer(refit=True)
    refitted = Pipeline([("pca", PCA(n_components=4)), ("norm", Normalizer())]).fit(X[test])
    assert scorer(pipe, X[test], y[test]) == pytest.approx(
        make_map_scorer()(refitted, X[test], y[test]))
    assert "refit=True" in repr(scorer)

    supervised = Pipeline([("w", LearnedWhitening(n_components=4))]).fit(X[train], y[train])
    fresh = refit_on_database(supervised).fit(X[test])
    np.testing.assert_array_equal(fresh.named_steps["w"].estimator.projection_,
                                  supervised.named_steps["w"].projection_)
    unsupervised = Pipeline([("w", LearnedWhitening(n_components=4))]).fit(X[train])
    fresh = refit_on_database(unsupervised).fit(X[test])
    assert not np.allclose(fresh.named_steps["w"].mean_, unsupervised.named_steps["w"].mean_)
