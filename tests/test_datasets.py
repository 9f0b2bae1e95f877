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


def test_cluttered_instances_several_queries_per_object():
    one = make_cluttered_instances(**SMALL, random_state=0)
    data = make_cluttered_instances(**{**SMALL, "n_views": 4}, n_queries=3, random_state=0)
    assert len(data.query_indices) == 18 and len(set(data.query_indices.tolist())) == 18
    assert np.bincount(data.labels[data.query_indices]).tolist() == [3] * 6
    for q, g in zip(data.query_indices, data.gnd):
        assert len(g["ok"]) == 3 and (data.labels[g["ok"]] == data.labels[q]).all()
        assert q not in g["ok"] and g["junk"].tolist() == [q]
    # the first views of each object, in image order; n_queries=1 is the default
    first = [np.flatnonzero(data.labels == k)[:3].tolist() for k in range(6)]
    assert data.query_indices.reshape(6, 3).tolist() == first
    assert one.query_indices.tolist() == [np.flatnonzero(one.labels == k)[0] for k in range(6)]
    with pytest.raises(ValueError, match="n_queries"):
        make_cluttered_instances(**SMALL, n_queries=3, random_state=0)


def test_instre_like_size_follows_instre_statistics():
    from sklearn_salreg.datasets import INSTRE_LIKE, INSTRE_STATISTICS

    assert INSTRE_LIKE["n_distractors"] == 0  # every INSTRE image shows an object
    assert INSTRE_LIKE["n_queries"] == INSTRE_STATISTICS["queries_per_class"]
    assert INSTRE_LIKE["n_views"] >= 10 * INSTRE_LIKE["n_queries"]  # tens of views
    assert 2000 <= INSTRE_LIKE["n_objects"] * INSTRE_LIKE["n_views"] <= 5000


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


def _nearest_scene_ratio(images, blocks=8):
    """Distance from the closest pair of images to the typical pair, in [0, 1].

    Images are compared as blocks x blocks thumbnails of mean colours, by mean absolute
    difference, the smaller of as-is and mirrored. Near 0: some scene recurs in two
    images; near 1: every image is as far from its nearest one as from any other.
    """
    n, H, W, _ = images.shape

    def thumbs(x):
        x = x[:, :H // blocks * blocks, :W // blocks * blocks].astype(np.float32) / 255
        return x.reshape(n, blocks, H // blocks, blocks, W // blocks, 3).mean((2, 4)).reshape(n, -1)

    a, b = thumbs(images), thumbs(images[:, :, ::-1])
    D = np.minimum(np.abs(a[:, None] - a[None]).mean(-1), np.abs(a[:, None] - b[None]).mean(-1))
    off_diagonal = D[~np.eye(n, dtype=bool)]
    return off_diagonal.min() / np.median(off_diagonal)


@pytest.mark.parametrize("seed", [0, 1])
def test_cluttered_scenes_do_not_recur(seed):
    # Only objects may recur. Among 40 object-free images, no two scenes are alike: the
    # closest pair is nearly as different as a typical pair. The first version of the
    # benchmark (scene="photo", kept for reproducibility) fails this check, since its
    # scenes are large crops of only seven photos.
    kwargs = dict(n_objects=1, n_views=2, n_distractors=40, image_size=(96, 128),
                  random_state=seed)
    data = make_cluttered_instances(**kwargs)
    assert _nearest_scene_ratio(data.images[data.labels < 0]) > 0.5  # measured 0.64-0.75
    assert "unique" in data.DESCR
    old = make_cluttered_instances(**kwargs, scene="photo")
    assert _nearest_scene_ratio(old.images[old.labels < 0]) < 0.4  # measured 0.11-0.31


def test_cluttered_objects_recur_across_views():
    # The object itself does recur: its views, cut out at their boxes, are closer to each
    # other than to same-sized cut-outs of other objects' views (in spite of rotation,
    # scale, recolouring and occlusion): mean colours over a coarse grid.
    data = make_cluttered_instances(n_objects=12, n_views=3, n_distractors=0,
                                    image_size=(240, 320), occlusion=0.0, max_rotation=10,
                                    random_state=0)

    def thumb(i):
        x1, y1, x2, y2 = data.boxes[i].astype(int)
        crop = data.images[i, y1:y2, x1:x2].astype(np.float32) / 255
        rows, cols = np.array_split(np.arange(y2 - y1), 3), np.array_split(np.arange(x2 - x1), 3)
        return np.array([crop[r][:, c].mean((0, 1)) for r in rows for c in cols]).ravel()

    T = np.array([thumb(i) for i in range(len(data.labels))])
    D = np.abs(T[:, None] - T[None]).mean(-1)
    same = data.labels[:, None] == data.labels[None]
    np.fill_diagonal(same, False)
    other = data.labels[:, None] != data.labels[None]
    assert np.median(D[same]) < 0.6 * np.median(D[other])


def test_cluttered_photo_scenes_stay_available():
    data = make_cluttered_instances(**SMALL, scene="photo", random_state=0)
    mosaic = make_cluttered_instances(**SMALL, random_state=0)
    assert data.images.shape == mosaic.images.shape and "photo" in data.DESCR
    # Same objects, labels and boxes: only the scenes differ.
    np.testing.assert_array_equal(data.labels, mosaic.labels)
    assert not np.array_equal(data.images, mosaic.images)


def test_cluttered_parameters_are_checked():
    with pytest.raises(ValueError, match="n_views must be an integer >= 2"):
        make_cluttered_instances(n_views=1)
    with pytest.raises(ValueError, match="object_scale"):
        make_cluttered_instances(object_scale=(0.3, 0.1))
    with pytest.raises(ValueError, match="exceeds"):
        make_cluttered_instances(n_objects=10_000, image_size=64)
    with pytest.raises(ValueError, match="scene must be one of"):
        make_cluttered_instances(scene="photos")
