"""Reusable checks for estimators whose ``X`` is a collection of activation maps.

scikit-learn's common checks feed 2-D arrays; ours feed collections of maps of
different spatial sizes. Use them like scikit-learn's::

    from sklearn_salreg.utils.estimator_checks import parametrize_with_checks

    @parametrize_with_checks([FeatureSaliency(), EGMRegionDetector()])
    def test_map_estimator(estimator, check):
        check(estimator)

Each check takes ``(name, estimator)`` and raises ``AssertionError`` on failure.
An estimator tells the checks which fields its input needs through the class
attribute ``_required_fields`` (upstream stages are run to make them) and whether it
reads the activation maps themselves through ``_reads_maps``.
"""

import functools
import pickle
import tempfile
import warnings

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as sk_checks

from ..collection import MapCollection, as_collection
from ..datasets import make_maps

__all__ = ["DATA_FREE_SKLEARN_CHECKS", "check_estimator", "make_input", "parametrize_with_checks",
           "yield_map_checks"]

#: scikit-learn common checks that need no data; they apply to map estimators as is.
DATA_FREE_SKLEARN_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
)


def _upstream(field):
    # Imported here: the checks module must not import every stage at package import.
    from ..detection import EGMRegionDetector
    from ..discovery import CentralityGraph
    from ..pooling import RegionMaxPooler
    from ..saliency import FeatureSaliency

    chain = [FeatureSaliency(), EGMRegionDetector(tau=0.2, rho=1.0), RegionMaxPooler(),
             CentralityGraph(n_neighbors=3)]
    # the first stages of the chain that write the field ("graph" is not a field but a
    # context entry: a fitted CentralityGraph)
    return chain[:{"feature_saliency": 1, "saliency": 1, "regions": 2, "region_descriptors": 3,
                   "region_saliency": 3, "graph": 4}[field]]


def make_input(estimator, maps):
    """Run the upstream stages that make the fields ``estimator`` needs.

    Parameters
    ----------
    estimator : estimator
        A map-based stage; its ``_required_fields`` names the fields it reads.
    maps : list of ndarray of shape (h, w, c) or MapCollection
        Raw activation maps (e.g. :func:`~sklearn_salreg.datasets.make_maps`).

    Returns
    -------
    X : MapCollection
        ``maps`` with those fields, ready for ``estimator.fit``.

    Examples
    --------
    >>> from sklearn_salreg import EGMRegionDetector
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.utils.estimator_checks import make_input
    >>> make_input(EGMRegionDetector(), make_maps(n_maps=2)).field_names
    ['feature_saliency', 'saliency']
    """
    X = as_collection(maps)
    required = getattr(estimator, "_required_fields", ())
    if not required:
        return X
    stages = max((_upstream(f) for f in required), key=len)
    for stage in stages:
        X = stage.fit_transform(X)
    return X


def _assert_same(a, b, what):
    if isinstance(a, MapCollection):
        assert isinstance(b, MapCollection), f"{what}: output types differ"
        assert len(a) == len(b), f"{what}: lengths differ"
        assert a.field_names == b.field_names, f"{what}: fields differ"
        for name in a.field_names:
            for i, (u, v) in enumerate(zip(a.field(name), b.field(name))):
                np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6,
                                           err_msg=f"{what}: field {name!r}, image {i}")
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=what)


def _fitted(estimator, X):
    """A fitted clone of ``estimator`` and its transform of ``X`` (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = clone(estimator).fit(X)
        return est, est.transform(X)


def _fit_transform(estimator, X):
    return _fitted(estimator, X)[1]


def check_not_fitted(name, estimator):
    """transform before fit raises NotFittedError."""
    X = make_input(estimator, make_maps())
    try:
        clone(estimator).transform(X)
    except NotFittedError:
        return
    raise AssertionError(f"{name}.transform before fit did not raise NotFittedError")


def check_fit_returns_self(name, estimator):
    """fit returns the estimator itself."""
    X = make_input(estimator, make_maps())
    est = clone(estimator)
    assert est.fit(X) is est, f"{name}.fit does not return self"


def check_variable_sizes(name, estimator):
    """One output per image, whatever the spatial sizes of the maps."""
    X = make_input(estimator, make_maps(n_maps=7))
    out = _fit_transform(estimator, X)
    assert len(out) == 7, f"{name} returned {len(out)} outputs for 7 maps"


def check_pickle_roundtrip(name, estimator):
    """A fitted estimator survives pickle and joblib with identical output."""
    X = make_input(estimator, make_maps())
    est, expected = _fitted(estimator, X)
    _assert_same(expected, pickle.loads(pickle.dumps(est)).transform(X), f"{name} after pickle")
    with tempfile.TemporaryDirectory() as folder:
        joblib.dump(est, f"{folder}/model.joblib")
        _assert_same(expected, joblib.load(f"{folder}/model.joblib").transform(X),
                     f"{name} after joblib")


def check_n_jobs_invariance(name, estimator):
    """n_jobs=2 gives the same output as n_jobs=1."""
    if "n_jobs" not in estimator.get_params():
        return
    X = make_input(estimator, make_maps(n_maps=9))
    one = _fit_transform(clone(estimator).set_params(n_jobs=1), X)
    two = _fit_transform(clone(estimator).set_params(n_jobs=2), X)
    _assert_same(one, two, f"{name} with n_jobs=2")


def check_container_invariance(name, estimator):
    """A list, a MapCollection, a disk-backed one and read-only memmaps agree."""
    maps = make_maps()
    expected = _fit_transform(estimator, make_input(estimator, maps))
    with tempfile.TemporaryDirectory() as folder:
        on_disk = MapCollection(maps).save(f"{folder}/maps")
        _assert_same(expected, _fit_transform(estimator, make_input(estimator, on_disk)),
                     f"{name} on a disk-backed collection")
        memmaps = []
        for k, A in enumerate(maps):
            path = f"{folder}/{k}.npy"
            np.save(path, A)
            memmaps.append(np.load(path, mmap_mode="r"))
        _assert_same(expected, _fit_transform(estimator, make_input(estimator, memmaps)),
                     f"{name} on read-only memmaps")
    _assert_same(expected, _fit_transform(estimator, make_input(estimator, MapCollection(maps))),
                 f"{name} on a MapCollection")


def check_subset_invariance(name, estimator):
    """Transforming a subset gives the rows of the full transform (no cross-talk)."""
    X = make_input(estimator, make_maps(n_maps=8))
    est, full = _fitted(estimator, X)
    idx = np.array([5, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = est.transform(X[idx])
    _assert_same(full[idx] if isinstance(full, MapCollection) else np.asarray(full)[idx], part,
                 f"{name} on a subset")


def check_input_not_modified(name, estimator):
    """Neither the maps nor the fields of the input collection change."""
    X = make_input(estimator, make_maps())
    maps_before = [A.copy() for A in X]
    fields_before = {k: [np.array(v, copy=True) for v in X.field(k)] for k in X.field_names}
    _fit_transform(estimator, X)
    for i, A in enumerate(X):
        np.testing.assert_array_equal(A, maps_before[i], err_msg=f"{name} modified map {i}")
    assert X.field_names == sorted(fields_before), f"{name} changed the input's fields"
    for k, vals in fields_before.items():
        for i, v in enumerate(vals):
            np.testing.assert_array_equal(X.field(k)[i], v, err_msg=f"{name} modified {k}[{i}]")


def _expect_value_error(name, estimator, X, fit_X=None, contains=()):
    est = clone(estimator)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X if fit_X is None else fit_X)
            est.transform(X)
    except ValueError as exc:
        message = str(exc)
        for part in contains:
            assert part in message, f"{name}: error {message!r} does not mention {part!r}"
        return
    raise AssertionError(f"{name} accepted bad input without a ValueError ({contains})")


def check_bad_maps(name, estimator):
    """NaN, inf, negative values, 2-D maps and channel mismatches raise a clear ValueError."""
    if not getattr(estimator, "_reads_maps", False):
        return
    maps = make_maps(n_maps=4)
    for value, label in ((np.nan, "NaN"), (np.inf, "inf"), (-1.0, "negative")):
        bad = [A.copy() for A in maps]
        bad[2][0, 0, 0] = value
        _expect_value_error(name, estimator, _with_map(make_input(estimator, maps), bad),
                            contains=("image 2", str(bad[2].shape)))
    other = [A[:, :, :8] for A in maps]
    mixed = [A.copy() for A in maps]
    mixed[3] = other[3]
    _expect_value_error(name, estimator, _with_map(make_input(estimator, maps), mixed),
                        contains=("image 3", "channels"))
    fitted_on = make_input(estimator, maps)
    _expect_value_error(name, estimator, make_input(estimator, other), fit_X=fitted_on,
                        contains=("image 0", "channels"))


def _with_map(X, maps):
    """``X`` with its maps replaced by ``maps`` (fields kept): bad maps past upstream."""
    new = MapCollection(maps)
    return new.with_fields(**{k: X.field(k) for k in X.field_names}).with_context(**X.context)


def check_empty_collection(name, estimator):
    """An empty collection raises a ValueError that says so."""
    try:
        clone(estimator).fit([])
    except ValueError as exc:
        assert "empty" in str(exc), f"{name}: unclear error for an empty collection: {exc}"
        return
    raise AssertionError(f"{name}.fit accepted an empty collection")


_MAP_CHECKS = (
    check_not_fitted,
    check_fit_returns_self,
    check_variable_sizes,
    check_pickle_roundtrip,
    check_n_jobs_invariance,
    check_container_invariance,
    check_subset_invariance,
    check_input_not_modified,
    check_bad_maps,
    check_empty_collection,
)


def yield_map_checks(estimator):
    """Yield every check (ours and scikit-learn's data-free ones) for ``estimator``.

    Parameters
    ----------
    estimator : estimator
        A map-based stage.

    Yields
    ------
    check : callable
        ``check(estimator)`` raises AssertionError when the estimator fails it.

    Examples
    --------
    >>> from sklearn_salreg import FeatureSaliency
    >>> from sklearn_salreg.utils.estimator_checks import yield_map_checks
    >>> checks = list(yield_map_checks(FeatureSaliency()))
    >>> len(checks) > 10
    True
    """
    name = type(estimator).__name__
    for check_name in DATA_FREE_SKLEARN_CHECKS:
        check = getattr(sk_checks, check_name, None)
        if check is None:
            continue
        yield functools.partial(check, name)
    for check in _MAP_CHECKS:
        yield functools.partial(check, name)


def check_estimator(estimator):
    """Run every map check on ``estimator``; raises AssertionError on the first failure.

    Parameters
    ----------
    estimator : estimator
        A map-based stage (each check runs on a clone).

    Examples
    --------
    >>> from sklearn_salreg import WholeMapDetector
    >>> from sklearn_salreg.utils.estimator_checks import check_estimator
    >>> check_estimator(WholeMapDetector())  # raises AssertionError on a failure
    """
    for check in yield_map_checks(estimator):
        check(clone(estimator))


def _check_id(check):
    base = check.func if isinstance(check, functools.partial) else check
    return getattr(base, "__name__", str(base))


def parametrize_with_checks(estimators):
    """pytest decorator: one test per (estimator, check), like scikit-learn's.

    Parameters
    ----------
    estimators : list of estimator
        The map-based stages to check.

    Returns
    -------
    decorator
        ``pytest.mark.parametrize("estimator, check", ...)``: the test calls
        ``check(estimator)``.

    Examples
    --------
    >>> from sklearn_salreg import WholeMapDetector
    >>> from sklearn_salreg.utils.estimator_checks import parametrize_with_checks
    >>> decorator = parametrize_with_checks([WholeMapDetector()])
    >>> decorator.mark.name, decorator.mark.args[0]
    ('parametrize', 'estimator, check')
    >>> @decorator
    ... def test_map_checks(estimator, check):
    ...     check(estimator)
    """
    import pytest

    params = [(est, check) for est in estimators for check in yield_map_checks(est)]
    ids = [f"{type(est).__name__}-{_check_id(check)}" for est, check in params]
    return pytest.mark.parametrize("estimator, check", params, ids=ids)
