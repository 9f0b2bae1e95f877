"""Multi-scale description: the normalised sum of a fitted pipeline's descriptors."""

import numpy as np
import pytest

from sklearn_salreg.multiscale import SCALES, multiscale_transform
from sklearn_salreg.pipelines import make_mac


def _scales(seed=0):
    rng = np.random.default_rng(seed)
    big = [rng.random((8, 10, 6), dtype=np.float32) for _ in range(4)]
    return big, [A[::2, ::2] for A in big]


def test_multiscale_is_the_normalised_sum_of_the_scales():
    big, small = _scales()
    mac = make_mac().fit(big)
    Y = multiscale_transform(mac, [big, small])
    a, b = mac.transform(big), mac.transform(small)
    expected = a / np.linalg.norm(a, axis=1, keepdims=True) + b / np.linalg.norm(
        b, axis=1, keepdims=True)
    np.testing.assert_allclose(Y, expected / np.linalg.norm(expected, axis=1, keepdims=True),
                               rtol=1e-5)
    assert Y.dtype == np.float32
    # one scale is the pipeline itself; a zero weight drops a scale
    np.testing.assert_allclose(multiscale_transform(mac, [big]), a, rtol=1e-5)
    np.testing.assert_allclose(multiscale_transform(mac, [big, small], weights=[1, 0]), a,
                               rtol=1e-5)
    assert SCALES[0] == 1.0 and SCALES[1] == pytest.approx(0.7071, abs=1e-4)


def test_multiscale_errors():
    big, small = _scales()
    mac = make_mac().fit(big)
    with pytest.raises(ValueError, match="at least one scale"):
        multiscale_transform(mac, [])
    with pytest.raises(ValueError, match="scale 1 holds 3"):
        multiscale_transform(mac, [big, small[:3]])
    with pytest.raises(ValueError, match="weights"):
        multiscale_transform(mac, [big, small], weights=[1.0])


def test_multiscale_report_compares_one_scale_with_the_sum():
    from sklearn_salreg import MapCollection
    from sklearn_salreg.experiments.report import multiscale_report
    from sklearn_salreg.datasets import make_object_maps

    maps, labels, boxes = make_object_maps(n_objects=4, n_views=3, n_distractors=4,
                                           n_channels=16, random_state=0)
    labels = np.asarray(labels)
    boxes = [b[0] if len(b) else None for b in boxes]
    half = [A[::2, ::2] for A in maps]
    half_boxes = [None if b is None else np.maximum(np.asarray(b) // 2, [0, 0, 1, 1])
                  for b in boxes]
    half_boxes = [None if b is None else np.r_[b[:2], np.maximum(b[2:], b[:2] + 1)]
                  for b in half_boxes]
    queries = np.array([np.flatnonzero(labels == k)[0] for k in range(4)])
    rows = multiscale_report([(MapCollection(maps), boxes), (MapCollection(half), half_boxes)],
                             labels, queries, train_objects=[0, 1], test_objects=[2, 3],
                             configurations=("MAC",), verbose=0)
    (single, multi), = [rows["MAC"]["box"]]
    assert set(rows["MAC"]) == {"whole", "box"}
    assert 0 <= single <= 1 and 0 <= multi <= 1
    # one scale: the sum is the single scale
    rows1 = multiscale_report([(MapCollection(maps), boxes)], labels, queries,
                              train_objects=[0, 1], test_objects=[2, 3],
                              configurations=("MAC",), verbose=0)
    for a, b in rows1["MAC"].values():
        assert a == pytest.approx(b)
