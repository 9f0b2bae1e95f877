"""Region detection by Expanding Gaussian Mixtures (EGM) on a 2-D saliency map.

Paper section 3.4 (after Avrithis & Kalantidis, ECCV 2012).

The map is a *function*: sample ``i`` sits at position ``p_i`` with mass ``S_i`` and
is the Gaussian ``S_i N(x | p_i, sigma^2 I)``. Components are
``pi_k N(x | mu_k, Sigma_k)`` with diagonal ``Sigma_k``. Starting from one component
per sample, E-, M- and P-steps alternate until nothing changes:

* E: ``gamma_ik`` is proportional to the inner product of sample ``i`` and component
  ``k``, ``pi_k N(p_i | mu_k, sigma^2 I + Sigma_k)``.
* M: saliency-weighted moments, ``l_k = sum_i S_i gamma_ik``, ``pi_k = l_k / sum S``,
  ``mu_k`` the weighted mean and ``Sigma_k`` the weighted scatter (paper eq. 6-8).
* P: components visited by decreasing ``pi``; component ``k`` survives when its
  overlap ratio ``||q_k||^2 / (||q_k||^2 + sum_{j kept} <q_k, q_j>)`` exceeds
  ``purge``.

Two choices the paper leaves open, made here and documented in the docs:

* ``sigma`` enters through the samples (in the E-step), not through ``Sigma_k``. The
  scatter is floored at ``1/12`` per axis, the variance of one map cell, so that a
  component never degenerates and its box covers at least one cell. (Adding
  ``sigma^2`` to ``Sigma_k`` instead, an obvious floor, inflates the
  box of a small object by ``sigma`` on every side.)
* A component is kept when its ratio is strictly above ``purge`` (default 0.7,
  see :func:`egm_regions`): two identical components then never both survive.

A box has centre ``mu_k`` and half-sizes ``scale * sqrt(diag Sigma_k)``; with the
default ``scale = sqrt(3)`` a uniform rectangle gives back its own extent.

The steps below are written in NumPy, one small function each: they are the
reference. By default :func:`egm_regions` runs the same steps compiled with numba
(``_egm_kernel``), pinned to these by tests.

Why both: the compiled steps are several times faster on a CPU (figures on the
docs' benchmarks page), so they are what the estimators run; the NumPy steps stay as
the reference that the compiled ones are tested against operation for operation
(the same boxes on random maps, ties aside, which the torch batches of
:mod:`._egm_batch` do not match as closely), and they record the iterations for
``return_history``.
"""

import numpy as np
from scipy.ndimage import gaussian_filter

from ..collection import check_saliency_map
from ..utils._param_validation import (PositiveInt, PositiveReal, StrOptions, UnitInterval,
                                       check_params)
from ._egm_kernel import _CELL_VAR, _LOG_2PI, egm_iterate

__all__ = ["egm_regions", "prepare_saliency", "mixture_boxes", "EGM_PARAMETERS"]

#: Constraints of the parameters of :func:`egm_regions`, shared with
#: :class:`~sklearn_salreg.EGMRegionDetector` and :func:`egm_regions_batch`.
EGM_PARAMETERS = {
    "rho": [PositiveReal],
    "tau": [UnitInterval],
    "sigma": [PositiveReal],
    "purge": [UnitInterval],
    "scale": [PositiveReal],
    "max_iter": [PositiveInt],
}



def prepare_saliency(S, rho=1.0, tau=0.0):
    """The detector's pre-processing: ``S / max S``, zero below ``tau``, power ``rho``.

    Parameters
    ----------
    S : array-like of shape (h, w)
        Non-negative saliency map.
    rho : float > 0, default=1.0
        Exponent; larger values raise the contrast between peaks and clutter.
    tau : float in [0, 1), default=0.0
        Threshold relative to the map maximum.

    Returns
    -------
    ndarray of shape (h, w), float64, maximum 1 (all zero for an all-zero map).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.detection import prepare_saliency
    >>> prepare_saliency(np.array([[0.0, 1.0], [2.0, 4.0]]), rho=2.0, tau=0.3).tolist()
    [[0.0, 0.0], [0.25, 1.0]]
    """
    check_params(EGM_PARAMETERS, "prepare_saliency", rho=rho, tau=tau)
    return _prepare_saliency(check_saliency_map(S), rho, tau)


def _prepare_saliency(S, rho, tau):
    """:func:`prepare_saliency` of a checked map with checked parameters."""
    S = np.asarray(S, dtype=np.float64)
    top = S.max() if S.size else 0.0
    if not top > 0:
        return np.zeros_like(S)
    S = S / top
    S[S < tau] = 0.0
    return S ** rho


def mixture_boxes(means, covariances, shape, scale=np.sqrt(3.0)):
    """Integer boxes ``[y0, x0, y1, x1)`` of axis-aligned Gaussian components.

    Parameters
    ----------
    means : ndarray of shape (m, 2)
        Centres ``(y, x)`` in cell coordinates (cell ``i`` is centred on ``i``).
    covariances : ndarray of shape (m, 2)
        Diagonal variances of the cell centres.
    shape : tuple (h, w)
        The map; boxes are clipped to it.
    scale : float, default=sqrt(3)
        Half-size in standard deviations.

    Returns
    -------
    ndarray of shape (m, 4), dtype int64, every box non-empty.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.detection import mixture_boxes
    >>> mixture_boxes(np.array([[2.0, 3.0]]), np.array([[1.0, 4.0]]), (6, 8)).tolist()
    [[1, 0, 4, 7]]
    """
    means = np.asarray(means, dtype=np.float64).reshape(-1, 2)
    # The scatter of cell centres plus the variance 1/12 within a cell is the variance
    # of the continuous extent: a uniform rectangle of n cells gets half-size n / 2.
    var = np.asarray(covariances, dtype=np.float64).reshape(-1, 2) + _CELL_VAR
    half = scale * np.sqrt(var)
    limits = np.array(shape, dtype=np.int64)
    # Cell i covers [i - 1/2, i + 1/2): boundary b is cell edge index b + 1/2.
    lo = np.rint(means - half + 0.5).astype(np.int64)
    hi = np.rint(means + half + 0.5).astype(np.int64)
    lo = np.clip(lo, 0, limits - 1)
    hi = np.clip(np.maximum(hi, lo + 1), 1, limits)
    return np.concatenate([lo, hi], axis=1)


def _gaussian_log_overlap(mu_a, var_a, mu_b, var_b):
    """log N(mu_a | mu_b, var_a + var_b) for diagonal 2-D Gaussians, broadcast."""
    var = var_a + var_b
    d2 = (mu_a - mu_b) ** 2 / var
    # the two axes written out: numpy's reductions over an axis of length 2 are slow
    return -0.5 * (d2[..., 0] + d2[..., 1] + np.log(var[..., 0] * var[..., 1])) - _LOG_2PI


def _e_step(positions, pos_sq, log_pi, means, covs, sigma2):
    """Responsibilities (n_samples, m) of the components for the samples."""
    var = sigma2 + covs  # (m, 2)
    inv = 1.0 / var
    # sum_d (p_d - mu_d)^2 / v_d, expanded into one matrix product.
    # [p^2, p] @ [1/v; -2 mu/v] plus the per-component constant, as one product
    coef = np.concatenate([inv, -2.0 * means * inv], axis=1)  # (m, 4)
    const = means[:, 0] ** 2 * inv[:, 0] + means[:, 1] ** 2 * inv[:, 1] + np.log(var[:, 0] * var[:, 1])
    quad = np.concatenate([pos_sq, positions], axis=1) @ coef.T
    log_resp = log_pi - 0.5 * (quad + const)
    log_resp -= log_resp.max(axis=1, keepdims=True)
    resp = np.exp(log_resp)
    resp /= resp.sum(axis=1, keepdims=True)
    return resp


def _gaussian_kernel(sd, truncate=4.0):
    """The weights of ``gaussian_filter(..., sd, truncate=truncate)`` along one axis."""
    radius = int(truncate * sd + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 / (sd * sd) * x**2)
    return kernel / kernel.sum()


def _first_em_step(P, ys, xs, sigma2):
    """E- and M-step from the initial state (one component per sample), on the grid.

    Initially every component is its own sample, ``pi_k ~ S_k`` and
    ``Sigma_k = sigma^2 I``, so every inner product is the same Gaussian of variance
    ``2 sigma^2`` of a position difference: both steps are Gaussian convolutions of
    the map, O(hw) instead of O(l^2) for l samples. The kernel's normalisation
    cancels in every ratio below.
    """
    blur = lambda G: gaussian_filter(G, np.sqrt(2 * sigma2), mode="constant", truncate=4.0)
    pi = P / P.sum()
    support = P > 0
    # Z_i = sum_j pi_j g(p_i - p_j);  R_i = S_i / Z_i
    Z = blur(pi)
    R = np.zeros_like(P)
    R[support] = P[support] / Z[support]
    gy, gx = np.indices(P.shape, dtype=np.float64)
    conv_r = blur(R)[ys, xs]
    load = pi[ys, xs] * conv_r  # l_k = pi_k sum_i g_ik R_i
    means = np.stack([blur(R * gy)[ys, xs], blur(R * gx)[ys, xs]], axis=1) / conv_r[:, None]
    second = np.stack([blur(R * gy**2)[ys, xs], blur(R * gx**2)[ys, xs]], axis=1) / conv_r[:, None]
    covs = np.maximum(second - means**2, _CELL_VAR)
    return load / P.sum(), means, covs


def _m_step(positions, pos_sq, mass, resp):
    weights = resp * mass[:, None]  # (n_samples, m)
    load = weights.sum(axis=0)
    alive = load > 1e-12 * mass.sum()
    weights, load = weights[:, alive], load[alive]
    means = (weights.T @ positions) / load[:, None]
    covs = (weights.T @ pos_sq) / load[:, None] - means**2
    return load / mass.sum(), means, np.maximum(covs, _CELL_VAR)


def _purge(pi, means, covs, threshold):
    """Indices of the components that survive the P-step, by decreasing ``pi``."""
    order = np.argsort(-pi, kind="stable")
    pi, means, covs = pi[order], means[order], covs[order]
    # ||q_k||^2 = pi_k^2 N(mu_k | mu_k, 2 Sigma_k)
    log_self = 2 * np.log(pi) + _gaussian_log_overlap(means, covs, means, covs)
    self_norm = np.exp(log_self - log_self.max())
    overlap = np.zeros(len(pi))  # sum over kept j of <q_k, q_j>, same scale as self_norm
    log_pi = np.log(pi)
    kept = []
    # Greedy like non-maximum suppression, in rounds: overlaps only grow, so every
    # component between the last kept one and the first one that passes now is
    # rejected for good. One round per kept component (not per component) gives the
    # decisions, and the sums, of the sequential loop.
    start = 0
    while start < len(pi):
        passes = self_norm[start:] > threshold * (self_norm[start:] + overlap[start:])
        if not passes.any():
            break
        k = start + int(np.argmax(passes))
        kept.append(k)
        overlap += np.exp(
            log_pi + log_pi[k]
            + _gaussian_log_overlap(means, covs, means[k], covs[k])
            - log_self.max())
        start = k + 1
    # Back to the incoming order, so that iterations can be compared component-wise.
    return np.sort(order[np.asarray(kept, dtype=np.int64)])


def egm_regions(S, *, rho=5.0, tau=0.4, sigma=2.5, purge=0.7, scale=np.sqrt(3.0),
                max_iter=50, return_history=False, engine="numba"):
    """Detect salient rectangular regions on a 2-D saliency map by EGM.

    Parameters
    ----------
    S : array-like of shape (h, w)
        Non-negative saliency map (feature or object saliency).
    rho : float > 0, default=5.0
        Exponent of the pre-processing (:func:`prepare_saliency`).
    tau : float in [0, 1), default=0.4
        Threshold relative to the map maximum.
    sigma : float > 0, default=2.5
        Scale of the sample Gaussians, in cells: larger values merge more.
    purge : float in [0, 1), default=0.7
        Overlap-ratio threshold of the P-step: higher purges more. Two components of
        equal weight have a ratio above 1/2 at any distance, so 0.5 keeps twins
        that EM would only merge slowly; 0.7 merges equal components closer than
        about 1.8 standard deviations and gives one box per rectangle.
    scale : float > 0, default=sqrt(3)
        Box half-size in standard deviations.
    max_iter : int >= 1, default=50
        Maximum number of E/M/P iterations. Iteration stops earlier when the P-step
        keeps every component and no box changes.
    return_history : bool, default=False
        Also return the state after every iteration (to draw Figure 3 of the paper).
        The iterations then run as NumPy steps, whatever ``engine``.
    engine : {"numba", "numpy"}, default="numba"
        How the iterations after the first run: compiled with numba (one pass per
        sample for the E- and M-step together), or as NumPy array steps, the
        reference. The two give the same boxes up to floating-point ties (a box edge
        that rounds at exactly half a cell, or a P-step ratio equal to ``purge`` to
        the last bit); the compiled one is several times faster when every position
        is a sample (``tau=0``).

    Returns
    -------
    boxes : ndarray of shape (m, 4), dtype int64
        ``[y0, x0, y1, x1)`` in map coordinates, by decreasing mixing weight; ``m = 0``
        for an all-zero map.
    history : list of dict
        Only with ``return_history``: per iteration ``weights`` (m,), ``means`` (m, 2),
        ``covariances`` (m, 2) and ``boxes`` (m, 4); entry 0 is the initialisation.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import egm_regions
    >>> S = np.zeros((20, 30))
    >>> S[4:10, 5:15] = 1.0
    >>> egm_regions(S, rho=1, tau=0, sigma=1.5).tolist()
    [[4, 5, 10, 15]]

    The compiled iterations and the NumPy reference agree:

    >>> rng = np.random.default_rng(0)
    >>> maps = [rng.random((12, 16)) ** 4 for _ in range(5)]
    >>> all(np.array_equal(egm_regions(M, tau=0), egm_regions(M, tau=0, engine="numpy"))
    ...     for M in maps)
    True
    """
    check_params(dict(EGM_PARAMETERS, return_history=["boolean"],
                      engine=[StrOptions({"numba", "numpy"})]), "egm_regions", rho=rho,
                 tau=tau, sigma=sigma, purge=purge, scale=scale, max_iter=max_iter,
                 return_history=return_history, engine=engine)
    return _egm_regions(check_saliency_map(S), rho=rho, tau=tau, sigma=sigma, purge=purge,
                        scale=scale, max_iter=max_iter, return_history=return_history,
                        engine=engine)


def _egm_regions(S, *, rho=5.0, tau=0.4, sigma=2.5, purge=0.7, scale=np.sqrt(3.0), max_iter=50,
                 return_history=False, engine="numba"):
    """:func:`egm_regions` of a map checked by
    :func:`~sklearn_salreg.collection.check_saliency_map`, with checked parameters (the
    detector checks them once, naming the image)."""
    shape = S.shape
    P = _prepare_saliency(S, rho, tau)
    ys, xs = np.nonzero(P)
    history = []
    if len(ys) == 0:
        empty = np.zeros((0, 4), dtype=np.int64)
        return (empty, history) if return_history else empty

    positions = np.stack([ys, xs], axis=1).astype(np.float64)
    pos_sq = positions**2
    mass = P[ys, xs]
    sigma2 = float(sigma) ** 2
    pi = mass / mass.sum()
    means = positions.copy()
    covs = np.full_like(positions, sigma2)

    def record():
        if return_history:
            history.append({"weights": pi.copy(), "means": means.copy(),
                            "covariances": covs.copy(), "boxes": boxes.copy()})

    boxes = mixture_boxes(means, covs, shape, scale)
    if engine == "numba" and not return_history:
        sd = np.sqrt(2 * sigma2)
        pi, boxes = egm_iterate(P, P.sum(), ys, xs, pi, boxes, _gaussian_kernel(sd), sigma2,
                                float(purge), float(scale), int(max_iter))
        return boxes[np.argsort(-pi, kind="stable")]
    record()
    for iteration in range(max_iter):
        if iteration == 0:
            new_pi, new_means, new_covs = _first_em_step(P, ys, xs, sigma2)
        else:
            resp = _e_step(positions, pos_sq, np.log(pi), means, covs, sigma2)
            new_pi, new_means, new_covs = _m_step(positions, pos_sq, mass, resp)
        kept = _purge(new_pi, new_means, new_covs, purge)
        new_pi, new_means, new_covs = new_pi[kept], new_means[kept], new_covs[kept]
        new_pi = new_pi / new_pi.sum()
        # Converged when the P-step kept every component and no box moved: EM's
        # slow sub-cell drift afterwards would not change the output.
        new_boxes = mixture_boxes(new_means, new_covs, shape, scale)
        converged = len(new_pi) == len(pi) and np.array_equal(new_boxes, boxes)
        boxes = new_boxes
        pi, means, covs = new_pi, new_means, new_covs
        record()
        if converged:
            break
    boxes = boxes[np.argsort(-pi, kind="stable")]
    return (boxes, history) if return_history else boxes
