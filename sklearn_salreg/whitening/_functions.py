"""The mathematics of whitening (paper section 3.5), as plain functions.

Both learners return ``(mean, projection)`` in float64: a vector ``x`` is whitened
to ``d`` dimensions as ``projection[:d] @ (x - mean)``, rows of ``projection``
ordered by decreasing variance. :func:`apply_whitening` does that for many vectors
at once and L2-normalises the result.
"""

from numbers import Real

import numpy as np

from ..utils import l2_normalize
from ..utils._param_validation import Interval, PositiveInt, check_finite, check_params

__all__ = ["learn_whitening", "pca_whitening", "apply_whitening", "WHITENING_PARAMETERS"]

#: Constraints of the parameters of the whitening functions, shared with
#: :class:`LearnedWhitening`.
WHITENING_PARAMETERS = {
    "shrinkage": [Interval(Real, 0, 1, closed="both")],
    "n_components": [PositiveInt, None],
}

# Pairs are differenced this many at a time, so that the float64 covariance of
# millions of pairs never needs all the differences in memory at once.
_PAIR_BLOCK = 8192
# Rows whitened at a time by apply_whitening.
_ROW_BLOCK = 65536


def _shrink(C, shrinkage):
    """``(1 - s) C + s (trace(C) / c) I``: pulls a covariance towards a multiple of I.

    With few vectors the smallest eigenvalues of ``C`` are underestimated and their
    inverse square roots blow noise up; shrinkage bounds that (1 = no whitening).
    """
    if shrinkage == 0:
        return C
    c = C.shape[0]
    out = (1.0 - shrinkage) * C
    out[np.diag_indices(c)] += shrinkage * np.trace(C) / c
    return out


def _inverse_cholesky(C, max_tries=40):
    """``L^-1`` with ``C + eps I = L L^T``: a square root of the inverse of ``C``.

    A rank-deficient ``C`` (fewer pairs than dimensions) is not positive definite;
    the diagonal ``eps`` grows tenfold, from a tiny fraction of the mean variance,
    until the factorisation succeeds.
    """
    c = C.shape[0]
    scale = np.trace(C) / c if np.trace(C) > 0 else 1.0
    eps = 0.0
    for _ in range(max_tries):
        try:
            L = np.linalg.cholesky(C + eps * np.eye(c)) if eps else np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            eps = 1e-10 * scale if eps == 0 else 10.0 * eps
            continue
        # L is lower triangular: inverting it is a triangular solve against I.
        return np.linalg.solve(L, np.eye(c))
    raise np.linalg.LinAlgError(
        f"the ({c}, {c}) covariance of matching-pair differences did not become positive "
        f"definite with a diagonal of up to {eps:.3g} added.")


def _covariance(X, mean, transform=None):
    """``mean over rows of y y^T`` with ``y = transform (x - mean)``, in float64.

    Accumulated a block of rows at a time, so that a million float32 descriptors
    are never copied to float64 all at once.
    """
    c = X.shape[1] if transform is None else transform.shape[0]
    C = np.zeros((c, c))
    for lo in range(0, len(X), _ROW_BLOCK):
        Y = np.array(X[lo : lo + _ROW_BLOCK], dtype=np.float64)
        Y -= mean  # in place: one float64 block (268 MB at 65,536 x 512), not two
        if transform is not None:
            Y = Y @ transform.T
        C += Y.T @ Y
    return C / len(X)


def _descending_eigh(C):
    eigvals, eigvecs = np.linalg.eigh(C)
    order = np.argsort(eigvals)[::-1]
    return eigvals[order], eigvecs[:, order]


def _check_vectors(X, name="X", caller="learn_whitening"):
    X = check_finite(X, name, caller)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(
            f"{name} of {caller} must be a 2-D array of at least 2 vectors (n_samples, "
            f"n_features); got shape {X.shape}. Whitening from n_samples = "
            f"{X.shape[0] if X.ndim else 0} vectors is undefined.")
    return X


def learn_whitening(X, pairs, *, shrinkage=0.0):
    """Supervised learned whitening from matching pairs (Radenovic et al.).

    With ``m`` the mean of ``X`` and ``C_s`` the covariance of the differences of
    matching pairs, ``P = L^-1`` where ``C_s = L L^T`` (Cholesky; a growing diagonal
    is added until ``C_s`` is positive definite), so that matching differences
    become isotropic. The rows of ``P (x - m)`` are then rotated onto their principal
    axes over all of ``X``: ``projection = E^T P`` with ``E`` the eigenvectors of the
    covariance of ``P (X - m)``, eigenvalues descending.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training vectors (usually L2-normalised descriptors).
    pairs : array-like of int, shape (n_pairs, 2)
        Row indices into ``X`` of matching vectors.
    shrinkage : float in [0, 1], default=0.0
        ``C_s`` is replaced by ``(1 - s) C_s + s (trace(C_s) / c) I``.

    Returns
    -------
    mean : ndarray of shape (n_features,), float64
    projection : ndarray of shape (n_features, n_features), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.whitening import learn_whitening, apply_whitening
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5))
    >>> pairs = np.stack([np.arange(0, 40, 2), np.arange(1, 40, 2)], axis=1)
    >>> mean, projection = learn_whitening(X, pairs)
    >>> apply_whitening(X, mean, projection, n_components=3).shape
    (40, 3)
    """
    check_params(WHITENING_PARAMETERS, "learn_whitening", shrinkage=shrinkage)
    X = _check_vectors(X)
    n, c = X.shape
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise ValueError(
            f"pairs must be a non-empty (n_pairs, 2) index array; got shape {pairs.shape}.")
    if not np.issubdtype(pairs.dtype, np.integer):
        raise ValueError(f"pairs must hold integer row indices; got dtype {pairs.dtype}.")
    if pairs.min() < 0 or pairs.max() >= n:
        raise ValueError(
            f"pairs index rows {pairs.min()}..{pairs.max()} outside the {n} rows of X.")
    mean = X.mean(axis=0, dtype=np.float64)
    # The differences of unordered pairs have no meaningful sign, so their second
    # moment (not a centred covariance) is what whitening must make isotropic.
    C_s = np.zeros((c, c))
    for lo in range(0, len(pairs), _PAIR_BLOCK):
        block = pairs[lo : lo + _PAIR_BLOCK]
        diff = np.asarray(X[block[:, 0]], dtype=np.float64) - X[block[:, 1]]
        C_s += diff.T @ diff
    C_s /= len(pairs)
    P = _inverse_cholesky(_shrink(C_s, shrinkage))
    eigvals, eigvecs = _descending_eigh(_covariance(X, mean, transform=P))
    return mean, _check_projection(eigvecs.T @ P, eigvals[0], "learn_whitening")


def pca_whitening(X, *, shrinkage=0.0):
    """Unsupervised PCA whitening: rotate onto the principal axes, scale to unit variance.

    ``projection = diag(lambda)^-1/2 E^T`` with ``(lambda, E)`` the eigen-decomposition
    of the covariance of ``X`` (shrunk towards a multiple of the identity by
    ``shrinkage``), eigenvalues descending. Eigenvalues are floored at ``1e-12``
    times the largest, so that directions without variance map to (almost) zero
    rather than to infinity.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training vectors (usually L2-normalised descriptors).
    shrinkage : float in [0, 1], default=0.0
        The covariance ``C`` is replaced by ``(1 - s) C + s (trace(C) / c) I``: 0 is
        plain PCA whitening, 1 a rotation without whitening.

    Returns
    -------
    mean : ndarray of shape (n_features,), float64
    projection : ndarray of shape (n_features, n_features), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.whitening import pca_whitening
    >>> X = np.random.default_rng(0).normal(size=(500, 3)) * [1.0, 5.0, 0.1]
    >>> mean, projection = pca_whitening(X)
    >>> Y = (X - mean) @ projection.T
    >>> bool(np.allclose(np.cov(Y.T, bias=True), np.eye(3)))
    True
    """
    check_params(WHITENING_PARAMETERS, "pca_whitening", shrinkage=shrinkage)
    X = _check_vectors(X, caller="pca_whitening")
    mean = X.mean(axis=0, dtype=np.float64)
    eigvals, eigvecs = _descending_eigh(_shrink(_covariance(X, mean), shrinkage))
    if not eigvals[0] > 0:
        # No variance at all (every row the same): nothing to whiten. The rotation alone
        # maps the training rows to zero and keeps any other vector finite.
        return mean, eigvecs.T
    scale = 1.0 / np.sqrt(np.maximum(eigvals, eigvals[0] * 1e-12))
    return mean, _check_projection(scale[:, None] * eigvecs.T, eigvals[0], "pca_whitening")


def _check_projection(projection, top, caller):
    """Refuse a projection that float32 cannot hold (applied in float32): it would turn
    every whitened vector into NaN."""
    if not np.abs(projection).max() < np.finfo(np.float32).max:  # NaN fails too
        raise ValueError(
            f"{caller}: the variance of X is too small to whiten in float32 (largest "
            f"eigenvalue {top:.3g}, the projection overflows); rescale X, e.g. "
            "L2-normalise its rows.")
    return projection


def apply_whitening(X, mean, projection, n_components=None):
    """Centre, project onto the first ``n_components`` rows, L2-normalise.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Vectors to whiten, prepared as the training vectors were (e.g. L2-normalised).
    mean : array-like of shape (n_features,)
        The training mean (from :func:`learn_whitening` or :func:`pca_whitening`).
    projection : array-like of shape (n_rows, n_features)
        The whitening projection, leading directions first (from the same function).
    n_components : int, default=None
        Number of leading rows of ``projection`` to use; None uses all.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_components), float32
        Unit-norm rows; a vector whose projection is zero stays zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.whitening import apply_whitening, pca_whitening
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> mean, projection = pca_whitening(X)
    >>> Y = apply_whitening(X, mean, projection, n_components=3)
    >>> Y.shape, np.allclose(np.linalg.norm(Y, axis=1), 1)
    ((50, 3), True)
    """
    check_params(WHITENING_PARAMETERS, "apply_whitening", n_components=n_components)
    projection = check_finite(projection, "projection", "apply_whitening", ndim=2,
                              allow_empty=False)
    mean = check_finite(mean, "mean", "apply_whitening", ndim=1, allow_empty=False)
    if mean.shape[0] != projection.shape[1]:
        raise ValueError(
            f"apply_whitening: mean of shape {mean.shape} does not match the projection of "
            f"shape {projection.shape}.")
    if n_components is not None and not n_components <= projection.shape[0]:
        raise ValueError(
            f"n_components={n_components} is not in [1, {projection.shape[0]}], the "
            f"number of rows of the projection of shape {projection.shape}.")
    top = np.abs(projection).max()
    if top > 0 and not 1e-10 <= top <= 1e10:
        # The result is L2-normalised, so the projection's scale does not matter; an
        # extreme one would overflow or underflow the float32 product.
        projection = projection / top
    return _apply_whitening(check_finite(X, "X", "apply_whitening"), mean, projection, n_components)


def _apply_whitening(X, mean, projection, n_components):
    """:func:`apply_whitening` with a checked ``mean`` and ``projection`` (a fitted
    :class:`LearnedWhitening`'s)."""
    if n_components is not None:
        projection = projection[:n_components]
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != projection.shape[1]:
        raise ValueError(
            f"X of shape {X.shape} does not match the projection of shape "
            f"{projection.shape}: expected (n_samples, {projection.shape[1]}).")
    # Centring first (in float32, a block at a time) keeps precision where x and m
    # nearly cancel, and bounds the temporaries for millions of patch descriptors.
    mean32 = np.asarray(mean, dtype=np.float32)
    weights = projection.T.astype(np.float32)
    Y = np.empty((X.shape[0], weights.shape[1]), dtype=np.float32)
    for lo in range(0, X.shape[0], _ROW_BLOCK):
        block = np.asarray(X[lo : lo + _ROW_BLOCK], dtype=np.float32)
        np.matmul(block - mean32, weights, out=Y[lo : lo + _ROW_BLOCK])
    return l2_normalize(Y)
