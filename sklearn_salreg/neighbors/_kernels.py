"""Compiled (numba) loops of the exact top-k search, and the threads they run on.

* :func:`select_and_rescore`: the exact top-k of each row of a float32 similarity
  block, in a form that does not depend on which other queries share the block.
  BLAS computes a product differently for one query (a matrix-vector product) and
  for a batch (a matrix product), so float32 similarities of one query differ in
  their last bits with the batch around it, and near-ties swap. Here the float32
  block only screens candidates (a heap of the ``c`` largest values per row); the
  candidates are re-scored in float64 by a fixed-order loop, ranked by
  ``(-score, index)``, and the row is certified when its ``k``-th float64 score
  exceeds the largest value a non-candidate can have (the ``c``-th float32 value
  plus the float32 rounding bound); a row that is not certified is scored entirely
  in float64. The ranking is then a function of the query and the database alone.
* :func:`top_k_rows_float32`: the plain top-k of each row of a float32 block (where
  one float32 search suffices).

All release the GIL: callers run blocks of rows on threads
(:func:`~sklearn_salreg.neighbors.on_threads`).
"""

import numpy as np
from numba import njit

__all__ = ["dot64", "dots64", "select_and_rescore", "top_k_rows_float32"]


@njit(cache=True, nogil=True, inline="always")
def dot64(u, v):
    """``u . v`` in float64 with eight accumulators in a fixed order (so the result
    does not depend on memory alignment, and the loop vectorises)."""
    d = u.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    t = 0
    while t + 8 <= d:
        a0 += np.float64(u[t]) * np.float64(v[t])
        a1 += np.float64(u[t + 1]) * np.float64(v[t + 1])
        a2 += np.float64(u[t + 2]) * np.float64(v[t + 2])
        a3 += np.float64(u[t + 3]) * np.float64(v[t + 3])
        a4 += np.float64(u[t + 4]) * np.float64(v[t + 4])
        a5 += np.float64(u[t + 5]) * np.float64(v[t + 5])
        a6 += np.float64(u[t + 6]) * np.float64(v[t + 6])
        a7 += np.float64(u[t + 7]) * np.float64(v[t + 7])
        t += 8
    while t < d:
        a0 += np.float64(u[t]) * np.float64(v[t])
        t += 1
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(cache=True, nogil=True)
def dots64(q, D, ids, out):
    """``out[j] = dot64(q, D[ids[j]])``, bit for bit, four rows at a time: the
    rows' reads from memory overlap (a row at a random place in a large database
    costs more to fetch than to multiply)."""
    d = q.shape[0]
    n = ids.shape[0]
    acc = np.empty((4, 8))
    j = 0
    while j + 4 <= n:
        r0, r1, r2, r3 = D[ids[j]], D[ids[j + 1]], D[ids[j + 2]], D[ids[j + 3]]
        acc[:] = 0.0
        t = 0
        while t + 8 <= d:
            for u in range(8):  # accumulator u sums the terms t = u (mod 8), as dot64
                x = np.float64(q[t + u])
                acc[0, u] += x * np.float64(r0[t + u])
                acc[1, u] += x * np.float64(r1[t + u])
                acc[2, u] += x * np.float64(r2[t + u])
                acc[3, u] += x * np.float64(r3[t + u])
            t += 8
        while t < d:
            x = np.float64(q[t])
            acc[0, 0] += x * np.float64(r0[t])
            acc[1, 0] += x * np.float64(r1[t])
            acc[2, 0] += x * np.float64(r2[t])
            acc[3, 0] += x * np.float64(r3[t])
            t += 1
        for r in range(4):
            a = acc[r]
            out[j + r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
        j += 4
    while j < n:
        out[j] = dot64(q, D[ids[j]])
        j += 1


@njit(cache=True, nogil=True)
def _sift_down(values, items, pos, size):
    """Restore the min-heap property of ``values[:size]`` from ``pos`` down."""
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        if left + 1 < size and values[left + 1] < values[left]:
            child = left + 1
        if values[child] >= values[pos]:
            return
        values[pos], values[child] = values[child], values[pos]
        items[pos], items[child] = items[child], items[pos]
        pos = child


@njit(cache=True, nogil=True)
def _heap_top(row, c, values, items):
    """The ``c`` largest entries of ``row`` (any order; ties arbitrary) into
    ``values``/``items`` as a min-heap: ``values[0]`` is the ``c``-th largest."""
    for j in range(c):
        values[j] = row[j]
        items[j] = j
    for j in range(c // 2 - 1, -1, -1):
        _sift_down(values, items, j, c)
    low = values[0]
    for j in range(c, row.shape[0]):
        x = row[j]
        if x > low:
            values[0] = x
            items[0] = j
            _sift_down(values, items, 0, c)
            low = values[0]


# Every _SAMPLE_STRIDE-th entry of a long row estimates the threshold of its top c.
_SAMPLE_STRIDE = 16


@njit(cache=True, nogil=True)
def _top_candidates(row, c, values, items):
    """:func:`_heap_top` of a whole row. Where ``c`` is large and the row long, a
    heap over every 16th entry first finds a value that about 1.5 ``c`` entries
    reach; the entries that reach it are gathered in one pass and the heap runs
    over them. Most entries then cost one comparison, where the heap alone inserts
    about ``c log(n / c)`` of them; if fewer than ``c`` entries (or more than
    ``4 c``) reach the value, the heap runs over the whole row."""
    n = row.shape[0]
    if c < 128 or n < 64 * c:  # few insertions: one pass of the heap costs less
        _heap_top(row, c, values, items)
        return
    sample = row[::_SAMPLE_STRIDE]
    c_s = min(sample.shape[0], 3 * c // (2 * _SAMPLE_STRIDE) + 8)
    sample_values = np.empty(c_s, dtype=row.dtype)
    sample_items = np.empty(c_s, dtype=np.int64)
    _heap_top(sample, c_s, sample_values, sample_items)
    threshold = sample_values[0]
    kept = np.empty(4 * c, dtype=row.dtype)
    where = np.empty(4 * c, dtype=np.int64)
    count = 0
    for j in range(n):
        if row[j] >= threshold:
            if count == kept.shape[0]:
                count = -1
                break
            kept[count] = row[j]
            where[count] = j
            count += 1
    if count < c:  # too few reached it (or too many): no shortcut for this row
        _heap_top(row, c, values, items)
        return
    _heap_top(kept[:count], c, values, items)
    for j in range(c):
        items[j] = where[items[j]]


@njit(cache=True, nogil=True)
def _rank_row(q, D, ids, k, out_ids, out_sims):
    """Score ``ids`` (sorted increasingly) in float64, keep the ``k`` best by
    ``(-score, index)``; returns the ``k``-th score."""
    scores = np.empty(ids.shape[0])
    dots64(q, D, ids, scores)
    order = np.argsort(-scores, kind="mergesort")  # stable: ties by increasing index
    for j in range(k):
        out_ids[j] = ids[order[j]]
        out_sims[j] = scores[order[j]]
    return scores[order[k - 1]]


@njit(cache=True, nogil=True)
def select_and_rescore(S, Q, D, k, c, bound, out_ids, out_sims):
    """Exact top-``k`` of each row ``i`` of ``S ~ Q @ D.T`` by float64 scores.

    Parameters
    ----------
    S : float32 array (m, n), the screened similarities (any float32 product).
    Q : float32 array (m, d); D : float32 array (n, d), C-ordered.
    k, c : ints, ``1 <= k <= c <= n``: results and candidates per row.
    bound : float64 array (m,), an upper bound of ``|S[i, j] - Q[i] . D[j]|``.
    out_ids : int64 array (m, k); out_sims : float64 array (m, k).

    Returns
    -------
    n_full : int, the number of rows that were not certified and were scored fully.
    """
    m, n = S.shape
    n_full = 0
    for i in range(m):
        if c >= n:
            ids = np.arange(n)
            _rank_row(Q[i], D, ids, k, out_ids[i], out_sims[i])
            continue
        values = np.empty(c, dtype=S.dtype)
        items = np.empty(c, dtype=np.int64)
        _top_candidates(S[i], c, values, items)
        ids = np.sort(items)
        kth = _rank_row(Q[i], D, ids, k, out_ids[i], out_sims[i])
        # A non-candidate has S <= values[0], so a float64 score at most
        # values[0] + bound (plus the float64 rounding, far below 1e-9 of it).
        if kth <= np.float64(values[0]) + bound[i] * (1.0 + 1e-9):
            _rank_row(Q[i], D, np.arange(n), k, out_ids[i], out_sims[i])
            n_full += 1
    return n_full


@njit(cache=True, nogil=True)
def top_k_rows_float32(S, k, out_ids, out_vals):
    """The ``k`` largest entries of each row of ``S`` by ``(-value, index)`` (among
    values tied at the cut, which are kept is arbitrary).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import top_k_rows_float32
    >>> S = np.array([[0.1, 0.9, 0.5, 0.3], [3, 1, 2, 0]], np.float32)
    >>> ids, vals = np.empty((2, 2), np.int64), np.empty((2, 2), np.float32)
    >>> top_k_rows_float32(S, 2, ids, vals)
    >>> ids.tolist(), vals.astype(float).round(3).tolist()
    ([[1, 2], [0, 2]], [[0.9, 0.5], [3.0, 2.0]])
    """
    m, n = S.shape
    values = np.empty(k, dtype=S.dtype)
    items = np.empty(k, dtype=np.int64)
    for i in range(m):
        _top_candidates(S[i], k, values, items)
        ids = np.sort(items)
        vals = np.empty(k, dtype=S.dtype)
        for j in range(k):
            vals[j] = S[i, ids[j]]
        order = np.argsort(-vals, kind="mergesort")
        for j in range(k):
            out_ids[i, j] = ids[order[j]]
            out_vals[i, j] = vals[order[j]]
