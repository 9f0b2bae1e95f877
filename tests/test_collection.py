"""The map collection: indexing, fields, disk backing, resuming a writer."""

import os
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import KFold
from sklearn.utils import _safe_indexing

from sklearn_salreg import MapCollection, MapFile, MapWriter, write_maps
from sklearn_salreg.collection import as_collection, check_boxes


@pytest.fixture
def maps(rng):
    return [rng.random((h, w, 4), dtype=np.float32) for h, w in [(3, 4), (5, 2), (6, 6), (2, 7)]]


def test_indexing(maps):
    X = MapCollection(maps, boxes=[None, [0, 0, 2, 2], None, None])
    assert X.shape == (4,) and len(X) == 4
    np.testing.assert_array_equal(X[1], maps[1])
    np.testing.assert_array_equal(X[-1], maps[-1])
    sub = X[np.array([3, 1])]
    assert len(sub) == 2 and sub.map_shape(0) == (2, 7, 4)
    assert sub.box(1).tolist() == [0, 0, 2, 2] and sub.box(0) is None
    assert len(X[1:3]) == 2 and len(X[np.array([True, False, True, False])]) == 2
    np.testing.assert_array_equal(X[(np.array([2]), Ellipsis)][0], maps[2])
    with pytest.raises(IndexError):
        X[4]


def test_scikit_learn_can_split_it(maps):
    X = MapCollection(maps)
    for train, test in KFold(2).split(X):
        part = _safe_indexing(X, train)
        assert isinstance(part, MapCollection) and len(part) == len(train)


def test_fields_are_aligned_and_regions_invalidate(maps):
    X = MapCollection(maps).with_fields(regions=[np.zeros((1, 4))] * 4,
                                        region_descriptors=[np.ones((1, 4))] * 4)
    sub = X[[2, 0]]
    assert len(sub.field("regions")) == 2
    Y = X.with_fields(regions=[np.ones((1, 4))] * 4)
    assert not Y.has_field("region_descriptors") and X.has_field("region_descriptors")
    with pytest.raises(ValueError, match="no field 'saliency'.*FeatureSaliency"):
        X.field("saliency")
    with pytest.raises(ValueError, match="3 values for 4 images"):
        X.with_fields(saliency=[None] * 3)


def test_context_is_shared_not_copied(maps):
    marker = object()
    X = MapCollection(maps).with_context(graph=marker)
    assert X[[0]].context["graph"] is marker


def test_torch_tensors_are_accepted(maps):
    X = MapCollection([torch.from_numpy(A) for A in maps])
    np.testing.assert_array_equal(X[0], maps[0])


def test_construction_errors(maps):
    with pytest.raises(ValueError, match="shape \\(3, 4, 4\\)"):
        as_collection(maps[0])
    with pytest.raises(ValueError, match="boxes for 4 maps"):
        MapCollection(maps, boxes=[None])
    with pytest.raises(ValueError, match="query box .* outside"):
        MapCollection(maps, boxes=[[0, 0, 9, 9], None, None, None]).box(0)


def test_disk_roundtrip(tmp_path, maps):
    X = MapCollection(maps, boxes=[None, [0, 0, 2, 2], None, None]).save(tmp_path / "m")
    assert isinstance(X._source, MapFile)
    for A, B in zip(maps, X):
        np.testing.assert_array_equal(A, B)
        assert not B.flags.writeable  # a stage cannot modify what it reads
    assert X.box(1).tolist() == [0, 0, 2, 2] and X.box(0) is None
    assert X.map_shape(2) == (6, 6, 4)
    # pickles as a path and an index, not as the data
    assert len(pickle.dumps(X)) < 2000
    Y = pickle.loads(pickle.dumps(X[[3, 0]]))
    np.testing.assert_array_equal(Y[0], maps[3])
    joblib.hash(X)  # what Pipeline(memory=...) does


def test_writer_resumes_after_a_crash(tmp_path, maps):
    folder = tmp_path / "m"
    writer = MapWriter(folder, flush_every=2)
    for k, A in enumerate(maps[:3]):
        writer.append(A, name=f"img{k}")
    # crash: the third map was written but never committed (abort() stops like a crash)
    writer.abort()
    with pytest.warns(UserWarning, match="dropping .* bytes after the last committed map"):
        resumed = MapWriter(folder)
    assert resumed.names == ["img0", "img1"]
    resumed.append(maps[2], name="img2")
    resumed.append(maps[3], name="img3")
    resumed.close()
    X = MapCollection.open(folder)
    assert len(X) == 4 and X._source.names == ["img0", "img1", "img2", "img3"]
    for A, B in zip(maps, X):
        np.testing.assert_array_equal(A, B)
    assert os.path.getsize(folder / "data.f32") == 4 * sum(A.size for A in maps)


def test_write_maps_refuses_to_overwrite(tmp_path, maps):
    write_maps(tmp_path / "m", maps)
    with pytest.raises(FileExistsError):
        write_maps(tmp_path / "m", maps)
    with pytest.raises(FileNotFoundError, match="not a map folder"):
        MapFile(tmp_path / "nothing")


def test_truncated_file_names_the_image(tmp_path, maps):
    write_maps(tmp_path / "m", maps)
    with open(tmp_path / "m" / "data.f32", "r+b") as f:
        f.truncate(10)
    with pytest.raises(ValueError, match="image 1: .*truncated"):
        MapCollection.open(tmp_path / "m")[1]


def test_check_boxes():
    assert check_boxes([1, 2, 3, 4], (5, 5)).tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError, match=r"image 7: box \[0, 0, 6, 1\]"):
        check_boxes([[0, 0, 6, 1]], (5, 5), index=7)
    with pytest.raises(ValueError, match="shape \\(m, 4\\)"):
        check_boxes([[0, 0, 1]], (5, 5))


class _MadeOnAccess:
    """Maps made when indexed, counting how many were made; knows its shapes."""

    def __init__(self, maps):
        self.maps, self.made = maps, 0

    def __len__(self):
        return len(self.maps)

    def __getitem__(self, i):
        self.made += 1
        return self.maps[i]

    def shape_of(self, i):
        return self.maps[i].shape


def test_shape_of_of_a_source_that_makes_maps_spares_making_them():
    from sklearn_salreg import EGMRegionDetector, FeatureSaliency

    rng = np.random.default_rng(0)
    maps = [rng.random((5 + i, 6, 4)).astype(np.float32) for i in range(3)]
    source = _MadeOnAccess(maps)
    X = MapCollection(source)
    assert [X.map_shape(i) for i in range(3)] == [A.shape for A in maps]
    assert source.made == 0
    X = FeatureSaliency().fit_transform(X)  # reads every map once
    made = source.made
    Y = EGMRegionDetector().fit_transform(X)  # detection checks shapes only
    assert source.made == made
    assert len(Y.field("regions")) == 3
