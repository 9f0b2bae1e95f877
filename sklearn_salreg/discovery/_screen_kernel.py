"""The CPU kernel of the bfloat16 screen (:class:`~._search._BF16Screen`), compiled
with numba.

After the bfloat16 product, the torch version runs a dozen whole-block operations
(maxima, two top-k selections, gathers, a sort, the re-ranking product): on two
cores they take as long as the product itself. Here one pass per row does it all
with small sorted buffers that stay in cache, and releases the GIL, so that the
rows of a block are shared between threads. It computes the same thing, and the
torch version stays for GPUs.

The bfloat16 values arrive as their bit patterns read as int16: positive values
sort like those integers, negative ones all sort below them (see ``_BF16Screen``).
"""

import numpy as np
from numba import njit

__all__ = ["screen_rows"]


@njit(cache=True, nogil=True)
def _key_value(key):
    """The float32 value of a bfloat16 given by its bits read as int16."""
    bits = np.empty(1, np.uint32)
    bits[0] = np.uint32(np.uint16(key)) << np.uint32(16)
    return bits.view(np.float32)[0]


@njit(cache=True, nogil=True)
def _insert(values, items, count, value, item):
    """Insert ``(value, item)`` into ``values``/``items``, kept in decreasing order of
    value with at most ``len(values)`` entries of which ``count`` are filled; an equal
    value goes after those already there. Returns the new count."""
    if count == len(values):
        if value <= values[count - 1]:
            return count
        pos = count - 1
    else:
        pos = count
        count += 1
    while pos > 0 and values[pos - 1] < value:
        values[pos] = values[pos - 1]
        items[pos] = items[pos - 1]
        pos -= 1
    values[pos] = value
    items[pos] = item
    return count


@njit(cache=True, nogil=True)
def screen_rows(keys, U, V, v_norm, k, m, n, start, stop, b_input, b_output,
                out_ids, out_sims, out_certified):
    """Rows ``start:stop`` of the screen, written into the three outputs.

    Parameters
    ----------
    keys : int16 array of shape (q, block, n_blocks)
        The screened products; column ``j + n_blocks * r`` of a row is ``keys[., r, j]``
        (block ``j`` holds columns ``j, j + n_blocks, ...``). Columns from ``n`` on are
        padding.
    U : float32 array of shape (q, d)
        The queries (float32, for the re-ranking and their norms).
    V : float32 array of shape (n, d)
    v_norm : float
        Largest row norm of ``V``.
    k, m : int
        Neighbours wanted and candidates re-ranked (``k <= m``).
    b_input, b_output : float
        The rounding constants of ``_BF16Screen``.
    out_ids, out_sims : arrays of shape (q, k)
        The ``k`` candidates of largest float32 similarity, by decreasing similarity
        then increasing index (id -1, similarity -inf where fewer were found).
    out_certified : bool array of shape (q,)
        Whether the row provably holds the float32 search's neighbours.
    """
    n_blocks = keys.shape[2]
    block = keys.shape[1]
    d = U.shape[1]
    m_blocks = min(m, n_blocks)
    block_max = np.empty(n_blocks, np.int16)
    top_block_keys = np.empty(m_blocks, np.int16)
    top_blocks = np.empty(m_blocks, np.int64)
    cand_keys = np.empty(m, np.int16)
    cand = np.empty(m, np.int64)
    exact = np.empty(m, np.float32)
    for i in range(start, stop):
        # Block maxima: a running maximum over the block's rows (vectorised).
        for j in range(n_blocks):
            block_max[j] = keys[i, 0, j]
        for r in range(1, block):
            for j in range(n_blocks):
                block_max[j] = max(block_max[j], keys[i, r, j])
        n_top = 0
        for j in range(n_blocks):
            n_top = _insert(top_block_keys, top_blocks, n_top, block_max[j], j)
        # The m largest screened values of those blocks.
        n_cand = 0
        for t in range(m_blocks):
            j = top_blocks[t]
            for r in range(block):
                n_cand = _insert(cand_keys, cand, n_cand, keys[i, r, j], j + n_blocks * r)
        # Certification, as in _BF16Screen.search.
        norm = 0.0
        for c in range(d):
            norm += np.float64(U[i, c]) * U[i, c]
        r_bound = np.sqrt(norm) * v_norm
        cut = ((1 - b_output) * _key_value(cand_keys[k - 1]) - 2 * b_input * r_bound) / (
            1 + b_output)
        certified = cut > 0
        if m < n:
            certified = certified and _key_value(cand_keys[m - 1]) < cut
        if m_blocks < n_blocks:
            certified = certified and _key_value(top_block_keys[m_blocks - 1]) < cut
        out_certified[i] = certified
        # Float32 re-ranking: candidates in increasing index, inserted by decreasing
        # similarity after their equals (ties go to the smaller index).
        ids = np.sort(cand[:n_cand])
        n_exact = 0
        for t in range(n_cand):
            j = ids[t]
            if j >= n:
                continue
            s = 0.0
            for c in range(d):
                s += np.float64(V[j, c]) * U[i, c]
            n_exact = _insert(exact, cand, n_exact, np.float32(s), j)
        for t in range(k):
            if t < n_exact:
                out_ids[i, t] = cand[t]
                out_sims[i, t] = exact[t]
            else:
                out_ids[i, t] = -1
                out_sims[i, t] = -np.inf
