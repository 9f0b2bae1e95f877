"""Feature saliency against an independent computation of its equations (docs/method.rst)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_salreg import FeatureSaliency, feature_saliency
from sklearn_salreg.saliency import channel_weights, normalize_saliency


def reference_fs(A, eps=1e-6):
    """Straight from the formula, one channel and one position at a time."""
    h, w, c = A.shape
    a = [sum(A[y, x, j] != 0 for y in range(h) for x in range(w)) / (h * w) for j in range(c)]
    total = sum(aj + eps for aj in a)
    b = [np.log(total / (aj + eps)) for aj in a]
    F = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            F[y, x] = sum(b[j] * A[y, x, j] for j in range(c))
    norm = np.sqrt((F**2).sum())
    return np.sqrt(F / norm) if norm > 0 else F


def test_matches_reference(rng):
    A = np.maximum(rng.standard_normal((5, 7, 6)), 0).astype(np.float32)
    np.testing.assert_allclose(feature_saliency(A), reference_fs(A.astype(np.float64)),
                               rtol=1e-5)


def test_sparse_channels_weigh_more():
    A = np.zeros((4, 4, 2), np.float32)
    A[:, :, 0] = 1.0  # fires everywhere
    A[0, 0, 1] = 1.0  # fires once
    b = channel_weights(A)
    assert b[1] > b[0]
    F = feature_saliency(A, normalize=None)
    assert F[0, 0] == F.max()


def test_all_zero_map_gives_zero_saliency():
    F = feature_saliency(np.zeros((3, 4, 5), np.float32))
    assert F.shape == (3, 4) and not F.any() and np.isfinite(F).all()


def test_normalisations():
    F = np.array([[3.0, 4.0]])
    np.testing.assert_allclose(normalize_saliency(F, "crow"), np.sqrt(F / 5.0))
    np.testing.assert_allclose(normalize_saliency(F, "max"), F / 4.0)
    np.testing.assert_allclose(normalize_saliency(F, None), F)
    with pytest.raises(ValueError, match="normalize"):
        normalize_saliency(F, "bogus")


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5)),
              elements=st.floats(0, 10, width=32)))
def test_properties(A):
    F = feature_saliency(A)
    assert F.shape == A.shape[:2] and F.dtype == np.float32
    assert np.isfinite(F).all() and (F >= 0).all()
    assert not F[~A.any(axis=2)].any()  # zero wherever the map is zero
    if F.any():
        # CroW: F-hat = (F / ||F||_2) ** (1/2), so the squares of F-hat have unit L2 norm
        np.testing.assert_allclose((F.astype(np.float64) ** 4).sum(), 1.0, rtol=1e-4)


def test_input_checks():
    with pytest.raises(ValueError, match=r"3-D.*\(4, 5\)"):
        feature_saliency(np.ones((4, 5)))
    with pytest.raises(ValueError, match="negative"):
        feature_saliency(-np.ones((2, 2, 2)))


def test_estimator_writes_fields(rng):
    maps = [rng.random((3, 4, 5), dtype=np.float32), rng.random((6, 2, 5), dtype=np.float32)]
    Xt = FeatureSaliency().fit(maps).transform(maps)
    for A, F, S in zip(maps, Xt.field("feature_saliency"), Xt.field("saliency")):
        np.testing.assert_array_equal(F, feature_saliency(A))
        assert S is F


def test_two_d_map_in_collection_names_image():
    maps = [np.ones((3, 3, 2), np.float32), np.ones((3, 3), np.float32)]
    with pytest.raises(ValueError, match=r"image 1: .*3-D.*\(3, 3\)"):
        FeatureSaliency().fit_transform(maps)


# -- the batched torch path ---------------------------------------------------------


@pytest.mark.parametrize("normalize", ["crow", "max", None])
def test_torch_batches_give_the_numpy_maps(normalize):
    rng = np.random.default_rng(3)
    maps = [np.maximum(rng.normal(size=shape), 0).astype(np.float32)
            for shape in [(5, 7, 16), (6, 4, 16), (5, 7, 16), (1, 1, 16)] * 2]
    maps[2][:] = 0  # an all-zero map stays all zero
    maps[3] *= 1e-35  # tiny values: rescaled against underflow, as on the numpy path
    expected = FeatureSaliency(normalize=normalize).fit_transform(maps).field("saliency")
    got = FeatureSaliency(normalize=normalize, device="cpu", batch_size=3).fit_transform(maps)
    for F, E in zip(got.field("feature_saliency"), expected):
        assert F.dtype == np.float32 and F.shape == E.shape
        np.testing.assert_allclose(F, E, rtol=1e-5, atol=1e-6)


def test_torch_path_names_the_bad_image():
    maps = [np.ones((3, 3, 4), np.float32), np.full((3, 3, 4), np.nan, np.float32)]
    with pytest.raises(ValueError, match="image 1"):
        FeatureSaliency(device="cpu").fit_transform(maps)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_maps_equal_cpu_maps():
    rng = np.random.default_rng(0)
    maps = [rng.random((24, 32, 64), dtype=np.float32) for _ in range(10)]
    cpu = FeatureSaliency().fit_transform(maps).field("saliency")
    gpu = FeatureSaliency(device="cuda").fit_transform(maps).field("saliency")
    for a, b in zip(gpu, cpu):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 1200), st.sampled_from([1, 7, 8, 16, 24, 512]), st.integers(0, 2**32 - 1),
       st.floats(0, 1))
def test_positive_counts_by_byte_lanes(n, c, seed, density):
    # the uint64 lane count must equal a plain count, also past 255 rows per lane
    from sklearn_salreg.saliency._feature import _positive_counts

    rng = np.random.default_rng(seed)
    A = (rng.random((n, c)) * (rng.random((n, c)) < density)).astype(np.float32)
    counts = _positive_counts(A)
    assert counts.dtype == np.int32
    np.testing.assert_array_equal(counts, np.count_nonzero(A > 0, axis=0))


def test_positive_counts_of_a_full_column():
    from sklearn_salreg.saliency._feature import _positive_counts

    A = np.zeros((1000, 16), np.float32)
    A[:, 3] = 1.0  # 1000 ones: four lane blocks of at most 255
    assert _positive_counts(A).tolist() == [0, 0, 0, 1000] + [0] * 12


@pytest.mark.parametrize("layout", ["fortran", "permuted channels", "strided"])
def test_any_memory_layout_gives_the_same_map(layout):
    rng = np.random.default_rng(5)
    A = np.maximum(rng.normal(size=(6, 7, 16)), 0).astype(np.float32)
    view = {"fortran": lambda: np.asfortranarray(A),
            "permuted channels": lambda: A[:, :, np.arange(16)],
            "strided": lambda: np.repeat(A, 2, axis=2)[:, :, ::2]}[layout]()
    # equal up to the order of float32 sums (BLAS takes other paths for other layouts)
    np.testing.assert_allclose(feature_saliency(view), feature_saliency(A), rtol=1e-6)
