"""Compiled (numba) loops of diffusion, offline and online.

* :func:`diffuse_truncated`: the query-time truncated diffusion of a batch of
  queries: per query, the sub-graph of its top ``T`` items re-normalised by its own
  degrees, conjugate gradients on it, and its items ranked by ``(-f, k-NN
  position)``. Work buffers are allocated once per call, not per query.
* :func:`diffuse_subsets`: conjugate gradients for ``(I - alpha Wn[s, s]) f = b``,
  one small system per row of ``subsets`` (the offline stage of decoupled
  diffusion: the diffusion from every database item over its own neighbourhood).
* :func:`sum_rows_and_rank`: the online stage of decoupled diffusion: per query, the
  weighted sum of the (sparse) rows of its neighbours, then its top entries by
  ``(-score, index)``, selected in linear time before the few kept are sorted.

Every function handles a block of rows with its own buffers and releases the GIL,
so that callers run blocks on threads (``_kernels.on_threads``); the result of a row
never depends on the other rows of its block.
"""

import numpy as np
from numba import njit

__all__ = ["diffuse_subsets", "diffuse_truncated", "fill_rows_in_knn_order", "sum_rows_and_rank"]


@njit(cache=True, nogil=True)
def _subgraph(indptr, indices, data, subset, renormalise, pos, sub_ptr, sub_idx, sub_w, degree):
    """``W[s, s]`` in CSR form (``sub_ptr``, ``sub_idx``, ``sub_w``), edges in the order
    of ``W``'s rows, positive weights only; with ``renormalise``, scaled by the
    sub-graph's own degrees, ``D_s^-1/2 W[s, s] D_s^-1/2`` (0/0 = 0). ``pos`` (length
    n, all -1) maps items to their place in ``s`` and is restored on return; entries
    of ``s`` below 0 are isolated vertices."""
    T = subset.shape[0]
    for t in range(T):
        if subset[t] >= 0:
            pos[subset[t]] = t
    nnz = 0
    for t in range(T):
        sub_ptr[t] = nnz
        v = subset[t]
        d = 0.0
        if v >= 0:
            # Without a branch (which edge is kept is unpredictable): every edge is
            # written, and the next one overwrites it unless it was kept.
            for e in range(indptr[v], indptr[v + 1]):
                u = pos[indices[e]]
                w = data[e]
                keep = (u >= 0) & (w > 0)
                sub_idx[nnz] = u
                sub_w[nnz] = w
                d += w if keep else 0.0
                nnz += keep
        degree[t] = d
    sub_ptr[T] = nnz
    for t in range(T):
        if subset[t] >= 0:
            pos[subset[t]] = -1
    if renormalise:
        for t in range(T):
            degree[t] = 1.0 / np.sqrt(degree[t]) if degree[t] > 0 else 0.0
        for t in range(T):
            for e in range(sub_ptr[t], sub_ptr[t + 1]):
                sub_w[e] = sub_w[e] * degree[t] * degree[sub_idx[e]]


@njit(cache=True, nogil=True)
def _cg(sub_ptr, sub_idx, sub_w, b, alpha, tol, max_iter, r, p, ap, x):
    """Conjugate gradients for ``(I - alpha G) x = b``, ``G`` given by its CSR arrays;
    stops once ``||r|| <= tol ||b||`` or after ``max_iter`` iterations. ``r``, ``p``,
    ``ap``: work vectors of the length of ``b``."""
    T = b.shape[0]
    rs = 0.0
    for t in range(T):
        x[t] = 0.0
        r[t] = b[t]
        p[t] = b[t]
        rs += b[t] * b[t]
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
def diffuse_subsets(indptr, indices, data, n, subsets, rhs, alpha, tol, max_iter, max_degree, out):
    """``out[i] ~ (I - alpha W[s, s])^-1 rhs[i]`` with ``s = subsets[i]``
    (``max_iter`` conjugate-gradient iterations at most), for every row ``i``;
    ``W`` is given by its CSR arrays (``n`` vertices, at most ``max_degree`` entries
    per row)."""
    m, T = subsets.shape
    pos = np.full(n, -1, dtype=np.int32)
    sub_ptr = np.empty(T + 1, dtype=np.int64)
    sub_idx = np.empty(T * max_degree, dtype=np.int32)
    sub_w = np.empty(T * max_degree, dtype=np.float32)  # the weights of Wn, in float32
    degree = np.empty(T)
    r, p, ap = np.empty(T), np.empty(T), np.empty(T)
    for i in range(m):
        _subgraph(indptr, indices, data, subsets[i], False, pos, sub_ptr, sub_idx, sub_w, degree)
        _cg(sub_ptr, sub_idx, sub_w, rhs[i], alpha, tol, max_iter, r, p, ap, out[i])


@njit(cache=True, nogil=True)
def diffuse_truncated(indptr, indices, data, n, subsets, rhs, alpha, tol, max_iter,
                      max_degree, n_top, out_ids, out_scores):
    """The query-time truncated diffusion of each row ``i``: ``f`` solves
    ``(I - alpha Wn_s) f = rhs[i]`` with ``s = subsets[i]`` (the query's top ``T``
    items in k-NN order, -1 for holes) and ``Wn_s`` the sub-graph ``W[s, s]``
    normalised by its own degrees; the items of ``s`` ranked by ``(-f, position in
    s)``, the first ``n_top`` written to ``out_ids[i]`` / ``out_scores[i]``. ``W``:
    the affinities' CSR arrays (``n`` vertices, at most ``max_degree`` entries per
    row)."""
    m, T = subsets.shape
    pos = np.full(n, -1, dtype=np.int32)
    sub_ptr = np.empty(T + 1, dtype=np.int64)
    sub_idx = np.empty(T * max_degree, dtype=np.int32)
    sub_w = np.empty(T * max_degree)
    degree = np.empty(T)
    r, p, ap, f = np.empty(T), np.empty(T), np.empty(T), np.empty(T)
    positions = np.arange(T)
    top = np.empty(n_top, dtype=np.int64)
    for i in range(m):
        subset = subsets[i]
        _subgraph(indptr, indices, data, subset, True, pos, sub_ptr, sub_idx, sub_w, degree)
        _cg(sub_ptr, sub_idx, sub_w, rhs[i], alpha, tol, max_iter, r, p, ap, f)
        _top_by_score(positions, f, n_top, top, out_scores[i])  # ties in k-NN order
        for j in range(n_top):
            out_ids[i, j] = subset[top[j]]


@njit(cache=True, nogil=True)
def _top_by_score(ids, scores, n_res, out_ids, out_scores):
    """The ``n_res`` entries of largest score (ties at the cut: smallest index) of
    ``ids``/``scores`` (any order), written sorted by ``(-score, index)``; returns
    how many were written."""
    L = ids.shape[0]
    if L > n_res:
        # The n_res-th largest score, in linear time; then what lies above it, and of
        # the items tied with it, those of smallest index.
        kth = -np.partition(-scores, n_res - 1)[n_res - 1]
        sel_ids = np.empty(n_res, dtype=ids.dtype)
        sel_scores = np.empty(n_res)
        kept = 0
        n_tied = 0
        for j in range(L):
            if scores[j] > kth:
                sel_ids[kept] = ids[j]
                sel_scores[kept] = scores[j]
                kept += 1
            elif scores[j] == kth:
                n_tied += 1
        tied = np.empty(n_tied, dtype=ids.dtype)
        q = 0
        for j in range(L):
            if scores[j] == kth:
                tied[q] = ids[j]
                q += 1
        if n_tied > n_res - kept:
            tied = np.sort(tied)
        for q in range(n_res - kept):
            sel_ids[kept + q] = tied[q]
            sel_scores[kept + q] = kth
        ids, scores, L = sel_ids, sel_scores, n_res
    order = np.argsort(-scores)
    # Equal scores in increasing index order.
    start = 0
    while start < L:
        value = scores[order[start]]
        stop = start + 1
        while stop < L and scores[order[stop]] == value:
            stop += 1
        if stop - start > 1:
            run = np.empty(stop - start, dtype=ids.dtype)
            for j in range(start, stop):
                run[j - start] = ids[order[j]]
            run = np.sort(run)
            for j in range(start, stop):
                out_ids[j] = run[j - start]
                out_scores[j] = value
        else:
            out_ids[start] = ids[order[start]]
            out_scores[start] = value
        start = stop
    return L


@njit(cache=True, nogil=True)
def fill_in_knn_order(out_ids, got, knn, mark):
    """``out_ids[got:]`` from ``knn`` (a k-NN ranking; -1 holes kept as they come), the
    items of ``out_ids[:got]`` left out. ``mark`` (length n, all False) is restored."""
    for j in range(got):
        mark[out_ids[j]] = True
    q = got
    for j in range(knn.shape[0]):
        if q >= out_ids.shape[0]:
            break
        c = knn[j]
        if c < 0 or not mark[c]:
            out_ids[q] = c
            q += 1
    for j in range(got):
        mark[out_ids[j]] = False


@njit(cache=True, nogil=True)
def fill_rows_in_knn_order(rows, out_ids, reached, knn, n):
    """:func:`fill_in_knn_order` for the rows ``rows`` of ``out_ids``, ``knn[r]`` the
    ranking of row ``rows[r]``."""
    mark = np.zeros(n, dtype=np.bool_)
    for r in range(rows.shape[0]):
        fill_in_knn_order(out_ids[rows[r]], reached[rows[r]], knn[r], mark)


@njit(cache=True, nogil=True)
def sum_rows_and_rank(indptr, indices, data, n, near, weights, n_res, knn, out_ids,
                      out_scores, reached):
    """For each query ``i``: ``f = sum_j weights[i, j] F[near[i, j]]`` (``F`` given by
    its CSR arrays, ``n`` columns), summed in the order of ``near[i]``; its nonzero
    entries ranked by ``(-f, index)``, the first ``n_res`` written to
    ``out_ids[i]``/``out_scores[i]`` and their number to ``reached[i]``. Where
    ``knn`` has columns (the queries' k-NN rankings, at least ``n_res`` deep), a
    ranking that ``f`` leaves short goes on in k-NN order."""
    m, kq = near.shape
    acc = np.zeros(n)
    seen = np.zeros(n, dtype=np.bool_)
    width = 0
    for v in range(n):
        width = max(width, indptr[v + 1] - indptr[v])
    touched = np.empty(kq * width, dtype=np.int64)
    values = np.empty(kq * width)
    for i in range(m):
        L = 0
        for j in range(kq):
            v = near[i, j]
            w = weights[i, j]
            if v < 0 or w == 0:
                continue
            for e in range(indptr[v], indptr[v + 1]):
                c = indices[e]
                touched[L] = c  # kept (by moving on) only the first time
                L += not seen[c]
                seen[c] = True
                acc[c] += w * data[e]
        count = 0  # the nonzero sums; the accumulator is cleared on the way
        for j in range(L):
            c = touched[j]
            a = acc[c]
            acc[c] = 0.0
            seen[c] = False
            if a != 0:
                touched[count] = c
                values[count] = a
                count += 1
        reached[i] = _top_by_score(touched[:count], values[:count], n_res, out_ids[i],
                                   out_scores[i])
        if reached[i] < n_res and knn.shape[1] > 0:
            fill_in_knn_order(out_ids[i], reached[i], knn[i], seen)
