"""Per-image stages composed into MAC, R-MAC and FS.EGM pipelines."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline

from sklearn_salreg import (EGMRegionDetector, EmptySaliencyWarning, FeatureSaliency,
                            MapCollection, RegionAggregator, RegionMaxPooler,
                            UniformRegionDetector, WholeMapDetector, uniform_regions)
from sklearn_salreg.datasets import make_maps


def unit(v):
    return v / np.linalg.norm(v)


def test_mac_is_global_max_pooling():
    maps = make_maps(5)
    D = make_pipeline(WholeMapDetector(), RegionAggregator()).fit(maps).transform(maps)
    expected = np.stack([unit(A.max(axis=(0, 1))) for A in maps])
    np.testing.assert_allclose(D, expected, rtol=1e-5)


def test_rmac_is_sum_over_grid():
    maps = make_maps(4)
    D = make_pipeline(UniformRegionDetector(), RegionAggregator()).fit_transform(maps)
    for A, d in zip(maps, D):
        total = sum(unit(A[y0:y1, x0:x1].max(axis=(0, 1)))
                    for y0, x0, y1, x1 in uniform_regions(*A.shape[:2]))
        np.testing.assert_allclose(d, unit(total), rtol=1e-5)


def fs_egm():
    return Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector()),
                     ("pool", RegionMaxPooler()), ("agg", RegionAggregator())])


def test_fs_egm_pipeline_returns_unit_descriptors():
    maps = make_maps(6, n_channels=32)
    pipe = fs_egm().fit(maps)
    D = pipe.transform(maps)
    assert D.shape == (6, 32) and D.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=1e-5)
    # fit_transform of the database equals transform after fit
    np.testing.assert_allclose(clone(pipe).fit_transform(maps), D, rtol=1e-6)


def test_all_zero_map_falls_back_to_whole_map_with_warning():
    maps = make_maps(3)
    maps.insert(1, np.zeros((5, 6, 16), np.float32))
    with pytest.warns(EmptySaliencyWarning, match=r"images \[1\]"):
        D = fs_egm().fit_transform(maps)
    assert np.isfinite(D).all()
    assert not D[1].any()  # an all-zero map has the all-zero descriptor (documented)
    assert np.linalg.norm(D[[0, 2, 3]], axis=1) == pytest.approx(1.0)


def test_query_box_replaces_detection():
    maps = make_maps(3)
    box = [1, 2, 4, 5]
    X = MapCollection(maps, boxes=[box, None, None])
    Xt = make_pipeline(FeatureSaliency(), EGMRegionDetector()).fit_transform(X)
    assert Xt.field("regions")[0].tolist() == [box]
    D = make_pipeline(FeatureSaliency(), EGMRegionDetector(), RegionAggregator()).fit_transform(X)
    np.testing.assert_allclose(D[0], unit(maps[0][1:4, 2:5].max(axis=(0, 1))), rtol=1e-5)
    grid = UniformRegionDetector().fit_transform(X).field("regions")[0]
    assert (grid[:, [0, 1]] >= [1, 2]).all() and (grid[:, [2, 3]] <= [4, 5]).all()
    assert WholeMapDetector().fit_transform(X).field("regions")[0].tolist() == [box]
    ignored = WholeMapDetector(use_boxes=False).fit_transform(X).field("regions")[0]
    assert ignored.tolist() == [[0, 0, *maps[0].shape[:2]]]


def test_bad_query_box_names_the_image():
    maps = make_maps(3)
    X = MapCollection(maps, boxes=[None, None, [0, 0, 99, 2]])
    with pytest.raises(ValueError, match=r"image 2: query box \[0, 0, 99, 2\]"):
        WholeMapDetector().fit_transform(X)


def test_os_egm4_subregions_inside_detections():
    maps = make_maps(3)
    X = make_pipeline(FeatureSaliency(), EGMRegionDetector()).fit_transform(maps)
    X4 = EGMRegionDetector(sub_levels=2).fit_transform(X)
    for plain, sub in zip(X.field("regions"), X4.field("regions")):
        assert len(sub) > len(plain)
        assert {tuple(b) for b in plain.tolist()} <= {tuple(b) for b in sub.tolist()}


def test_pipeline_memory_caches_early_stages(tmp_path):
    maps = make_maps(6)
    memory = joblib.Memory(tmp_path, verbose=0)
    pipe = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector()),
                     ("agg", RegionAggregator())], memory=memory)
    D1 = pipe.fit_transform(maps)
    D2 = pipe.set_params(egm__sigma=1.5).fit_transform(maps)
    D3 = pipe.set_params(egm__sigma=2.5).fit_transform(maps)
    np.testing.assert_allclose(D1, D3)
    assert D2.shape == D1.shape
    # three fits, but only one FS result and two EGM results were ever computed:
    # the third fit found both of its early stages in the cache
    cached = list(tmp_path.rglob("output.pkl"))
    assert len(cached) == 3


def test_parallel_pipeline_matches_sequential():
    maps = make_maps(9)
    seq = fs_egm().fit_transform(maps)
    par = fs_egm().set_params(fs__n_jobs=2, egm__n_jobs=2, pool__n_jobs=2,
                              agg__n_jobs=2).fit_transform(maps)
    np.testing.assert_array_equal(seq, par)


def test_channel_mismatch_between_fit_and_transform():
    pipe = fs_egm().fit(make_maps(3, n_channels=16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"image 0: .*8 channels, expected 16"):
            pipe.transform(make_maps(3, n_channels=8))


def test_grid_search_over_saliency_parameters_on_maps(tmp_path):
    """GridSearchCV as a user writes it; n_jobs=2 and a cache give the same results."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from sklearn_salreg.model_selection import make_map_scorer
    from sklearn_salreg.pipelines import make_fs_egm
    from sklearn_salreg.datasets import make_object_maps

    maps, labels, _ = make_object_maps(n_objects=5, n_views=4, n_distractors=4, shape=(12, 16),
                                       n_channels=32, random_state=0)
    grid = {"egm__rho": [1.0, 5.0], "egm__sigma": [1.0, 2.5]}
    results = []
    for n_jobs, memory in ((1, None), (2, None), (1, str(tmp_path))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = GridSearchCV(make_fs_egm(memory=memory), grid, scoring=make_map_scorer(),
                                  cv=StratifiedKFold(2), n_jobs=n_jobs).fit(maps, labels)
        results.append(search.cv_results_)
    for other in results[1:]:
        np.testing.assert_array_equal(results[0]["mean_test_score"], other["mean_test_score"])
        assert results[0]["params"] == other["params"]
    assert np.isfinite(results[0]["mean_test_score"]).all()
