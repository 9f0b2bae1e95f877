"""Parameter validation shared by the estimators and their public functions.

Every stage declares the constraints of its parameters once, in a dict next to its
public function (e.g. ``EGM_PARAMETERS`` beside :func:`~sklearn_salreg.egm_regions`).
The estimator's ``_parameter_constraints`` is built from that dict and checked by
scikit-learn in ``fit``; the public function checks the same dict with
:func:`check_params`. Both raise the same error, with the same message, e.g.
``The 'rho' parameter of egm_regions must be a float in the range (0, inf). Got -1
instead.``: an :class:`InvalidParameterError`, which is both a ``ValueError`` and a
``TypeError``.

This module is the only one that imports scikit-learn's private
``sklearn.utils._param_validation`` (and ``sklearn.base._fit_context``, re-exported as
:func:`fit_context`): the constraint objects must be scikit-learn's own
for ``BaseEstimator._validate_params`` and scikit-learn's estimator checks to read
them. The private API may change between releases, so ``setup.cfg`` bounds the
supported scikit-learn versions, and ``tests/test_validation.py`` fails, naming the
missing piece, when an installed version lacks what is used here.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context as fit_context
from sklearn.utils._param_validation import (HasMethods, Interval, InvalidParameterError,
                                             StrOptions, validate_parameter_constraints)

__all__ = ["HasMethods", "Interval", "InvalidParameterError", "StrOptions", "check_params",
           "check_finite", "fit_context", "PositiveInt", "NonNegativeInt", "PositiveReal",
           "NonNegativeReal", "UnitInterval"]

#: Frequent constraints, written once.
PositiveInt = Interval(Integral, 1, None, closed="left")
NonNegativeInt = Interval(Integral, 0, None, closed="left")
PositiveReal = Interval(Real, 0, None, closed="neither")
NonNegativeReal = Interval(Real, 0, None, closed="left")
#: ``[0, 1)``: a fraction that must stay below 1.
UnitInterval = Interval(Real, 0, 1, closed="left")


def check_params(constraints, caller, **params):
    """Check the keyword ``params`` of the public function ``caller`` against ``constraints``.

    Parameters
    ----------
    constraints : dict
        ``{name: [constraint, ...]}`` as in an estimator's ``_parameter_constraints``;
        only the names given in ``params`` are checked.
    caller : str
        Name of the function, quoted in the message.
    **params
        The values to check.

    Raises
    ------
    InvalidParameterError
        A ``ValueError`` and ``TypeError`` naming the parameter, the function, what is
        allowed and what was given.

    Examples
    --------
    >>> from sklearn_salreg.utils._param_validation import PositiveReal, check_params
    >>> check_params({"sigma": [PositiveReal]}, "f", sigma=0.0)
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'sigma' parameter of f must be a float in the range (0.0, inf). Got 0.0 instead.
    """
    validate_parameter_constraints({k: constraints[k] for k in params}, params, caller_name=caller)


def check_finite(X, name, caller, *, non_negative=False, ndim=None, allow_empty=True):
    """Return ``X`` as a float array after checking it is finite (and non-negative).

    One pass over the data: ``min`` and ``max`` catch NaN (it propagates), +-inf and
    negative values at once.

    Parameters
    ----------
    X : array-like
    name : str
        The argument's name, quoted in the message.
    caller : str
        The function's name, quoted in the message.
    non_negative : bool, default=False
    ndim : int or tuple of int, default=None
        Required number of dimensions.
    allow_empty : bool, default=True

    Returns
    -------
    ndarray
        Floating input as it is (never copied), other real input as float64.
    """
    X = np.asarray(X)
    where = f"{name} of {caller}"
    if ndim is not None and X.ndim not in np.atleast_1d(ndim):
        raise ValueError(f"{where} must be {ndim}-D; got an array of shape {X.shape}.")
    if X.dtype.kind not in "fiub" or np.iscomplexobj(X):
        raise TypeError(f"{where} must hold real numbers; got dtype {X.dtype}.")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if X.size == 0:
        if not allow_empty:
            raise ValueError(f"{where} is empty (shape {X.shape}).")
        return X
    lo, hi = X.min(), X.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{where} of shape {X.shape} contains NaN or inf.")
    if non_negative and lo < 0:
        raise ValueError(f"{where} of shape {X.shape} has negative values (min {lo:.4g}).")
    return X
