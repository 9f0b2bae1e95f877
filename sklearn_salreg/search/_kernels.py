"""Compiled (numba) loops of diffusion (the exact top-k kernels are in
:mod:`sklearn_salreg.neighbors`).

* :func:`sum_rows_and_rank`: the online stage of decoupled diffusion: per query, the
  weighted sum of the (sparse) rows of its neighbours, then its top entries by
  ``(-score, index)``.
* :func:`diffuse_subsets`: conjugate gradients for ``(I - alpha Wn[s, s]) f = b``,
  one small system per row of ``subsets`` (the offline stage of decoupled
  diffusion: the diffusion from every database item over its own neighbourhood).

All functions release the GIL: callers run blocks of rows on threads.
"""

import numpy as np
from numba import njit

__all__ = ["diffuse_subsets", "sum_rows_and_rank"]


@njit(cache=True, nogil=True)
def _rank_support(ids, scores, n_res, out_ids, out_scores):
    """Sort ``ids`` (sorted increasingly) by decreasing ``scores``, ties by index,
    keeping the first ``n_res``; returns how many were written."""
    L = ids.shape[0]
    if L > n_res:
        kth = -np.partition(-scores, n_res - 1)[n_res - 1]
        keep = np.flatnonzero(scores >= kth)
        ids, scores = ids[keep], scores[keep]
    order = np.argsort(-scores, kind="mergesort")
    got = min(n_res, ids.shape[0])
    for j in range(got):
        out_ids[j] = ids[order[j]]
        out_scores[j] = scores[order[j]]
    return got


@njit(cache=True, nogil=True)
def sum_rows_and_rank(indptr, indices, data, n, near, weights, n_res, out_ids, out_scores,
                      reached):
    """For each query ``i``: ``f = sum_j weights[i, j] F[near[i, j]]`` (``F`` given by
    its CSR arrays, ``n`` columns), summed in the order of ``near[i]``; its nonzero
    entries ranked by ``(-f, index)``, the first ``n_res`` written to
    ``out_ids[i]``/``out_scores[i]`` and their number to ``reached[i]``."""
    m, kq = near.shape
    acc = np.zeros(n)
    seen = np.zeros(n, dtype=np.bool_)
    width = 0
    for v in range(n):
        width = max(width, indptr[v + 1] - indptr[v])
    touched = np.empty(kq * width, dtype=np.int64)
    for i in range(m):
        L = 0
        for j in range(kq):
            v = near[i, j]
            w = weights[i, j]
            if v < 0 or w == 0:
                continue
            for e in range(indptr[v], indptr[v + 1]):
                c = indices[e]
                if not seen[c]:
                    seen[c] = True
                    touched[L] = c
                    L += 1
                acc[c] += w * data[e]
        ids = np.sort(touched[:L])
        count = 0
        for j in range(L):
            if acc[ids[j]] != 0:
                ids[count] = ids[j]
                count += 1
        ids = ids[:count]
        scores = np.empty(count)
        for j in range(count):
            scores[j] = acc[ids[j]]
        reached[i] = _rank_support(ids, scores, n_res, out_ids[i], out_scores[i])
        for j in range(L):
            acc[touched[j]] = 0.0
            seen[touched[j]] = False


@njit(cache=True, nogil=True)
def _cg_subset(indptr, indices, data, subset, b, alpha, tol, max_iter, pos, sub_ptr,
               sub_idx, sub_w, x):
    """Conjugate gradients for ``(I - alpha W[s, s]) x = b``, ``s = subset``; ``pos``
    (length n, all -1) maps database items to their place in the subset and is
    restored to -1 on return. Entries of ``subset`` below 0 are isolated vertices."""
    T = subset.shape[0]
    for t in range(T):
        if subset[t] >= 0:
            pos[subset[t]] = t
    # The sub-graph, in CSR form.
    nnz = 0
    for t in range(T):
        sub_ptr[t] = nnz
        v = subset[t]
        if v < 0:
            continue
        for e in range(indptr[v], indptr[v + 1]):
            u = pos[indices[e]]
            if u >= 0:
                sub_idx[nnz] = u
                sub_w[nnz] = data[e]
                nnz += 1
    sub_ptr[T] = nnz
    for t in range(T):
        if subset[t] >= 0:
            pos[subset[t]] = -1
    r = b.copy()
    p = b.copy()
    ap = np.empty(T)
    x[:] = 0.0
    rs = 0.0
    for t in range(T):
        rs += r[t] * r[t]
    threshold = tol * np.sqrt(rs)
    for _ in range(max_iter):
        if not np.sqrt(rs) > threshold:
            break
        pap = 0.0
        for t in range(T):
            acc = 0.0
            for e in range(sub_ptr[t], sub_ptr[t + 1]):
                acc += sub_w[e] * p[sub_idx[e]]
            ap[t] = p[t] - alpha * acc
            pap += p[t] * ap[t]
        if not pap > 0:
            break
        step = rs / pap
        rs_new = 0.0
        for t in range(T):
            x[t] += step * p[t]
            r[t] -= step * ap[t]
            rs_new += r[t] * r[t]
        beta = rs_new / rs
        for t in range(T):
            p[t] = r[t] + beta * p[t]
        rs = rs_new


@njit(cache=True, nogil=True)
def diffuse_subsets(indptr, indices, data, n, subsets, rhs, alpha, tol, max_iter,
                    max_degree, out):
    """``out[i] ~ (I - alpha W[s, s])^-1 rhs[i]`` with ``s = subsets[i]``
    (``max_iter`` conjugate-gradient iterations at most), for every row ``i``;
    ``W`` is given by its CSR arrays (``n`` vertices, at most ``max_degree`` entries
    per row)."""
    m, T = subsets.shape
    pos = np.full(n, -1, dtype=np.int32)
    sub_ptr = np.empty(T + 1, dtype=np.int64)
    sub_idx = np.empty(T * max_degree, dtype=np.int32)
    sub_w = np.empty(T * max_degree, dtype=np.float32)
    for i in range(m):
        _cg_subset(indptr, indices, data, subsets[i], rhs[i], alpha, tol, max_iter, pos,
                   sub_ptr, sub_idx, sub_w, out[i])
