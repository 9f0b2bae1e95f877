"""Hostile inputs to every public function: each call either returns finite output of the
documented shape, or raises a ValueError or TypeError whose message names an argument
that was actually spoiled.

Each argument is drawn either valid (including valid extremes: all zero, scaled by
1e20 or 1e-30, nested lists) or hostile (NaN, inf, negative where non-negative is
required, complex or string dtype, wrong number of dimensions, zero size, None, out of
range parameters). A call whose arguments are all valid must succeed; a call with a
hostile argument must be refused, naming it. Arguments marked "either" (e.g. an empty
saliency map, which has no region) may go both ways, but a refusal must name them.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_salreg import (aggregate_regions, add_subregions, apply_whitening, egm_regions,
                            feature_saliency, katz_centrality, learn_whitening, mutual_knn_graph,
                            normalize_graph, object_saliency, pca_whitening, region_max_pool,
                            region_mean, uniform_regions)
from sklearn_salreg.extraction import box_to_activation, load_image
from sklearn_salreg.metrics import (average_precision, mean_average_precision, revisited_map,
                                    saliency_precision)
from sklearn_salreg.pooling import region_masses, region_sum_pool, saliency_weighted_map
from sklearn_salreg.search import diffuse
from sklearn_salreg.utils import l2_normalize

VALID, HOSTILE, EITHER = "valid", "hostile", "either"
OUTCOMES = {}  # calls that returned, per function
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Ways of spoiling an array; the valid ones are listed several times so that calls
# with every argument valid come up often enough to check the outputs.
_VALID_KINDS = ["valid", "valid", "valid", "zeros", "huge", "tiny", "list"]
_HOSTILE_KINDS = ["nan", "inf", "-inf", "negative", "complex", "str", "empty", "ndim_up",
                  "ndim_down", "none"]


def _spoil(kind, seed, shape, non_negative, empty, integer, fine=()):
    """``(value, status)``: an array of ``shape`` spoiled as ``kind`` says; the kinds in
    ``fine`` are valid for the function at hand."""
    value, status = _spoiled(kind, seed, shape, non_negative, empty, integer)
    return value, (VALID if kind in fine else status)


def _spoiled(kind, seed, shape, non_negative, empty, integer):
    rng = np.random.default_rng(seed)
    base = rng.random(shape) if non_negative else rng.standard_normal(shape)
    base = base.astype(np.float32)
    if integer:
        base = np.floor(base * 10)
    where = tuple(int(rng.integers(n)) for n in shape) if base.size else None
    if kind == "valid":
        return base, VALID
    if kind == "zeros":
        return np.zeros(shape, np.float32), VALID
    if kind == "huge":
        return base * np.float32(1e20), (EITHER if integer else VALID)
    if kind == "tiny":
        return base * np.float32(1e-30), (EITHER if integer else VALID)
    if kind == "list":
        return base.tolist(), VALID
    if kind in ("nan", "inf", "-inf"):
        if where is None:
            return base, VALID
        base[where] = float(kind)
        return base, HOSTILE
    if kind == "negative":
        if where is None:
            return base, VALID
        base[where] = -1.0
        return base, (HOSTILE if non_negative else VALID)
    if kind == "complex":
        return base.astype(np.complex64), HOSTILE
    if kind == "str":
        return base.astype(str), HOSTILE
    if kind == "empty":
        return np.zeros((0,) + tuple(shape[1:]), np.float32), (EITHER if empty else HOSTILE)
    if kind == "ndim_up":
        return base[..., None], HOSTILE
    if kind == "ndim_down":
        return base[0], HOSTILE
    if kind == "none":
        return None, HOSTILE
    raise AssertionError(kind)


def arrays(shape, *, non_negative=True, empty=False, integer=False, hostile=True, fine=()):
    """Strategy of ``(array, status)`` pairs around a valid array of ``shape``."""
    kinds = _VALID_KINDS + (_HOSTILE_KINDS if hostile else [])
    return st.builds(_spoil, st.sampled_from(kinds), st.integers(0, 2**16), st.just(shape),
                     st.just(non_negative), st.just(empty), st.just(integer), st.just(fine))


def params(valid, hostile):
    """Strategy of ``(value, status)``: a valid value five times out of six, so that
    calls with every argument valid come up often."""
    return st.sampled_from([VALID] * 5 + [HOSTILE]).flatmap(
        lambda status: st.sampled_from(valid if status == VALID else hostile).map(
            lambda v: (v, status)))


NAN, INF = float("nan"), float("inf")
POSITIVE_REAL = ([0.5, 1.0, 3.0], [0, -1, NAN, INF, "1", None])
NON_NEGATIVE_REAL = ([0.0, 1.0, 2.5], [-1, NAN, INF, "1", None])
POSITIVE_INT = ([1, 2, 5], [0, -1, 2.5, NAN, "3", None])
UNIT = ([0.0, 0.3, 0.9], [-0.1, 1.0, 1.5, NAN, "0.5", None])

# Boxes [y0, x0, y1, x1) on a 5 x 6 map, and boxes on no map.
_BAD_BOXES = [[[2, 2, 2, 4]], [[3, 3, 1, 1]], [[-1, 0, 2, 2]], [[0, 0, 2.5, 3]],
              [[0, 0, NAN, 3]], [[0, 0, 2]], [[[0, 0, 1, 1]]], "box", None]
BOXES = st.one_of(
    st.sampled_from([[[0, 0, 5, 6]], [[0, 0, 2, 3], [1, 1, 5, 6]], [1, 2, 3, 4]]).map(
        lambda b: (b, VALID)),
    st.sampled_from(_BAD_BOXES + [[[0, 0, 6, 6]]]).map(lambda b: (b, HOSTILE)),
)
FREE_BOXES = st.one_of(
    st.sampled_from([[[0, 0, 5, 6]], [[0, 0, 60, 6], [10, 1, 50, 60]]]).map(lambda b: (b, VALID)),
    st.sampled_from(_BAD_BOXES).map(lambda b: (b, HOSTILE)),
)


def check_contract(func, args, names=None, check=None):
    """Call ``func(**values)`` and check the contract (see the module docstring).

    ``names`` maps an argument to a regular expression its mention must match in a
    message (default: the argument's name as a word).
    """
    names = names or {}
    kwargs = {k: v for k, (v, _) in args.items()}
    spoiled = [k for k, (_, status) in args.items() if status != VALID]
    must_fail = any(status == HOSTILE for _, status in args.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, no invalid value
        warnings.filterwarnings("ignore", message=".*no salient position.*")
        try:
            out = func(**kwargs)
        except (ValueError, TypeError) as error:
            message = str(error)
            assert spoiled, f"{func.__name__} refused valid input: {message}"
            assert any(re.search(names.get(k, rf"\b{k}\b"), message) for k in spoiled), (
                f"{func.__name__}: the message names none of the spoiled arguments "
                f"{spoiled}: {message!r}")
            return None
    assert not must_fail, f"{func.__name__} accepted the hostile {spoiled}"
    OUTCOMES[func.__name__] = OUTCOMES.get(func.__name__, 0) + 1
    if check is not None:
        check(out, kwargs)
    return out


def finite(out, shape=None, dtype=None):
    out = np.asarray(out)
    assert np.isfinite(out).all(), out
    if shape is not None:
        assert out.shape == shape, (out.shape, shape)
    if dtype is not None:
        assert out.dtype == dtype
    return out


MAP = "activation map|\\bA\\b"
SALIENCY = "saliency map|\\bS\\b|\\bF\\b|the map of spatial shape"


# -- stage 1 and 2 ----------------------------------------------------------------------
@FAST
@given(A=arrays((5, 6, 4)), eps=params(*POSITIVE_REAL),
       normalize=params(["crow", "max", None], ["l2", 1, True]))
def test_feature_saliency(A, eps, normalize):
    check_contract(feature_saliency, dict(A=A, eps=eps, normalize=normalize), {"A": MAP},
                   lambda F, kw: finite(F, (5, 6), np.float32))


def _boxes_inside(shape):
    def check(boxes, kw):
        boxes = np.atleast_2d(finite(boxes))
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and boxes.dtype == np.int64
        h, w = shape if shape is not None else np.shape(kw["S"])
        assert ((boxes[:, :2] >= 0) & (boxes[:, 2:] <= [h, w])).all()
        assert ((boxes[:, 2:] > boxes[:, :2])).all()
    return check


@FAST
@given(S=arrays((5, 6), empty=True), rho=params(*POSITIVE_REAL), tau=params(*UNIT),
       sigma=params(*POSITIVE_REAL), purge=params(*UNIT), scale=params(*POSITIVE_REAL),
       max_iter=params(*POSITIVE_INT))
def test_egm_regions(S, rho, tau, sigma, purge, scale, max_iter):
    check_contract(egm_regions, dict(S=S, rho=rho, tau=tau, sigma=sigma, purge=purge,
                                     scale=scale, max_iter=max_iter),
                   {"S": SALIENCY}, _boxes_inside(None))


@FAST
@given(h=params([1, 5, 13], [0, -2, 5.5, NAN, "5", None]),
       w=params([1, 6, 20], [0, -2, 5.5, NAN, "5", None]),
       levels=params(*POSITIVE_INT),
       overlap=params([0.1, 0.4, 0.9], [0, 1, -0.5, NAN, "0.4"]))
def test_uniform_regions(h, w, levels, overlap):
    def check(boxes, kw):
        _boxes_inside((kw["h"], kw["w"]))(boxes, kw)
    check_contract(uniform_regions, dict(h=h, w=w, levels=levels, overlap=overlap), check=check)


@FAST
@given(boxes=FREE_BOXES, levels=params(*POSITIVE_INT))
def test_add_subregions(boxes, levels):
    check_contract(add_subregions, dict(boxes=boxes, levels=levels), {"boxes": "box"},
                   lambda out, kw: finite(out))


# -- stage 3 and the last stage ------------------------------------------------------------
@pytest.mark.parametrize("pool", [region_max_pool, region_sum_pool])
@FAST
@given(A=arrays((5, 6, 4)), boxes=BOXES)
def test_region_pool(pool, A, boxes):
    m = len(np.atleast_2d(boxes[0])) if boxes[1] == VALID else None
    check_contract(pool, dict(A=A, boxes=boxes), {"A": MAP, "boxes": "box"},
                   lambda Z, kw: finite(Z, (m, 4), np.float32))


@FAST
@given(S=arrays((5, 6), non_negative=False), boxes=BOXES)
def test_region_mean(S, boxes):
    m = len(np.atleast_2d(boxes[0])) if boxes[1] == VALID else None
    check_contract(region_mean, dict(S=S, boxes=boxes), {"S": SALIENCY, "boxes": "box"},
                   lambda f, kw: finite(f, (m,), np.float32))


@FAST
@given(S=arrays((5, 6)), boxes=BOXES)
def test_region_masses(S, boxes):
    m = len(np.atleast_2d(boxes[0])) if boxes[1] == VALID else None
    check_contract(region_masses, dict(S=S, boxes=boxes), {"S": SALIENCY, "boxes": "box"},
                   lambda f, kw: finite(f, (m,)))


@FAST
@given(A=arrays((5, 6, 4)), S=arrays((5, 6)), exponent=params(*NON_NEGATIVE_REAL))
def test_saliency_weighted_map(A, S, exponent):
    check_contract(saliency_weighted_map, dict(A=A, S=S, exponent=exponent),
                   {"A": MAP, "S": SALIENCY}, lambda out, kw: finite(out, (5, 6, 4)))


@FAST
@given(Z=arrays((3, 8), non_negative=False, empty=True), weights=arrays((3,), fine=("none",)))
def test_aggregate_regions(Z, weights):
    def check(g, kw):
        g = finite(g, (8,), np.float32)
        assert np.isclose(np.linalg.norm(g), 1.0, atol=1e-5) or not g.any()
    # weights for 3 regions do not fit an empty Z: only a refusal naming weights is right
    if Z[1] == EITHER:
        weights = (weights[0], EITHER)
    check_contract(aggregate_regions, dict(Z=Z, weights=weights), check=check)


@FAST
@given(X=arrays((4, 6), non_negative=False, empty=True, fine=("ndim_up", "ndim_down")))
def test_l2_normalize(X):
    def check(Y, kw):
        Y = finite(Y)
        norms = np.linalg.norm(Y, axis=-1)
        zero = ~np.asarray(kw["X"], dtype=np.float64).any(axis=-1)
        np.testing.assert_allclose(norms[~zero], 1.0, rtol=1e-5)
        assert (norms[zero] == 0).all()
    check_contract(l2_normalize, dict(X=X), {"X": "L2-normalise"}, check)


def test_l2_normalize_in_place_is_the_copy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 7)).astype(np.float32)
    X[3] = 0
    X[4] *= 1e25  # the rescaled path too
    expected = l2_normalize(X)
    Y = l2_normalize(X, copy=False)
    assert Y is X
    np.testing.assert_array_equal(Y, expected)
    ints = np.arange(6).reshape(2, 3)
    assert l2_normalize(ints, copy=False) is not ints  # converted: a new array


# -- whitening ------------------------------------------------------------------------------
@FAST
@given(X=arrays((12, 5), non_negative=False), shrinkage=params([0.0, 0.1, 1.0],
                                                               [-0.1, 1.5, NAN, "0"]),
       n_components=params([None, 1, 5], [0, 6, 2.5, "2"]))
def test_pca_whitening_then_apply(X, shrinkage, n_components):
    learned = check_contract(pca_whitening, dict(X=X, shrinkage=shrinkage))
    if learned is None:
        return
    mean, projection = learned
    finite(projection, (5, 5))
    d = 5 if n_components[0] is None else n_components[0]
    if n_components[1] == HOSTILE and n_components[0] == 6:  # too many rows: ValueError
        pass
    check_contract(apply_whitening, dict(X=(np.asarray(X[0], dtype=np.float32), VALID),
                                         mean=(mean, VALID), projection=(projection, VALID),
                                         n_components=n_components),
                   check=lambda Y, kw: finite(Y, (12, d), np.float32))


@FAST
@given(X=arrays((12, 5), non_negative=False),
       pairs=params([[[0, 1], [2, 3], [4, 5]], np.array([[0, 11]])],
                    [[[0, 12]], [[-1, 0]], [[0.5, 1]], [], [[0, 1, 2]], "pairs"]),
       shrinkage=params([0.0, 0.5], [-1, 2, NAN]))
def test_learn_whitening(X, pairs, shrinkage):
    check_contract(learn_whitening, dict(X=X, pairs=pairs, shrinkage=shrinkage),
                   check=lambda out, kw: finite(out[1], (5, 5)))


@FAST
@given(X=arrays((3, 4), non_negative=False, empty=True),
       mean=arrays((4,), non_negative=False),
       projection=arrays((4, 4), non_negative=False))
def test_apply_whitening(X, mean, projection):
    check_contract(apply_whitening, dict(X=X, mean=mean, projection=projection),
                   check=lambda Y, kw: finite(Y, (len(kw["X"]), 4), np.float32))


# -- the region graph -------------------------------------------------------------------------
@FAST
@given(V=arrays((8, 4), non_negative=False), n_neighbors=params([1, 3, 7], [0, 8, -1, 2.5, "3"]),
       beta=params(*POSITIVE_REAL))
def test_mutual_knn_graph(V, n_neighbors, beta):
    if V[1] == VALID:  # the documented input: L2-normalised rows
        V = (l2_normalize(np.asarray(V[0], np.float32)), VALID)
    def check(W, kw):
        assert W.shape == (8, 8)
        finite(W.data)
    check_contract(mutual_knn_graph, dict(V=V, n_neighbors=n_neighbors, beta=beta),
                   check=check)


def _graph(kind):
    rng = np.random.default_rng(0)
    W = rng.random((6, 6))
    W = (W + W.T) * (rng.random((6, 6)) < 0.5)
    np.fill_diagonal(W, 0)
    if kind == "nan":
        W[0, 1] = W[1, 0] = NAN
    elif kind == "negative":
        W[0, 1] = W[1, 0] = -1
    elif kind == "not square":
        W = W[:5]
    elif kind == "string":
        return "graph"
    return sp.csr_array(W)


GRAPH_KINDS = st.sampled_from(["fine", "fine", "fine", "nan", "negative", "not square", "string"])


def graph_arg(kind, negative_ok):
    """``(graph, status)``; a normalised graph where ``fine``."""
    if kind == "fine":
        return normalize_graph(_graph(kind)), VALID
    return _graph(kind), (VALID if kind == "negative" and negative_ok else HOSTILE)


@FAST
@given(kind=GRAPH_KINDS)
def test_normalize_graph(kind):
    check_contract(normalize_graph, dict(W=graph_arg(kind, negative_ok=False)),
                   check=lambda Wn, kw: finite(Wn.data))


@FAST
@given(kind=GRAPH_KINDS, alpha=params(*UNIT), tol=params([0.0, 1e-6], [-1, NAN, "0"]),
       max_iter=params(*POSITIVE_INT))
def test_katz_centrality(kind, alpha, tol, max_iter):
    check_contract(katz_centrality, dict(Wn=graph_arg(kind, negative_ok=True), alpha=alpha,
                                         tol=tol, max_iter=max_iter),
                   check=lambda out, kw: finite(out[0], (6,)))


@FAST
@given(kind=GRAPH_KINDS, Y=arrays((6, 2), non_negative=False), alpha=params(*UNIT))
def test_diffuse(kind, Y, alpha):
    if Y[1] == VALID or Y[1] == EITHER:
        Y = (Y[0], VALID if np.shape(Y[0]) == (6, 2) else HOSTILE)
    check_contract(diffuse, dict(graph=graph_arg(kind, negative_ok=True), Y=Y, alpha=alpha),
                   check=lambda F, kw: finite(F, (6, 2)))


# -- object saliency ------------------------------------------------------------------------
@FAST
@given(A=arrays((5, 6, 4)), F=arrays((5, 6)), descriptors=arrays((7, 4), non_negative=False),
       region_saliency=arrays((7,)), centrality=arrays((7,), non_negative=False),
       n_neighbors=params(*POSITIVE_INT), patch_size=params(*POSITIVE_INT),
       beta=params(*POSITIVE_REAL))
def test_object_saliency(A, F, descriptors, region_saliency, centrality, n_neighbors,
                         patch_size, beta):
    if descriptors[1] == VALID:
        descriptors = (l2_normalize(np.asarray(descriptors[0], np.float32)), VALID)
    check_contract(object_saliency, dict(A=A, F=F, descriptors=descriptors,
                                         region_saliency=region_saliency, centrality=centrality,
                                         n_neighbors=n_neighbors, patch_size=patch_size,
                                         beta=beta),
                   {"A": MAP, "F": SALIENCY},
                   lambda S, kw: finite(S, (5, 6), np.float32))


# -- metrics ---------------------------------------------------------------------------------
RANKS = st.one_of(
    st.sampled_from([[[0, 1, 2, 3], [3, 2, 1, 0]], [[4, 0], [1, 2]]]).map(lambda r: (r, VALID)),
    st.sampled_from([[[0, 0, 2, 3], [3, 2, 1, 0]], [[1, 1], [0, 2]], [[0, -1], [1, 2]],
                     [[0.5, 1], [1, 2]], [[0, NAN], [1, 2]], [0, 1, 2], "ranks", None]).map(
        lambda r: (r, HOSTILE)),
)
GND = st.one_of(
    st.just([{"ok": [0, 1], "junk": [2]}, {"ok": [3]}]).map(lambda g: (g, VALID)),
    st.sampled_from([[{"ok": [0]}], [{"ok": [-1]}, {"ok": [1]}], [{"pos": [0]}, {"ok": [1]}],
                     [[0, 1], [3]], {"ok": [0]}, [{"ok": [0.5]}, {"ok": [1]}]]).map(
        lambda g: (g, HOSTILE)),
)


@FAST
@given(ranks=RANKS, gnd=GND)
def test_mean_average_precision(ranks, gnd):
    def check(m, kw):
        assert 0 <= m <= 1
    check_contract(mean_average_precision, dict(ranks=ranks, gnd=gnd),
                   {"ranks": "rank", "gnd": "gnd|queries"}, check)


@FAST
@given(ranks=RANKS)
def test_revisited_map(ranks):
    gnd = ([{"easy": [0], "hard": [1], "junk": [2]}, {"easy": [3], "hard": [], "junk": []}],
           VALID)
    check_contract(revisited_map, dict(ranks=ranks, gnd=gnd), {"ranks": "rank"},
                   lambda out, kw: all(0 <= v <= 1 for v in out.values()))


@FAST
@given(saliency_map=arrays((5, 6)), boxes=BOXES)
def test_saliency_precision(saliency_map, boxes):
    def check(p, kw):
        assert np.isnan(p) and not np.asarray(kw["saliency_map"], float).any() or 0 <= p <= 1
    check_contract(saliency_precision, dict(saliency_map=saliency_map, boxes=boxes),
                   {"saliency_map": SALIENCY, "boxes": "box"}, check)


# -- images ----------------------------------------------------------------------------------
@FAST
@given(image=arrays((4, 5, 3), fine=("ndim_down",)))
def test_load_image(image):
    value, status = image
    if status == VALID and np.asarray(value).dtype.kind == "f" and np.max(value, initial=0) > 1:
        status = HOSTILE  # a float image must lie in [0, 1]
    shape = (4, 5, 3) if np.ndim(value) == 3 else (5, 3, 3)  # a 2-D array is grayscale
    check_contract(load_image, dict(image=(value, status)), {"image": "image"},
                   lambda rgb, kw: finite(rgb, shape, np.uint8))


@FAST
@given(box=st.one_of(
    st.sampled_from([[10, 20, 100, 90], [0, 0, 640, 480], [600, 400, 700, 500]]).map(
        lambda b: (b, VALID)),
    st.sampled_from([[700, 0, 800, 10], [0, 500, 10, 600], [-50, -50, -1, -1],
                     [[0, 0, 10, 10], [5, 5, 20, 20]], [0, 0, NAN, 4], [10, 10, 5, 5],
                     [1, 2, 3], "box"]).map(lambda b: (b, HOSTILE))))
def test_box_to_activation(box):
    check_contract(box_to_activation, dict(box=box, image_shape=((480, 640), VALID),
                                           map_shape=((15, 20), VALID)), {"box": "box"},
                   _boxes_inside((15, 20)))


@FAST
@given(ranked_ids=st.one_of(st.just([3, 1, 2, 0]).map(lambda r: (r, VALID)),
                            st.just([3, 3, 2, 0]).map(lambda r: (r, HOSTILE))))
def test_average_precision(ranked_ids):
    check_contract(average_precision, dict(ranked_ids=ranked_ids, positives=([3, 2], VALID)),
                   check=lambda ap, kw: 0 <= ap <= 1)


def test_valid_calls_were_checked():
    """The draws above include calls with valid arguments that returned and whose output
    was checked, for every function (when the whole file runs)."""
    if len(OUTCOMES) < 5:
        pytest.skip("run with the rest of the file")
    assert all(count >= 1 for count in OUTCOMES.values()), OUTCOMES
