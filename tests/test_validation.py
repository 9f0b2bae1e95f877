"""One validation for the estimators and their public functions, and known answers for the
cases that once went wrong silently (wrong answers, zeros, NaN, clipped images)."""

import configparser
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from PIL import Image

from sklearn_salreg import (CentralityGraph, EGMRegionDetector, FeatureSaliency,
                            LearnedWhitening, MapCollection, ObjectSaliency,
                            UniformRegionDetector, aggregate_regions, egm_regions,
                            feature_saliency, katz_centrality, mutual_knn_graph, object_saliency,
                            pca_whitening, region_mean, uniform_regions)
from sklearn_salreg.detection import EGMRegionDetector as Detector
from sklearn_salreg.detection._egm import EGM_PARAMETERS
from sklearn_salreg.discovery._graph import KATZ_PARAMETERS
from sklearn_salreg.extraction import ActivationExtractor, box_to_activation, load_image
from sklearn_salreg.metrics import average_precision, mean_average_precision, revisited_map
from sklearn_salreg.pipelines import make_fs_egm, make_mac, make_os_egm
from sklearn_salreg.saliency._feature import FEATURE_SALIENCY_PARAMETERS
from sklearn_salreg.search import Diffusion, diffuse
from sklearn_salreg.utils import l2_normalize
from sklearn_salreg.utils._param_validation import InvalidParameterError
from sklearn_salreg.whitening._functions import WHITENING_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]


def _maps(n=8, shape=(6, 7, 16), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random(shape, dtype=np.float32) ** 4 for _ in range(n)]


# -- one set of constraints, one message ---------------------------------------------------
def _message(call):
    with pytest.raises(InvalidParameterError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("function, call, estimator", [
    ("egm_regions", lambda: egm_regions(np.ones((4, 4)), rho=-1),
     lambda: EGMRegionDetector(rho=-1).fit(_maps(1))),
    ("feature_saliency", lambda: feature_saliency(_maps(1)[0], eps=0),
     lambda: FeatureSaliency(eps=0).fit(_maps(1))),
    ("uniform_regions", lambda: uniform_regions(5, 5, levels=0),
     lambda: UniformRegionDetector(levels=0).fit(_maps(1))),
    ("katz_centrality", lambda: katz_centrality(sp.csr_array((3, 3)), alpha=1),
     lambda: CentralityGraph(alpha=1).fit(None)),
    ("pca_whitening", lambda: pca_whitening(np.eye(3), shrinkage=2),
     lambda: LearnedWhitening(shrinkage=2).fit(np.eye(3))),
    ("object_saliency", lambda: object_saliency(_maps(1)[0], np.ones((6, 7)), np.eye(16),
                                                np.ones(16), np.ones(16), patch_size=0),
     lambda: ObjectSaliency(patch_size=0).fit(_maps(1))),
    ("diffuse", lambda: diffuse(sp.csr_array((2, 2)), np.ones(2), alpha=1),
     lambda: Diffusion(alpha=1).fit(np.eye(2))),
])
def test_function_and_estimator_give_the_same_message(function, call, estimator):
    """A public function and its estimator refuse a bad parameter with one message, the
    caller's name apart."""
    from_function = _message(call)
    from_estimator = _message(estimator)
    name = re.search(r"parameter of (\w+) must", from_estimator).group(1)
    assert from_function == from_estimator.replace(f"of {name} must", f"of {function} must")
    assert isinstance(InvalidParameterError("x"), ValueError)
    assert isinstance(InvalidParameterError("x"), TypeError)


def test_constraints_are_declared_once():
    """The estimators' constraints are the very objects their public functions check."""
    for name in EGM_PARAMETERS:
        assert Detector._parameter_constraints[name] is EGM_PARAMETERS[name]
    for name in FEATURE_SALIENCY_PARAMETERS:
        assert FeatureSaliency._parameter_constraints[name] is FEATURE_SALIENCY_PARAMETERS[name]
    for name in KATZ_PARAMETERS:
        assert CentralityGraph._parameter_constraints[name] is KATZ_PARAMETERS[name]
        assert Diffusion._parameter_constraints[name] is KATZ_PARAMETERS[name]
    for name in WHITENING_PARAMETERS:
        assert LearnedWhitening._parameter_constraints[name] is WHITENING_PARAMETERS[name]


def test_only_one_module_imports_private_sklearn_validation():
    private = re.compile(r"sklearn\.utils\._param_validation|from sklearn\.base import .*_fit_context")
    users = [p.relative_to(ROOT).as_posix() for p in (ROOT / "sklearn_salreg").rglob("*.py")
             if private.search(p.read_text())]
    assert users == ["sklearn_salreg/utils/_param_validation.py"]


def test_installed_scikit_learn_is_within_the_declared_bounds():
    """setup.cfg bounds scikit-learn because a private API is used; CI runs the suite at
    the lowest bound too (.ci/run with SALREG_CI_LOWEST=1)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    spec = next(line.strip() for line in config["options"]["install_requires"].splitlines()
                if line.strip().startswith("scikit-learn"))
    low, high = re.fullmatch(r"scikit-learn>=([\d.]+),<([\d.]+)", spec).groups()
    version = tuple(int(v) for v in re.findall(r"\d+", sklearn.__version__)[:2])
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))[:2]  # noqa: E731
    assert as_tuple(low) <= version < as_tuple(high), (sklearn.__version__, spec)


# -- known answers: numerics -----------------------------------------------------------------
@pytest.mark.parametrize("make", [make_mac, make_fs_egm])
@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_scaled_maps_give_the_same_descriptors(make, scale):
    """Maps scaled by 1e20 or 1e-30 give the descriptors of the unscaled maps (they were
    all zero: the squares of the norm overflowed or underflowed)."""
    maps = _maps()
    expected = make().fit_transform(maps)
    got = make().fit_transform([A * np.float32(scale) for A in maps])
    assert np.abs(expected).sum() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_l2_normalize_is_unchanged_at_ordinary_scales():
    """The fast path is the computation as it was: bit-identical results."""
    X = np.random.default_rng(0).standard_normal((50, 33)).astype(np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
    np.testing.assert_array_equal(l2_normalize(X), X / norms)
    v = X[0].astype(np.float64)
    np.testing.assert_array_equal(l2_normalize(v), v / np.linalg.norm(v))


def test_l2_normalize_extreme_scales_and_zeros():
    X = np.array([[3e30, 4e30], [3e-30, 4e-30], [0, 0], [3e-45, 0]], dtype=np.float32)
    np.testing.assert_allclose(l2_normalize(X), [[0.6, 0.8], [0.6, 0.8], [0, 0], [1, 0]],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="NaN or inf"):
        l2_normalize(np.array([[1.0, np.nan]]))


@pytest.mark.parametrize("X", [np.ones((10, 4)), np.zeros((10, 4)),
                               np.repeat([[1.0, 2.0, 0.0]], 6, axis=0)])
def test_whitening_data_without_variance_is_finite(X):
    """Constant or all-zero rows have no variance: the whitening is a rotation (it gave
    NaN), and whitened training rows are zero."""
    mean, projection = pca_whitening(X)
    assert np.isfinite(projection).all()
    Y = LearnedWhitening().fit(X).transform(X)
    assert np.isfinite(Y).all() and not Y.any()


def test_whitening_rank_deficient_data_is_finite():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2)) @ rng.standard_normal((2, 6))  # rank 2 in 6-D
    Y = LearnedWhitening().fit(X).transform(X)
    assert np.isfinite(Y).all()
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0, rtol=1e-5)


def test_whitening_that_float32_cannot_hold_is_refused_naming_the_cause():
    X = np.random.default_rng(0).standard_normal((20, 3)) * 1e-80
    with pytest.raises(ValueError, match="variance of X is too small"):
        pca_whitening(X)


def test_os_egm_on_identical_maps_is_finite():
    """Identical maps give identical region descriptors: their whitening has no variance.
    OS.EGM failed in the graph with 'contain NaN or inf'; it now gives finite, equal
    descriptors."""
    maps = [_maps(1)[0]] * 8
    G = make_os_egm().fit_transform(maps)
    assert np.isfinite(G).all()
    np.testing.assert_allclose(G, np.repeat(G[:1], 8, axis=0), atol=1e-6)


# -- known answers: public functions that returned wrong answers ------------------------------
def test_mean_average_precision_refuses_repeated_ids():
    """Ranking [1, 1] with positives {1, 2} found one positive, AP 0.5; it returned 1.0."""
    assert mean_average_precision([[1, 3]], [{"ok": [1, 2]}]) == 0.5
    with pytest.raises(ValueError, match="database index 1 is repeated in ranking 0"):
        mean_average_precision([[1, 1]], [{"ok": [1, 2]}])
    with pytest.raises(ValueError, match="repeated"):
        revisited_map([[0, 2, 0]], [{"easy": [0], "hard": [], "junk": []}])
    with pytest.raises(ValueError, match="repeats"):
        average_precision([1, 1], [1, 2])


def test_katz_alpha_one_is_refused():
    """alpha = 1 made I - Wn singular; the result was zeros with converged=True."""
    Wn = sp.csr_array(np.array([[0, 1.0], [1.0, 0]]))
    with pytest.raises(ValueError, match="'alpha' parameter of katz_centrality"):
        katz_centrality(Wn, alpha=1)
    g, info = katz_centrality(Wn, alpha=0.0)
    np.testing.assert_array_equal(g, [1.0, 1.0])
    assert info["converged"]


@pytest.mark.parametrize("call, name", [
    (lambda: aggregate_regions([[np.nan, 1.0]]), "Z of aggregate_regions"),
    (lambda: aggregate_regions([[1.0, 0.0]], weights=[np.inf]), "weights of aggregate_regions"),
    (lambda: region_mean(np.full((3, 3), np.nan), [[0, 0, 1, 1]]), "S of region_mean"),
    (lambda: mutual_knn_graph(np.full((4, 3), np.nan), 1), "V of mutual_knn_graph"),
    (lambda: egm_regions(np.ones((4, 4)), rho=-1), "'rho' parameter of egm_regions"),
])
def test_nan_and_bad_parameters_are_refused(call, name):
    """These came back as zeros, NaN or an empty graph, or failed deep inside numpy."""
    with pytest.raises(ValueError, match=re.escape(name)):
        call()


# -- images and collections -----------------------------------------------------------------
def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    """99.6 % of the pixels of this 16-bit ramp came back as 255."""
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = load_image(path)
    expected = np.round(ramp / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(rgb[:, :, 0], expected)
    assert (rgb == 255).mean() < 0.01
    np.testing.assert_array_equal(load_image(ramp), rgb)


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "L", "LA", "P", "CMYK", "RGBA", "1"])
def test_pil_modes(mode):
    """Every mode gives (H, W, 3) uint8 with the intensity it encodes."""
    rng = np.random.default_rng(0)
    gray8 = rng.integers(0, 256, (5, 7)).astype(np.uint8)
    if mode == "I;16":
        image = Image.fromarray(gray8.astype(np.uint16) * 257)
    elif mode == "I":
        image = Image.fromarray(gray8.astype(np.int32) * 257)
    elif mode == "F":
        image = Image.fromarray(gray8.astype(np.float32) / 255)
    else:
        image = Image.fromarray(gray8).convert(mode)
    assert image.mode == mode
    rgb = load_image(image)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8
    if mode in ("I;16", "I", "F", "L", "LA", "RGBA"):
        np.testing.assert_array_equal(rgb, np.repeat(gray8[:, :, None], 3, axis=2))
    else:  # P, CMYK, 1: PIL's own conversion
        np.testing.assert_array_equal(rgb, np.asarray(image.convert("RGB")))


def test_mode_i_out_of_16_bit_range_is_refused():
    with pytest.raises(ValueError, match="mode 'I'.*0..65535"):
        load_image(Image.fromarray(np.array([[-5, 70000]], dtype=np.int32)))


def test_boxes_outside_the_image_are_refused():
    """Boxes entirely outside were clipped to a corner cell."""
    with pytest.raises(ValueError, match="entirely outside the image"):
        box_to_activation([700, 500, 800, 600], image_shape=(480, 640), map_shape=(15, 20))
    # partly outside: clipped to the image
    np.testing.assert_array_equal(
        box_to_activation([600, 400, 700, 500], image_shape=(480, 640), map_shape=(15, 20)),
        [12, 18, 15, 20])


def test_several_boxes_for_one_image_are_refused():
    """A (2, 4) box array for one image was silently its first box."""
    two = [[0, 0, 2, 2], [1, 1, 3, 3]]
    with pytest.raises(ValueError, match="image 0: a query box must be 4 numbers"):
        MapCollection(_maps(2), boxes=[two, None])
    with pytest.raises(ValueError, match="one box per image"):
        box_to_activation(two, image_shape=(480, 640), map_shape=(15, 20))
    with pytest.raises(ValueError, match="image 1: a box must be 4 numbers"):
        ActivationExtractor._check_boxes([None, two], 2)
    X = MapCollection(_maps(2), boxes=[[[0, 0, 2, 2]], (1, 1, 3, 3)])  # (1, 4) and (4,)
    assert X.box(0).tolist() == [0, 0, 2, 2] and X.box(1).tolist() == [1, 1, 3, 3]


def test_nested_lists_are_array_likes():
    """A list of nested lists raised AttributeError; it is read as arrays."""
    maps = _maps(3)
    expected = FeatureSaliency().fit_transform(maps).field("saliency")
    got = FeatureSaliency().fit_transform([A.tolist() for A in maps]).field("saliency")
    for F, E in zip(got, expected):
        np.testing.assert_array_equal(F, E)
    np.testing.assert_array_equal(make_mac().fit_transform([A.tolist() for A in maps]),
                                  make_mac().fit_transform(maps))


def test_iterators_are_refused():
    """fit consumed a generator and transform then saw an empty collection."""
    maps = _maps(3)
    with pytest.raises(TypeError, match="iterator .* read only once"):
        FeatureSaliency().fit(A for A in maps)
    estimator = FeatureSaliency().fit(maps)
    with pytest.raises(TypeError, match="iterator"):
        estimator.transform(iter(maps))
