"""Retrieval dataset loaders on the real ground truth files, and the built-in benchmark."""

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from sklearn_salreg.datasets import load_retrieval_dataset, make_cluttered_instances


def shared_data():
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not root.is_dir() and os.environ.get("SALREG_SHARED_DATA"):
        root = Path(os.environ["SALREG_SHARED_DATA"])
    if not (root / "oxford5k" / "gnd_oxford5k.pkl").is_file():
        pytest.skip("shared retrieval data (gnd_oxford5k.pkl) not available")
    return root


# -- Oxford5k / Paris6k from the real ground truth --------------------------------------
def test_oxford5k_with_its_ten_real_images():
    root = shared_data()
    with pytest.warns(UserWarning, match="missing images dropped"):
        data = load_retrieval_dataset("oxford5k", root, missing="drop")
    assert len(data.images) == 10 and all(os.path.isfile(p) for p in data.images)
    # The ten images present are the query images of queries 45 to 54.
    assert len(data.queries) == 10
    with open(root / "oxford5k" / "gnd_oxford5k.pkl", "rb") as f:
        raw = pickle.load(f)
    assert data.query_names == raw["qimlist"][45:55]
    np.testing.assert_allclose(data.query_boxes, [raw["gnd"][q]["bbx"] for q in range(45, 55)])
    # Database indices are renumbered to the ten images kept.
    for q, g in enumerate(data.gnd):
        names = {data.names[i] for i in g["ok"]}
        expected = {raw["imlist"][i] for i in raw["gnd"][45 + q]["ok"]} & set(data.names)
        assert names == expected
        assert data.names[data.query_index[q]] == data.query_names[q]
    assert data.images[data.query_index[0]] == data.queries[0]


def test_missing_images_raise_by_default():
    with pytest.raises(FileNotFoundError, match=r"5053 image files of 'oxford5k' are missing"):
        load_retrieval_dataset("oxford5k", shared_data())


def test_full_lists_without_checking_the_disk():
    root = shared_data()
    if not (root / "paris6k" / "gnd_paris6k.pkl").is_file():
        pytest.skip("shared Paris6k ground truth not available")
    for name, n_images in (("oxford5k", 5063), ("paris6k", 6392)):
        data = load_retrieval_dataset(name, root, missing="ignore")
        assert (len(data.images), len(data.queries), len(data.gnd)) == (n_images, 55, 55)
        assert data.images[0].endswith(os.path.join(name, "jpg", data.names[0] + ".jpg"))
        assert data.query_boxes.shape == (55, 4)
        assert (data.query_boxes[:, 2] > data.query_boxes[:, 0]).all()
        assert set(data.gnd[0]) == {"ok", "junk"} and data.gnd[0]["ok"].dtype == np.int64
        assert (data.query_index >= 0).all()  # Oxford / Paris queries are database images
        # The dataset folder itself works as root too.
        assert load_retrieval_dataset(name, root / name, missing="ignore").names == data.names


def test_revisited_layout(tmp_path):
    # roxford5k: same layout, labels easy / hard / junk. Built from the real Oxford file.
    root = shared_data()
    with open(root / "oxford5k" / "gnd_oxford5k.pkl", "rb") as f:
        raw = pickle.load(f)
    revisited = {"imlist": raw["imlist"], "qimlist": raw["qimlist"][:3],
                 "gnd": [{"bbx": g["bbx"], "easy": g["ok"][:5], "hard": g["ok"][5:],
                          "junk": g["junk"]} for g in raw["gnd"][:3]]}
    (tmp_path / "roxford5k").mkdir()
    with open(tmp_path / "roxford5k" / "gnd_roxford5k.pkl", "wb") as f:
        pickle.dump(revisited, f)
    data = load_retrieval_dataset("roxford5k", tmp_path, missing="ignore")
    assert set(data.gnd[0]) == {"easy", "hard", "junk"} and len(data.queries) == 3


def test_instre_names_with_folders_and_extensions(tmp_path):
    folder = tmp_path / "instre"
    (folder / "jpg" / "INSTRE-S1" / "01a_book").mkdir(parents=True)
    shutil.copy(Path(__file__), folder / "jpg" / "INSTRE-S1" / "01a_book" / "001.jpg")
    cfg = {"imlist": ["INSTRE-S1/01a_book/001.jpg"], "qimlist": ["INSTRE-S1/01a_book/001.jpg"],
           "gnd": [{"bbx": [1, 2, 30, 40], "ok": [0]}]}
    with open(folder / "gnd_instre.pkl", "wb") as f:
        pickle.dump(cfg, f)
    data = load_retrieval_dataset("instre", tmp_path)
    assert data.images == [str(folder / "jpg" / "INSTRE-S1" / "01a_book" / "001.jpg")]
    assert data.query_index.tolist() == [0]


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'oxford105k'"):
        load_retrieval_dataset("oxford105k", tmp_path)
    with pytest.raises(FileNotFoundError, match="gnd_paris6k.pkl"):
        load_retrieval_dataset("paris6k", tmp_path)


# -- the built-in cluttered benchmark -----------------------------------------------------
SMALL = dict(n_objects=6, n_views=3, n_distractors=4, image_size=(120, 160))


def test_cluttered_instances_shapes_labels_and_boxes():
    data = make_cluttered_instances(**SMALL, random_state=0)
    n = 6 * 3 + 4
    assert data.images.shape == (n, 120, 160, 3) and data.images.dtype == np.uint8
    assert np.bincount(data.labels + 1).tolist() == [4] + [3] * 6
    has_object = data.labels >= 0
    assert np.isnan(data.boxes[~has_object]).all() and np.isfinite(data.boxes[has_object]).all()
    x1, y1, x2, y2 = data.boxes[has_object].T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 160).all() and (y2 <= 120).all()
    assert (x2 > x1).all() and (y2 > y1).all()
    # Longer side 8-25 % of 160 px, up to sqrt(2) wider once rotated.
    long_side = np.maximum(x2 - x1, y2 - y1)
    assert (long_side >= 0.08 * 160 - 2).all() and (long_side <= 0.25 * 160 * 1.42 + 2).all()
    assert data.labels[data.query_indices].tolist() == list(range(6))
    np.testing.assert_array_equal(data.query_boxes, data.boxes[data.query_indices])
    for k, (q, g) in enumerate(zip(data.query_indices, data.gnd)):
        assert len(g["ok"]) == 2 and (data.labels[g["ok"]] == k).all() and q not in g["ok"]
        assert g["junk"].tolist() == [q]
    assert len(data.object_sources) == 6 and "objects" in data.DESCR


def test_cluttered_instances_are_deterministic():
    a = make_cluttered_instances(**SMALL, random_state=3)
    b = make_cluttered_instances(**SMALL, random_state=3)
    c = make_cluttered_instances(**SMALL, random_state=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.images, c.images)


def test_cluttered_objects_differ_from_backgrounds():
    # Objects and scenes come from disjoint photos: object sources are never scene photos.
    data = make_cluttered_instances(n_objects=40, n_views=2, n_distractors=0,
                                    image_size=64, random_state=0)
    sources = {name for name, _ in data.object_sources}
    assert not sources & {"china", "flower", "motorcycle_left", "motorcycle_right", "brick",
                          "grass", "gravel"}
    assert len(sources) >= 10  # objects are spread over many photos
    regions = [(name, region) for name, region in data.object_sources]
    assert len(set(regions)) == 40


def test_cluttered_parameters_are_checked():
    with pytest.raises(ValueError, match="n_views must be an integer >= 2"):
        make_cluttered_instances(n_views=1)
    with pytest.raises(ValueError, match="object_scale"):
        make_cluttered_instances(object_scale=(0.3, 0.1))
    with pytest.raises(ValueError, match="exceeds"):
        make_cluttered_instances(n_objects=10_000, image_size=64)
