"""EGM over many maps of one shape at once, in torch on a chosen device.

The same E-, M- and P-steps as :func:`egm_regions` (see its module for the maths),
with the state of a batch of maps held as padded tensors:

* samples are all ``h * w`` cells of the grid, shared by every map; a cell outside
  a map's support has mass 0 and so weighs nothing in the M-step;
* components are ``(n_maps, m)`` tensors with a validity mask. The P-step compacts
  the survivors to the front, in their incoming order, so that an iteration's boxes
  compare position by position with the previous one's;
* a map leaves the batch once converged (same number of components, no box moved),
  exactly when the per-image loop would stop on it.

Per image, EGM is a dozen iterations of small array operations: the per-image
version spends most of its time in Python and numpy call overhead. Here each
operation runs once for the whole batch.

Why a second implementation: it is for GPUs, where these batches beat the compiled
per-image loop of :func:`egm_regions` on a CPU core; on the CPU that loop is the
faster one, at both map sizes and both detector settings of
``benchmarks/bench_per_image.py`` (figures on the docs' benchmarks page), so
``device=None`` never comes here. The doctest of :func:`egm_regions_batch` and
``tests/test_egm.py`` pin the two to the same boxes.
"""

import numpy as np
import torch

from ..collection import check_saliency_map
from ..collection._validation import check_same_shape
from ..utils import check_device
from ..utils._param_validation import check_params
from ._egm import _CELL_VAR, _LOG_2PI, EGM_PARAMETERS

__all__ = ["egm_regions_batch"]


def _blur_matrix(size, sd, truncate=4.0):
    """The (size, size) matrix of ``scipy.ndimage.gaussian_filter1d(sd, truncate=4,
    mode="constant")`` along one axis: a banded Toeplitz matrix of the kernel."""
    radius = int(truncate * sd + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sd) ** 2)
    kernel /= kernel.sum()
    offset = np.arange(size)[:, None] - np.arange(size)[None, :]
    inside = np.abs(offset) <= radius
    return np.where(inside, kernel[np.clip(offset + radius, 0, 2 * radius)], 0.0)


def _blur(G, along_y, along_x):
    """Separable Gaussian blur of ``G`` (..., h, w) with zero padding, as two matrix
    products (float64 convolutions have no fast kernel on the CPU; products do)."""
    return along_y @ G @ along_x.T


def _log_overlap(mu_a, var_a, mu_b, var_b):
    """log N(mu_a | mu_b, var_a + var_b) for diagonal 2-D Gaussians, broadcast."""
    var = var_a + var_b
    d2 = (mu_a - mu_b) ** 2 / var
    return -0.5 * (d2[..., 0] + d2[..., 1] + torch.log(var[..., 0] * var[..., 1])) - _LOG_2PI


def _boxes(means, covs, shape, scale):
    """:func:`mixture_boxes` of every component, (n_maps, m, 4) int64."""
    half = scale * torch.sqrt(covs + _CELL_VAR)
    limits = torch.tensor(shape, dtype=torch.int64, device=means.device)
    lo = torch.round(means - half + 0.5).to(torch.int64)  # round half to even, as np.rint
    hi = torch.round(means + half + 0.5).to(torch.int64)
    lo = torch.minimum(lo.clamp_min(0), limits - 1)
    hi = torch.minimum(torch.maximum(hi, lo + 1).clamp_min(1), limits)
    return torch.cat([lo, hi], dim=-1)


def _first_step(P, mass_sum, sigma2):
    """E- and M-step from one component per sample, as Gaussian blurs of the grid."""
    n_maps, h, w = P.shape
    sd = np.sqrt(2 * sigma2)
    along_y = torch.as_tensor(_blur_matrix(h, sd), device=P.device)
    along_x = torch.as_tensor(_blur_matrix(w, sd), device=P.device)
    pi = P / mass_sum[:, None, None]
    support = P > 0
    Z = _blur(pi, along_y, along_x)
    R = torch.where(support, P / torch.where(support, Z, 1.0), 0.0)
    gy, gx = torch.meshgrid(torch.arange(h, dtype=P.dtype, device=P.device),
                            torch.arange(w, dtype=P.dtype, device=P.device), indexing="ij")
    fields = torch.stack([R, R * gy, R * gx, R * gy**2, R * gx**2], dim=1)
    blurred = _blur(fields, along_y, along_x).reshape(n_maps, 5, h * w)
    conv_r = torch.where(support.reshape(n_maps, -1), blurred[:, 0], 1.0)
    load = pi.reshape(n_maps, -1) * conv_r
    means = torch.stack([blurred[:, 1], blurred[:, 2]], dim=-1) / conv_r[..., None]
    second = torch.stack([blurred[:, 3], blurred[:, 4]], dim=-1) / conv_r[..., None]
    covs = (second - means**2).clamp_min(_CELL_VAR)
    return load / mass_sum[:, None], means, covs, support.reshape(n_maps, -1)


def _em_step(positions, pos_sq, mass, pi, means, covs, valid, sigma2):
    """One E- and M-step for a batch; returns the new state and which components live."""
    var = sigma2 + covs  # (b, m, 2)
    inv = 1.0 / var
    coef = torch.cat([inv, -2.0 * means * inv], dim=-1)  # (b, m, 4)
    const = (means[..., 0] ** 2 * inv[..., 0] + means[..., 1] ** 2 * inv[..., 1]
             + torch.log(var[..., 0] * var[..., 1]))
    features = torch.cat([pos_sq, positions], dim=-1)  # (b, n, 4)
    quad = torch.einsum("bnd,bmd->bnm", features, coef)
    log_pi = torch.where(valid, torch.log(torch.where(valid, pi, 1.0)), -torch.inf)
    log_resp = log_pi[:, None, :] - 0.5 * (quad + const[:, None, :])
    log_resp = log_resp - log_resp.amax(dim=2, keepdim=True)
    resp = torch.exp(log_resp)
    resp = resp / resp.sum(dim=2, keepdim=True)
    weights = resp * mass[:, :, None]  # (b, n, m)
    load = weights.sum(dim=1)
    total = mass.sum(dim=1, keepdim=True)
    alive = valid & (load > 1e-12 * total)
    safe = torch.where(alive, load, 1.0)[..., None]
    new_means = torch.einsum("bnm,bnd->bmd", weights, positions) / safe
    new_covs = (torch.einsum("bnm,bnd->bmd", weights, pos_sq) / safe - new_means**2)
    return load / total, new_means, new_covs.clamp_min(_CELL_VAR), alive


def _purge(pi, means, covs, valid, threshold):
    """The P-step for a batch: which components survive, (b, m) bool in incoming order.

    The same greedy as the per-image version, in rounds: each round keeps, for every
    map, the first component at or after its pointer that passes given the overlaps
    so far; everything skipped is rejected for good since overlaps only grow.
    """
    n_maps, m = pi.shape
    key = torch.where(valid, -pi, torch.inf)
    key, order = torch.sort(key, dim=1, stable=True)
    take = lambda T: torch.gather(T, 1, order if T.dim() == 2 else order[..., None].expand_as(T))
    s_valid = take(valid)
    s_pi = torch.where(s_valid, take(pi), 1.0)
    s_means, s_covs = take(means), torch.where(s_valid[..., None], take(covs), 1.0)
    log_pi = torch.log(s_pi)
    log_self = 2 * log_pi + _log_overlap(s_means, s_covs, s_means, s_covs)
    top = torch.where(s_valid, log_self, -torch.inf).amax(dim=1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, 0.0)
    self_norm = torch.exp(log_self - top)
    overlap = torch.zeros_like(self_norm)
    kept = torch.zeros_like(s_valid)
    pointer = torch.zeros(n_maps, dtype=torch.int64, device=pi.device)
    index = torch.arange(m, device=pi.device)
    rows = torch.arange(n_maps, device=pi.device)
    while len(rows):
        passes = (s_valid[rows] & (index >= pointer[rows, None])
                  & (self_norm[rows] > threshold * (self_norm[rows] + overlap[rows])))
        found = passes.any(dim=1)
        rows, passes = rows[found], passes[found]
        if not len(rows):
            break
        k = passes.to(torch.uint8).argmax(dim=1)  # the first passing component
        kept[rows, k] = True
        overlap[rows] += torch.exp(
            log_pi[rows] + log_pi[rows, k, None]
            + _log_overlap(s_means[rows], s_covs[rows], s_means[rows, k, None], s_covs[rows, k, None])
            - top[rows])
        pointer[rows] = k + 1
    return torch.zeros_like(kept).scatter_(1, order, kept)


def _compact(kept, *tensors):
    """Move each map's surviving components to the front, keeping their order."""
    order = torch.sort((~kept).to(torch.uint8), dim=1, stable=True).indices
    out = [torch.gather(kept, 1, order)]
    for T in tensors:
        out.append(torch.gather(T, 1, order if T.dim() == 2 else order[..., None].expand_as(T)))
    return out


def _check_batch(maps):
    maps = [check_saliency_map(S, index=i) for i, S in enumerate(maps)]
    check_same_shape(maps, "saliency map")
    return maps


def egm_regions_batch(maps, *, rho=5.0, tau=0.4, sigma=2.5, purge=0.7, scale=np.sqrt(3.0),
                      max_iter=50, device="cpu"):
    """:func:`egm_regions` of many saliency maps of one shape at once, in torch on ``device``.

    Computes in float64 like the per-image function and returns the same boxes up to
    floating-point ties (a box edge that rounds at exactly half a cell, or a P-step
    ratio equal to ``purge`` to the last bit).

    Parameters
    ----------
    maps : sequence of array-like of shape (h, w)
        Non-negative saliency maps, all of one shape.
    rho, tau, sigma, purge, scale, max_iter
        As in :func:`egm_regions`.
    device : str or torch.device, default="cpu"
        Where to compute. Results come back as numpy arrays.

    Returns
    -------
    list of ndarray of shape (m_i, 4), dtype int64
        Each map's boxes ``[y0, x0, y1, x1)`` by decreasing mixing weight (none for an
        all-zero map).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.detection import egm_regions, egm_regions_batch
    >>> rng = np.random.default_rng(0)
    >>> maps = [rng.random((12, 16)) ** 8 for _ in range(5)]
    >>> batch = egm_regions_batch(maps)
    >>> all(np.array_equal(b, egm_regions(S)) for b, S in zip(batch, maps))
    True
    """
    check_params(EGM_PARAMETERS, "egm_regions_batch", rho=rho, tau=tau, sigma=sigma,
                 purge=purge, scale=scale, max_iter=max_iter)
    maps = _check_batch(maps)
    if not maps:
        return []
    device = check_device(device, "egm_regions_batch")
    shape = maps[0].shape
    h, w = shape
    if h * w == 0:
        return [np.zeros((0, 4), dtype=np.int64) for _ in maps]
    S = torch.as_tensor(np.stack(maps), dtype=torch.float64, device=device)
    top = S.amax(dim=(1, 2), keepdim=True)
    P = torch.where(top > 0, S / torch.where(top > 0, top, 1.0), 0.0)
    P = torch.where(P < tau, 0.0, P) ** rho
    n_maps = len(maps)
    mass = P.reshape(n_maps, -1)
    mass_sum = mass.sum(dim=1)
    sigma2 = float(sigma) ** 2
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=device),
                            torch.arange(w, dtype=torch.float64, device=device), indexing="ij")
    positions = torch.stack([gy.reshape(-1), gx.reshape(-1)], dim=1)

    # The initial state: one component per sample of the support. Only the maps still
    # iterating are held; a converged map's boxes are taken out at once.
    valid = mass > 0
    count = valid.sum(dim=1)
    ids = count.nonzero().squeeze(1)
    P, mass, mass_sum, valid, count = P[ids], mass[ids], mass_sum[ids], valid[ids], count[ids]
    # The samples of the E- and M-steps: each map's support first, padded with
    # massless cells to the largest support of the batch.
    cells = torch.sort((~valid).to(torch.uint8), dim=1, stable=True).indices
    cells = cells[:, :max(int(count.max()), 1) if len(ids) else 1]
    samples = positions[cells]  # (b, n_s, 2)
    sample_mass = torch.gather(mass, 1, cells)
    on_support = lambda T: torch.gather(  # noqa: E731  the grid's values, in sample order
        T, 1, cells if T.dim() == 2 else cells[..., None].expand(-1, -1, T.shape[2]))
    valid = sample_mass > 0
    pi = sample_mass / mass_sum[:, None]
    means = samples.clone()
    covs = torch.full_like(means, sigma2)
    boxes = _boxes(means, covs, shape, scale)
    out = [np.zeros((0, 4), dtype=np.int64)] * n_maps

    def finish(which):
        for i, p, b, c in zip(ids[which].tolist(), pi[which].cpu().numpy(),
                              boxes[which].cpu().numpy(), count[which].tolist()):
            out[i] = b[:c][np.argsort(-p[:c], kind="stable")].astype(np.int64)

    for iteration in range(max_iter):
        if not len(ids):
            break
        if iteration == 0:  # computed on the grid, kept on the support (numpy's order)
            new = [on_support(T) for T in _first_step(P, mass_sum, sigma2)]
        else:
            new = _em_step(samples, samples**2, sample_mass, pi, means, covs, valid, sigma2)
        kept = _purge(*new, purge)
        kept, new_pi, means, covs = _compact(kept, *new[:3])
        new_pi = torch.where(kept, new_pi, 0.0)
        pi = new_pi / new_pi.sum(dim=1, keepdim=True)
        new_boxes = _boxes(means, covs, shape, scale)
        new_count = kept.sum(dim=1)
        converged = (new_count == count) & ((new_boxes == boxes).all(dim=2) | ~kept).all(dim=1)
        boxes, count, valid = new_boxes, new_count, kept
        finish(converged)
        # Components only die: the batch narrows to the survivors of the busiest map.
        going = ~converged
        width = max(int(count[going].max()), 1) if bool(going.any()) else 1
        ids, samples, sample_mass, count = ids[going], samples[going], sample_mass[going], count[going]
        pi, means, covs, valid, boxes = (T[going][:, :width] for T in (pi, means, covs, valid, boxes))
    finish(torch.ones_like(ids, dtype=torch.bool))
    return out
