"""The box protocol's levers: how a query box is described, and its scorer."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_salreg import FeatureSaliency, MapCollection
from sklearn_salreg.detection import (QUERY_REGIONS, BoxQueryEGMDetector, EGMRegionDetector,
                                      add_subregions, query_box_regions)
from sklearn_salreg.metrics import mean_average_precision
from sklearn_salreg.model_selection import (QUERY_BOX_FIELD, box_queries, make_box_scorer,
                                            with_query_boxes)
from sklearn_salreg.pipelines import make_mac, make_os_egm
from sklearn_salreg.search import KNNRetriever
from sklearn_salreg.datasets import make_object_maps


def _blob_map():
    S = np.zeros((10, 12), np.float32)
    S[3:5, 6:9] = 1.0
    return S


def test_query_box_regions_each_way():
    S, box = _blob_map(), [1, 4, 9, 11]
    assert query_box_regions(S, box, "box").tolist() == [[1, 4, 9, 11]]
    assert query_box_regions(S, box, "detect").tolist() == [[3, 6, 5, 9]]
    assert query_box_regions(S, box, "box+detect").tolist() == [[1, 4, 9, 11], [3, 6, 5, 9]]
    grid = query_box_regions(S, box, "grid", levels=2)
    np.testing.assert_array_equal(grid, add_subregions(np.array([box]), 2))
    assert grid.tolist()[0] == box and len(grid) > 1
    # every region lies inside the box
    for how in QUERY_REGIONS:
        r = query_box_regions(S, box, how)
        assert (r[:, 0] >= 1).all() and (r[:, 1] >= 4).all()
        assert (r[:, 2] <= 9).all() and (r[:, 3] <= 11).all()


def test_query_box_regions_fall_back_to_the_box_and_check_input():
    S = _blob_map()
    # nothing salient inside the box: the box itself
    assert query_box_regions(S, [6, 0, 10, 4], "detect").tolist() == [[6, 0, 10, 4]]
    assert query_box_regions(S, [6, 0, 10, 4], "box+detect").tolist() == [[6, 0, 10, 4]]
    with pytest.raises(ValueError, match="how must be"):
        query_box_regions(S, [1, 1, 4, 4], "crop")
    with pytest.raises(ValueError, match="inside the saliency map"):
        query_box_regions(S, [1, 1, 14, 4], "box")
    with pytest.raises(ValueError, match="inside the saliency map"):
        query_box_regions(S, [3, 1, 3, 4], "box")


def test_box_query_detector_leaves_database_images_as_egm_does():
    maps, _, boxes = make_object_maps(n_objects=2, n_views=2, n_distractors=2, n_channels=16,
                                      random_state=0)
    X = FeatureSaliency().fit_transform(
        MapCollection(maps, boxes=[None, None] + [b[0] if len(b) else None for b in boxes[2:]]))
    plain = EGMRegionDetector().fit(X).transform(X).field("regions")
    for how in QUERY_REGIONS:
        det = BoxQueryEGMDetector(query_regions=how).fit(X)
        regions = det.transform(X).field("regions")
        for i in range(2):  # no box: the same regions as EGMRegionDetector
            np.testing.assert_array_equal(regions[i], plain[i])
        for i in range(2, len(X)):
            box = X.box(i)
            if box is None:
                continue
            S = X.field("saliency")[i]
            expected = query_box_regions(S, box, how, rho=5.0, tau=0.4, sigma=2.5)
            np.testing.assert_array_equal(regions[i], expected)
    # "box" is EGMRegionDetector's behaviour, sub-regions included (OS.EGM-4)
    np.testing.assert_array_equal(
        np.concatenate(BoxQueryEGMDetector(sub_levels=2).fit(X).transform(X).field("regions")),
        np.concatenate(EGMRegionDetector(sub_levels=2).fit(X).transform(X).field("regions")))
    # without use_boxes, a box is ignored whatever query_regions says
    ignored = BoxQueryEGMDetector(query_regions="detect", use_boxes=False).fit(X).transform(X)
    for a, b in zip(ignored.field("regions"),
                    EGMRegionDetector(use_boxes=False).fit(X).transform(X).field("regions")):
        np.testing.assert_array_equal(a, b)


def test_os_egm_final_detector_takes_the_query_lever():
    pipe = make_os_egm(egm=dict(query_regions="grid"))
    assert isinstance(pipe.named_steps["egm"], BoxQueryEGMDetector)
    assert pipe.named_steps["egm"].query_regions == "grid"
    assert clone(pipe).set_params(egm__query_regions="detect").named_steps["egm"].query_regions \
        == "detect"


def _boxed_data():
    maps, labels, boxes = make_object_maps(n_objects=4, n_views=4, n_distractors=4,
                                           n_channels=32, random_state=0)
    qboxes = [b[0] if len(b) else None for b in boxes]
    return with_query_boxes(MapCollection(maps), qboxes), np.asarray(labels), qboxes


def test_box_scorer_equals_the_metric_by_hand():
    X, labels, qboxes = _boxed_data()
    pipe = make_mac()
    score = make_box_scorer()(pipe, X, labels)
    # by hand: the database whole, each object image also a query from its box
    fitted = clone(pipe)
    D = fitted.fit_transform(MapCollection(list(X)))
    index = np.array([i for i, b in enumerate(qboxes) if b is not None])
    Q = fitted.transform(MapCollection([X[i] for i in index], boxes=[qboxes[i] for i in index]))
    ranks = KNNRetriever().fit(D).rank(Q, n_results=len(D))
    gnd = [{"ok": np.setdiff1d(np.flatnonzero(labels == labels[q]), [q]), "junk": np.array([q])}
           for q in index]
    assert score == pytest.approx(mean_average_precision(ranks, gnd))
    found, queries = box_queries(X)
    np.testing.assert_array_equal(found, index)
    assert [queries.box(i).tolist() for i in range(len(queries))] == \
        [np.asarray(qboxes[i]).tolist() for i in index]


def test_box_scorer_in_a_grid_search_and_errors():
    X, labels, _ = _boxed_data()
    groups = np.where(labels >= 0, labels, 10 + np.arange(len(labels)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(make_os_egm(random_state=0),
                              {"egm__query_regions": ["box", "grid"]},
                              scoring=make_box_scorer(), cv=GroupKFold(2), error_score="raise")
        search.fit(X, labels, groups=groups)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    with pytest.raises(ValueError, match="with_query_boxes"):
        make_box_scorer()(make_mac(), MapCollection(list(X)), labels)
    with pytest.raises(ValueError, match="labels"):
        make_box_scorer()(make_mac(), X, None)
    with pytest.raises(ValueError, match="query boxes"):
        with_query_boxes(X, [None])
    none = with_query_boxes(MapCollection(list(X)), [None] * len(X))
    assert np.isnan(make_box_scorer()(make_mac(), none, labels))
    assert X.has_field(QUERY_BOX_FIELD) and X[[0, 1]].has_field(QUERY_BOX_FIELD)
