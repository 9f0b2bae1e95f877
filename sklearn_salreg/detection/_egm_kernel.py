"""The E/M/P iterations of :func:`~._egm.egm_regions`, compiled with numba.

The NumPy steps of :mod:`._egm` are the reference; this is the same arithmetic written
as loops, used by :func:`~._egm.egm_regions` by default (``engine="numba"``). With
every position of the map a sample (the OS.EGM settings), an iteration is a dozen
small array operations over a few thousand samples and a few dozen components: the
NumPy steps spend their time creating temporaries and in call overhead. Here one
pass per sample does the E- and the M-step (the responsibilities of a sample are
used at once and never stored), and the P-step visits the components once, adding
the overlap of a kept component only to the components not yet decided.

Every formula is evaluated in the order of the NumPy steps, so the two differ only
where NumPy's matrix products sum in another order (the last bits of a mean): the
boxes are the same up to floating-point ties, a box edge that rounds at exactly
half a cell or a P-step ratio equal to ``purge`` to the last bit (the tests pin the
two on random maps).

The first iteration, from one component per sample, stays the Gaussian blurs of
:func:`~._egm._first_em_step`; its result enters :func:`egm_iterate`.
"""

import numpy as np
from numba import njit

__all__ = ["egm_iterate"]

_LOG_2PI = np.log(2 * np.pi)
_CELL_VAR = 1.0 / 12.0  # variance of the uniform distribution over one map cell


@njit(cache=True, nogil=True)
def _log_overlap(ay, ax, vay, vax, by, bx, vby, vbx):
    """log N(a | b, var_a + var_b) of two diagonal 2-D Gaussians."""
    vy = vay + vby
    vx = vax + vbx
    dy = (ay - by) ** 2 / vy
    dx = (ax - bx) ** 2 / vx
    return -0.5 * (dy + dx + np.log(vy * vx)) - _LOG_2PI


@njit(cache=True, nogil=True)
def _boxes(means, covs, h, w, scale):
    """:func:`~._egm.mixture_boxes` of every component, (m, 4) int64."""
    m = means.shape[0]
    out = np.empty((m, 4), np.int64)
    for k in range(m):
        for d in range(2):
            limit = h if d == 0 else w
            half = scale * np.sqrt(covs[k, d] + _CELL_VAR)
            lo = np.int64(np.rint(means[k, d] - half + 0.5))
            hi = np.int64(np.rint(means[k, d] + half + 0.5))
            lo = min(max(lo, 0), limit - 1)
            hi = min(max(max(hi, lo + 1), 1), limit)
            out[k, d] = lo
            out[k, 2 + d] = hi
    return out


@njit(cache=True, nogil=True)
def _purge(pi, means, covs, threshold):
    """Indices of the components that survive the P-step, in incoming order.

    The sequential greedy of :func:`~._egm._purge`: components by decreasing ``pi``
    (stable), each kept when its overlap ratio exceeds ``threshold`` given the
    components kept before it. A component's overlap is summed over the kept ones in
    the order they were kept (the reference's order of additions), and the sum stops
    as soon as the component fails: the terms are positive, so the rest could only
    confirm it.
    """
    m = len(pi)
    order = np.argsort(-pi, kind="mergesort")
    log_pi = np.empty(m)
    log_self = np.empty(m)
    top = -np.inf
    for r in range(m):
        k = order[r]
        log_pi[r] = np.log(pi[k])
        log_self[r] = 2 * log_pi[r] + _log_overlap(means[k, 0], means[k, 1], covs[k, 0],
                                                   covs[k, 1], means[k, 0], means[k, 1],
                                                   covs[k, 0], covs[k, 1])
        top = max(top, log_self[r])
    kept = np.empty(m, np.int64)  # ranks of the kept components, in the order kept
    n_kept = 0
    for r in range(m):
        j = order[r]
        self_norm = np.exp(log_self[r] - top)
        bound = threshold * self_norm
        overlap = 0.0
        passes = self_norm > bound
        for t in range(n_kept):
            q = kept[t]
            k = order[q]
            overlap += np.exp(log_pi[r] + log_pi[q]
                              + _log_overlap(means[j, 0], means[j, 1], covs[j, 0], covs[j, 1],
                                             means[k, 0], means[k, 1], covs[k, 0], covs[k, 1])
                              - top)
            if not self_norm > threshold * (self_norm + overlap):
                passes = False
                break
        if passes:
            kept[n_kept] = r
            n_kept += 1
    return np.sort(order[kept[:n_kept]])


@njit(cache=True, nogil=True)
def _axis_tables(means, covs, log_pi, sigma2, h, w):
    """Per-row and per-column factors of the E-step's responsibilities.

    With diagonal covariances, ``log(pi_k N(p | mu_k, sigma^2 I + Sigma_k))`` is a
    sum of a term of the row ``y`` and one of the column ``x``: its exponential is a
    product of a row table ``(h, m)`` and a column table ``(w, m)``, (h + w) m
    exponentials instead of one per sample and component. Each row (column) is
    shifted by its maximum over the components, which cancels in the normalisation.
    """
    m = len(log_pi)
    rows = np.empty((h, m))
    cols = np.empty((w, m))
    for d in range(2):
        size = h if d == 0 else w
        table = rows if d == 0 else cols
        for c in range(size):
            best = -np.inf
            for k in range(m):
                v = sigma2 + covs[k, d]
                value = -0.5 * ((c - means[k, d]) ** 2 / v)
                if d == 0:  # the component's weight and normalisation go with the rows
                    value += log_pi[k] - 0.5 * np.log(v * (sigma2 + covs[k, 1]))
                table[c, k] = value
                best = max(best, value)
            for k in range(m):
                table[c, k] = np.exp(table[c, k] - best)
    return rows, cols


@njit(cache=True, nogil=True)
def _exact_responsibilities(y, x, means, covs, log_pi, sigma2, out):
    """The responsibilities of one sample, unnormalised, shifted by their maximum."""
    m = len(log_pi)
    best = -np.inf
    for k in range(m):
        vy = sigma2 + covs[k, 0]
        vx = sigma2 + covs[k, 1]
        out[k] = log_pi[k] - 0.5 * ((y - means[k, 0]) ** 2 / vy + (x - means[k, 1]) ** 2 / vx
                                    + np.log(vy * vx))
        best = max(best, out[k])
    norm = 0.0
    for k in range(m):
        out[k] = np.exp(out[k] - best)
        norm += out[k]
    return norm


@njit(cache=True, nogil=True)
def _em_step(ys, xs, mass, total, pi, means, covs, sigma2, h, w):
    """One E- and M-step; returns ``pi, means, covs`` of the components that live.

    ``total`` is the sum of ``mass`` (as NumPy sums it)."""
    n = len(ys)
    m = len(pi)
    rows, cols = _axis_tables(means, covs, np.log(pi), sigma2, h, w)
    load = np.zeros(m)
    sy = np.zeros(m)
    sx = np.zeros(m)
    syy = np.zeros(m)
    sxx = np.zeros(m)
    resp = np.empty(m)
    for i in range(n):
        y = ys[i]
        x = xs[i]
        norm = 0.0
        for k in range(m):
            resp[k] = rows[y, k] * cols[x, k]
            norm += resp[k]
        if not norm > 1e-200:  # the two shifts compound: redo this sample directly
            norm = _exact_responsibilities(np.float64(y), np.float64(x), means, covs,
                                           np.log(pi), sigma2, resp)
        scale = mass[i] / norm
        py = np.float64(y)
        px = np.float64(x)
        for k in range(m):
            weight = resp[k] * scale
            load[k] += weight
            sy[k] += weight * py
            sx[k] += weight * px
            syy[k] += weight * (py * py)
            sxx[k] += weight * (px * px)
    alive = np.nonzero(load > 1e-12 * total)[0]
    a = len(alive)
    new_pi = np.empty(a)
    new_means = np.empty((a, 2))
    new_covs = np.empty((a, 2))
    for r in range(a):
        k = alive[r]
        new_pi[r] = load[k] / total
        new_means[r, 0] = sy[k] / load[k]
        new_means[r, 1] = sx[k] / load[k]
        new_covs[r, 0] = max(syy[k] / load[k] - new_means[r, 0] ** 2, _CELL_VAR)
        new_covs[r, 1] = max(sxx[k] / load[k] - new_means[r, 1] ** 2, _CELL_VAR)
    return new_pi, new_means, new_covs


@njit(cache=True, nogil=True)
def _blur_axis(G, weights, axis):
    """``scipy.ndimage.gaussian_filter1d`` with ``mode="constant"`` along ``axis`` of a
    2-D array, with scipy's order of operations (the same bits)."""
    h, w = G.shape
    r = (len(weights) - 1) // 2
    out = np.empty_like(G)
    size = h if axis == 0 else w
    for y in range(h):
        for x in range(w):
            c = y if axis == 0 else x
            acc = G[y, x] * weights[r]
            for j in range(-r, 0):
                a = 0.0
                b = 0.0
                if c + j >= 0:
                    a = G[y + j, x] if axis == 0 else G[y, x + j]
                if c - j < size:
                    b = G[y - j, x] if axis == 0 else G[y, x - j]
                acc += (a + b) * weights[r + j]
            out[y, x] = acc
    return out


@njit(cache=True, nogil=True)
def _blur(G, weights):
    return _blur_axis(_blur_axis(G, weights, 0), weights, 1)


@njit(cache=True, nogil=True)
def _first_em_step(P, total, ys, xs, weights):
    """:func:`~._egm._first_em_step`: ``P`` the prepared map, ``total`` its sum (as
    NumPy sums it), ``weights`` the Gaussian kernel of standard deviation
    ``sqrt(2) sigma``."""
    h, w = P.shape
    pi = P / total
    Z = _blur(pi, weights)
    R = np.zeros_like(P)
    for y in range(h):
        for x in range(w):
            if P[y, x] > 0:
                R[y, x] = P[y, x] / Z[y, x]
    fields = np.empty((5, h, w))
    for y in range(h):
        for x in range(w):
            fields[0, y, x] = R[y, x]
            fields[1, y, x] = R[y, x] * y
            fields[2, y, x] = R[y, x] * x
            fields[3, y, x] = R[y, x] * np.float64(y) ** 2
            fields[4, y, x] = R[y, x] * np.float64(x) ** 2
    n = len(ys)
    load = np.empty(n)
    means = np.empty((n, 2))
    covs = np.empty((n, 2))
    blurred = [_blur(fields[f], weights) for f in range(5)]
    for i in range(n):
        y = ys[i]
        x = xs[i]
        conv_r = blurred[0][y, x]
        load[i] = pi[y, x] * conv_r / total
        for d in range(2):
            means[i, d] = blurred[1 + d][y, x] / conv_r
            covs[i, d] = max(blurred[3 + d][y, x] / conv_r - means[i, d] ** 2, _CELL_VAR)
    return load, means, covs


@njit(cache=True, nogil=True)
def egm_iterate(P, total, ys, xs, pi, boxes, weights, sigma2, purge, scale, max_iter):
    """EGM's iterations from one component per sample, as in :func:`~._egm.egm_regions`.

    Parameters
    ----------
    P : ndarray of shape (h, w), float64
        The prepared map (:func:`~._egm.prepare_saliency`).
    total : float
        Its sum.
    ys, xs : ndarrays of shape (n,), int64
        The samples' cells (the support of ``P``).
    pi : ndarray of shape (n,)
        The initial mixing weights, ``P[ys, xs] / total``.
    boxes : ndarray of shape (n, 4), int64
        The initial boxes.
    weights : ndarray
        The kernel of the first step's Gaussian blurs (``scipy.ndimage``'s, of
        standard deviation ``sqrt(2) sigma``, truncated at 4).
    sigma2, purge, scale, max_iter
        As in :func:`~._egm.egm_regions` (``sigma2`` the squared ``sigma``).

    Returns
    -------
    pi : ndarray of shape (m,)
        The final mixing weights.
    boxes : ndarray of shape (m, 4), int64
        The final boxes, in the components' order.
    """
    h, w = P.shape
    mass = np.empty(len(ys))
    for i in range(len(ys)):
        mass[i] = P[ys[i], xs[i]]
    means = np.empty((len(ys), 2))
    covs = np.empty((len(ys), 2))
    for iteration in range(max_iter):
        if iteration == 0:
            new_pi, new_means, new_covs = _first_em_step(P, total, ys, xs, weights)
        else:
            new_pi, new_means, new_covs = _em_step(ys, xs, mass, total, pi, means, covs,
                                                   sigma2, h, w)
        kept = _purge(new_pi, new_means, new_covs, purge)
        new_pi = new_pi[kept]
        new_pi = new_pi / new_pi.sum()
        new_means = new_means[kept]
        new_covs = new_covs[kept]
        new_boxes = _boxes(new_means, new_covs, h, w, scale)
        converged = len(new_pi) == len(pi) and np.array_equal(new_boxes, boxes)
        boxes = new_boxes
        pi, means, covs = new_pi, new_means, new_covs
        if converged:
            break
    return pi, boxes
