"""The CPU kernel of the bfloat16 screen (:class:`~._exact._BF16Screen`), compiled
with numba.

After the bfloat16 product, the torch version runs a dozen whole-block operations
(maxima, two top-k selections, gathers, a sort, the re-ranking product): on two
cores they take as long as the product itself. Here one pass per row does it all
with small sorted buffers that stay in cache, and releases the GIL, so that threads
can run it on different blocks of queries at once. It takes its cut from the block
maxima and gathers every entry above it (see :func:`screen_rows`) instead of the
torch version's top-m selections; both are exact on the rows they certify, and the
torch version stays for GPUs.

The bfloat16 values arrive as their bit patterns read as int16: positive values
sort like those integers, negative ones all sort below them (see ``_BF16Screen``).
"""

import numpy as np
from numba import njit

__all__ = ["insert_sorted", "screen_rows"]


@njit(cache=True, nogil=True)
def _key_value(key):
    """The float32 value of a bfloat16 given by its bits read as int16."""
    bits = np.empty(1, np.uint32)
    bits[0] = np.uint32(np.uint16(key)) << np.uint32(16)
    return bits.view(np.float32)[0]


@njit(cache=True, nogil=True)
def insert_sorted(values, items, count, value, item):
    """Insert ``(value, item)`` into ``values``/``items``, kept by decreasing value, then
    increasing item (the exact search's order of ties), with at most ``len(values)``
    entries of which ``count`` are filled. Returns the new count.

    The one insertion of the numba searches (this screen and :class:`~._ivf.IVFIndex`).
    The screen inserts its items in increasing order, so there an equal value simply
    goes after those already there."""
    k = len(values)
    if count == k:
        if value < values[k - 1] or (value == values[k - 1] and item > items[k - 1]):
            return count
        pos = k - 1
    else:
        pos = count
        count += 1
    while pos > 0 and (values[pos - 1] < value
                       or (values[pos - 1] == value and items[pos - 1] > item)):
        values[pos] = values[pos - 1]
        items[pos] = items[pos - 1]
        pos -= 1
    values[pos] = value
    items[pos] = item
    return count


@njit(cache=True, nogil=True)
def _ceil_key(value):
    """The smallest bfloat16 key (bits read as int16) whose value is at least
    ``value``, for ``0 < value < 2^127``."""
    bits = np.empty(1, np.float32)
    bits[0] = value
    key = np.int16(bits.view(np.uint32)[0] >> np.uint32(16))  # truncated: at most value
    while _key_value(key) < value:
        key += 1
    return key


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dot(a, b):
    """Dot product of two float32 vectors summed in float64 (any order: the products
    are exact in float64, so the float32 result is the same in practice)."""
    s = 0.0
    for c in range(len(a)):
        s += np.float64(a[c]) * np.float64(b[c])
    return s


@njit(cache=True, nogil=True)
def screen_rows(keys, U, V, v_norm, k, m, n, b_input, b_output, out_ids, out_sims, out_certified):
    """Every row of the screen, written into the three outputs.

    Per row: the block maxima; ``t``, the ``k``-th largest of them, which is at most
    the ``k``-th largest screened value ``x_k`` (the ``k`` largest block maxima are
    ``k`` distinct entries); ``theta``, the cut of ``_BF16Screen`` computed from ``t``
    instead of ``x_k``, so at most the cut; then every entry of at least ``theta``,
    found in the blocks whose maximum reaches it. Every member of the float32 top-k
    is among them. The row is certified when ``theta > 0`` (the integer order of the
    keys holds for positive values) and there are at most ``m`` of them; they are
    re-ranked in float32.

    Parameters
    ----------
    keys : int16 array of shape (q, block, n_blocks)
        The screened products; column ``j + n_blocks * r`` of a row is ``keys[., r, j]``
        (block ``j`` holds columns ``j, j + n_blocks, ...``). Columns from ``n`` on are
        padding (value 0, never at or above a positive ``theta``).
    U : float32 array of shape (q, d)
        The queries (float32, for the re-ranking and their norms).
    V : float32 array of shape (n, d)
    v_norm : float
        Largest row norm of ``V``.
    k, m : int
        Neighbours wanted and most candidates re-ranked (``k <= m``).
    b_input, b_output : float
        The rounding constants of ``_BF16Screen``.
    out_ids, out_sims : arrays of shape (q, k)
        The ``k`` candidates of largest float32 similarity, by decreasing similarity
        then increasing index (id -1, similarity -inf where fewer were found).
    out_certified : bool array of shape (q,)
        Whether the row provably holds the float32 search's neighbours; the other
        rows' outputs are not meaningful.
    """
    n_blocks = keys.shape[2]
    block = keys.shape[1]
    block_max = np.empty(n_blocks, np.int16)
    top_keys = np.empty(k, np.int16)
    unused = np.empty(k, np.int64)
    cand = np.empty(m, np.int64)
    exact = np.empty(m, np.float32)
    ranked = np.empty(m, np.int64)
    for i in range(keys.shape[0]):
        out_certified[i] = False
        for t in range(k):
            out_ids[i, t] = -1
            out_sims[i, t] = -np.inf
        if k > n_blocks:  # t is not defined: left to the float32 search
            continue
        # Block maxima: a running maximum over the block's rows (vectorised).
        for j in range(n_blocks):
            block_max[j] = keys[i, 0, j]
        for r in range(1, block):
            for j in range(n_blocks):
                block_max[j] = max(block_max[j], keys[i, r, j])
        n_top = 0
        for j in range(n_blocks):
            n_top = insert_sorted(top_keys, unused, n_top, block_max[j], j)
        r_bound = np.sqrt(_dot(U[i], U[i])) * v_norm
        theta = ((1 - b_output) * _key_value(top_keys[k - 1]) - 2 * b_input * r_bound) / (
            1 + b_output)
        if not theta > 0:
            continue
        key = _ceil_key(theta)
        count = 0
        for j in range(n_blocks):
            if block_max[j] >= key:
                for r in range(block):
                    if keys[i, r, j] >= key:
                        if count < m:
                            cand[count] = j + n_blocks * r
                        count += 1
        if count > m:
            continue
        out_certified[i] = True
        # Float32 re-ranking: candidates in increasing index, inserted by decreasing
        # similarity after their equals (ties go to the smaller index).
        cand[:count].sort()
        n_exact = 0
        for t in range(count):
            j = cand[t]
            n_exact = insert_sorted(exact, ranked, n_exact, np.float32(_dot(V[j], U[i])), j)
        for t in range(min(k, n_exact)):
            out_ids[i, t] = ranked[t]
            out_sims[i, t] = exact[t]
