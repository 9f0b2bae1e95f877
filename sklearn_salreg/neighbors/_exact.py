"""Exact nearest-neighbour search by dot product.

* :class:`ExactIndex`: a blocked matrix product and a top-k per row (float32, or a
  bfloat16 screen re-ranked in float32 with the same result), on the CPU or a GPU;
  it never holds more than a block of the (queries x database) similarity matrix, so
  a million rows never need an n x n array.
* :func:`exact_top_k`: a float32 screen re-scored in float64, whose result for a query
  does not depend on the other queries of its batch (retrieval's exact search).
* :func:`row_similarities`: the dot products of given (query, row) pairs.

All return ``(similarities, indices)``, by decreasing similarity, ties by increasing
index.
"""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
import torch

from ..utils import check_device, rows_per_batch
from ._topk import top_k_rows

__all__ = ["ExactIndex", "exact_top_k", "row_similarities", "similarities"]

# Most neighbours screened in bfloat16 on the CPU (more: the float32 search).
_KERNEL_MAX_K = 64

# Entries of the gathered (rows x k x d) block held at once by row_similarities
# (float32: 128 MiB). The exact search sizes its blocks by working_memory instead.
_BLOCK_ENTRIES = 1 << 25


def row_similarities(U, V, indices):
    """The dot products ``sims[i, j]`` of ``U[i]`` with ``V[indices[i, j]]``, blocked
    so that memory stays small.

    Indices below 0 (no neighbour found) get similarity -inf.

    Parameters
    ----------
    U : ndarray of shape (m, d), float32
    V : ndarray of shape (n, d), float32
    indices : ndarray of int, shape (m, k)

    Returns
    -------
    sims : ndarray of shape (m, k), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import row_similarities
    >>> V = np.eye(3, dtype=np.float32)
    >>> row_similarities(np.array([[1, 2, 3]], np.float32), V, np.array([[2, -1]]))
    array([[  3., -inf]], dtype=float32)
    """
    sims = np.empty(indices.shape, dtype=np.float32)
    k = max(indices.shape[1], 1)
    step = max(1, _BLOCK_ENTRIES // (k * max(V.shape[1], 1)))
    for lo in range(0, len(U), step):
        ind = indices[lo : lo + step]
        gathered = V[np.maximum(ind, 0)]  # (b, k, d)
        sims[lo : lo + step] = np.matmul(gathered, U[lo : lo + step, :, None])[:, :, 0]
    sims[indices < 0] = -np.inf
    return sims


def _torch_device(device):
    """The torch device of a ``device`` parameter: None is the CPU."""
    return torch.device("cpu") if device is None else check_device(device, "ExactIndex")


def _as_tensor(X):
    """A CPU tensor sharing the memory of a float32 array (read-only arrays included:
    the search never writes to its inputs); a tensor is returned as it is."""
    if isinstance(X, torch.Tensor):
        return X
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))


# Rounding of a bfloat16 product with float32 accumulation (unit roundoff 2^-8): the
# rounded inputs change u.v by at most _BF16_INPUT |u| max|v|, the float32 sum by a few
# 1e-6 of that, and rounding the result to bfloat16 by _BF16_OUTPUT times its size.
_BF16_INPUT = 2.0**-7 * (1 + 2.0**-9) + 1e-5
_BF16_OUTPUT = 2.0**-8 * 1.004


class _BF16Screen:
    """Exact top-k by a bfloat16 screen and a float32 re-ranking.

    The products are computed in bfloat16 (twice the float32 rate on CPUs with
    AVX512-BF16, more on GPUs). What follows describes the torch operations, used on
    GPUs; on the CPU, ``_screen_kernel.screen_rows`` does the same in one compiled
    pass per row, with a cut taken from the block maxima (also proven exact there).
    Positive bfloat16 values sort like their bit patterns
    read as int16 (negative ones all sort below them), so the maxima of column blocks
    and the top-k are integer reductions. Candidates are the ``m`` best screened
    values in the ``m`` blocks of largest maxima; their similarities are recomputed in
    float32. With ``e(x) = a r + b |x|`` the rounding bound (``r = |u| max|v|``), every
    member of the true top-k (ties included) has a screened value of at least
    ``cut = ((1 - b) x_k - 2 a r) / (1 + b)``, ``x_k`` the ``k``-th screened value. A
    row is certified when ``cut > 0`` and the ``m``-th candidate and the ``m``-th block
    maximum both fall below it: then all of the true top-k are candidates. The rows
    not certified (many near-ties, or no clearly positive neighbour) are searched again
    in float32, so the result is the float32 search's.
    """

    def __init__(self, V, k, n_extra=20, block=16, group=16, kernel=None):
        n, d = V.shape
        self.n, self.k = n, k
        self.m = min(n, k + n_extra)
        self.block, self.group = block, group
        # Whole groups of whole blocks: the top blocks are found among the blocks of the
        # top groups (a topk over 1/16 of the block maxima, then over m * group of them:
        # 10 % faster than one topk over all the block maxima).
        self.n_groups = -(-n // (block * group))
        self.n_blocks = self.n_groups * group
        self.V = V
        self.v_norm = float(torch.linalg.vector_norm(V, dim=1).max()) if n else 0.0
        # Rows padded to whole blocks with zeros (screened value 0, below any cut).
        Vb = torch.zeros((self.n_blocks * block, d), dtype=torch.bfloat16, device=V.device)
        Vb[:n] = V
        self.Vb = Vb
        # On the CPU, everything after the product runs in one compiled pass per row
        # (_screen_kernel); the torch operations below serve GPUs.
        self.kernel = V.device.type == "cpu" if kernel is None else kernel
        if self.kernel:
            from ._screen_kernel import screen_rows  # numba: compiled (or loaded) on first use

            self._screen_rows = screen_rows

    def _top_blocks(self, block_max):
        """Values and indices of the ``m`` largest block maxima of each row.

        Group g holds blocks g, g + n_groups, ...; the ``m`` largest maxima lie in the
        ``m`` groups of largest maxima (any block outside them is at most the ``m``-th
        group maximum, itself the maximum of a chosen block), so the values returned
        are exactly the ``m`` largest and every block left out is at most the last.
        """
        q, ng = len(block_max), self.n_groups
        groups = block_max.view(q, self.group, ng)
        top_groups = torch.topk(groups.amax(1), min(self.m, ng), dim=1).indices
        chosen = top_groups[:, None, :]
        members = groups.gather(2, chosen.expand(q, self.group, chosen.shape[2])).view(q, -1)
        values, pos = torch.topk(members, min(self.m, self.n_blocks), dim=1)
        width = chosen.shape[2]
        return values, torch.gather(top_groups, 1, pos % width) + ng * (pos // width)

    def search(self, U, buffer):
        q = len(U)
        S = torch.mm(U.to(torch.bfloat16), self.Vb.T, out=buffer[:q])
        keys = S.view(torch.int16)
        nb, m, k = self.n_blocks, self.m, self.k
        if self.kernel:
            ids = np.empty((q, k), dtype=np.int64)
            sims = np.empty((q, k), dtype=np.float32)
            certified = np.empty(q, dtype=bool)
            self._screen_rows(keys.numpy().reshape(q, self.block, nb), U.numpy(),
                              self.V.numpy(), self.v_norm, k, m, self.n, _BF16_INPUT,
                              _BF16_OUTPUT, ids, sims, certified)
            return sims, ids, certified
        # Block j holds columns j, j + nb, j + 2 nb, ...: a reduction over contiguous rows.
        blocks = keys.view(q, self.block, nb)
        top_values, top_blocks = self._top_blocks(blocks.amax(1))
        # The columns of the chosen blocks, (q, block, m), through an expanded index.
        chosen = top_blocks[:, None, :]
        cand_keys, pos = torch.topk(
            blocks.gather(2, chosen.expand(q, self.block, chosen.shape[2])).view(q, -1), m, dim=1)
        row, slot = pos // chosen.shape[2], pos % chosen.shape[2]
        ids = torch.gather(top_blocks, 1, slot) + nb * row
        as_value = lambda x: x.contiguous().view(torch.bfloat16).float()  # noqa: E731
        cand = as_value(cand_keys)
        r = torch.linalg.vector_norm(U, dim=1) * self.v_norm
        cut = ((1 - _BF16_OUTPUT) * cand[:, k - 1] - 2 * _BF16_INPUT * r) / (1 + _BF16_OUTPUT)
        certified = cut > 0
        if m < self.n:
            certified &= cand[:, -1] < cut
        if m < nb:  # blocks left out must not hold a value above the cut
            certified &= as_value(top_values[:, -1:])[:, 0] < cut
        # Float32 re-ranking of the candidates, ordered by index so ties keep the
        # float32 search's order (the smaller index first).
        ids, _ = torch.sort(ids, dim=1)
        padded = ids >= self.n
        # index_select of the flat ids: 2x faster than advanced indexing V[ids]
        rows = torch.index_select(self.V, 0, ids.masked_fill(padded, 0).view(-1))
        exact = torch.bmm(rows.view(q, -1, U.shape[1]), U[:, :, None])[:, :, 0]
        exact.masked_fill_(padded, -torch.inf)
        sims, top = top_k_rows(exact, k)
        return (sims, np.take_along_axis(ids.cpu().numpy(), top, axis=1), certified.cpu().numpy())


class ExactIndex:
    """Exact search: blocked ``U @ V.T`` then the top ``k`` of each row (torch).

    Parameters
    ----------
    V : ndarray of shape (n, d), float32
        Database vectors; kept by reference (a copy goes to ``device`` when not CPU).
    precision : {'float32', 'bfloat16'}, default='float32'
        ``'bfloat16'`` screens the products in bfloat16 and re-ranks the few
        candidates in float32, with a margin that covers the rounding, so the
        neighbours are those of the float32 search (similarities within float32
        rounding); several times faster on CPUs with AVX512-BF16 (see
        :func:`~sklearn_salreg.utils.bfloat16_is_fast` and the docs' benchmarks page),
        much slower on CPUs without it. On the CPU it applies up to ``k = 64``
        (larger ``k``: float32), and the steps after the product are one compiled
        pass per row. Queries only; the self-search of :meth:`neighbor_graph` is
        always float32.
    device : None, str or torch.device, default=None
        Where the products and the top-k run; None is the CPU. Results always come
        back to the CPU as NumPy arrays.
    n_jobs : int, default=None
        With ``n_jobs`` other than 1, :meth:`neighbor_graph` splits the rows into
        blocks that go through joblib (threads by default; each block a search of its
        rows against all of V), so that ``joblib.parallel_config(backend="dask")``
        spreads the graph over a cluster; the lists are those of one search.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import ExactIndex
    >>> V = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    >>> sims, indices = ExactIndex(V).query(np.array([[0.6, 0.8]], np.float32), 2)
    >>> sims.round(2), indices
    (array([[0.96, 0.8 ]], dtype=float32), array([[1, 2]]))
    >>> ExactIndex(V).neighbor_graph(1)[1].tolist()
    [[1], [0], [1]]
    """

    def __init__(self, V, precision="float32", device=None, n_jobs=None):
        self.V = V
        self.precision = precision
        self.device = device
        self.n_jobs = n_jobs

    def _search(self, U, k, offset=None, device=None):
        n = len(self.V)  # callers ensure 1 <= k <= n (n - 1 for the self-graph)
        device = _torch_device(self.device if device is None else device)
        # The CPU kernel keeps the k best block maxima by insertion: k up to 64.
        screened = k <= _KERNEL_MAX_K or device.type != "cpu"
        if not (self.precision == "bfloat16" and offset is None and k < n and screened):
            return self._float32_search(U, k, offset, device)
        indices = np.empty((len(U), k), dtype=np.int64)
        sims = np.empty((len(U), k), dtype=np.float32)
        U_t, V = _as_tensor(U), _as_tensor(self.V).to(device)
        screen = _BF16Screen(V, k)
        # With the CPU kernel, blocks go to torch.get_num_threads() threads, each doing
        # its product then its kernel pass: one product on all cores followed by the
        # kernel on all cores is 25 % slower, the idle OpenMP threads spinning for some
        # milliseconds after each product, on the cores the kernel needs.
        workers = max(1, torch.get_num_threads()) if screen.kernel else 1
        step = min(self._step(n, len(U), device), max(64, -(-len(U) // workers)))
        if screen.kernel:
            # Blocks of 128 queries: their products are still in cache when the kernel
            # reads them. 1.2-1.4x faster than blocks of ~3,000 rows from 5,800 to
            # 146,000 regions; 64 rows is slower again (more, smaller products).
            step = min(step, 128)
        starts = range(0, len(U), step)
        uncertified = [np.zeros(0, dtype=np.intp)] * len(starts)

        def run(worker):
            buffer = torch.empty((min(step, len(U)), len(screen.Vb)), dtype=torch.bfloat16,
                                 device=device)
            for b in range(worker, len(starts), workers):
                lo = starts[b]
                block = U_t[lo : lo + step].to(device)
                top_sims, top, certified = screen.search(block, buffer)
                indices[lo : lo + len(block)], sims[lo : lo + len(block)] = top, top_sims
                uncertified[b] = lo + np.flatnonzero(~certified)

        if workers == 1 or len(starts) == 1:
            workers = 1
            run(0)
        else:
            with ThreadPoolExecutor(workers) as executor:
                list(executor.map(run, range(workers)))
        # The few rows the screen could not certify: one float32 search for them all.
        rows = np.concatenate([np.zeros(0, dtype=np.intp), *uncertified])
        if len(rows):
            sims[rows], indices[rows] = self._float32_search(U_t[torch.from_numpy(rows)], k,
                                                             None, device, V)
        return sims, indices

    @staticmethod
    def _step(n, n_queries, device):
        """Rows of a block: its similarities (4 bytes each) and the top-k workspace fit
        in scikit-learn's ``working_memory``; at least 64 rows, since fewer would re-read
        a large V for too little work; 8x more on a GPU, which has room for them."""
        step = max(64, rows_per_batch(12 * max(n, 1), max(n_queries, 1)))
        return step * 8 if device.type != "cpu" else step

    def _float32_search(self, U, k, offset, device, V=None):
        """The float32 search; ``V`` is the database already on ``device``, if at hand."""
        n = len(self.V)
        indices = np.empty((len(U), k), dtype=np.int64)
        sims = np.empty((len(U), k), dtype=np.float32)
        step = self._step(n, len(U), device)
        V = _as_tensor(self.V).to(device) if V is None else V
        U = _as_tensor(U)
        # One similarity buffer for all blocks: a fresh 128 MiB block each time costs
        # as much in page faults as the product itself (2-3x slower on 2 cores).
        buffer = torch.empty((min(step, len(U)), n), dtype=torch.float32, device=device)
        for lo in range(0, len(U), step):
            block = U[lo : lo + step].to(device)
            S = buffer[: len(block)]
            torch.mm(block, V.T, out=S)
            if offset is not None:  # self-search: a vertex is not its own neighbour
                r = torch.arange(len(S), device=device)
                S[r, offset + lo + r] = -torch.inf
            # the shared row-wise top-k (torch.topk, ties broken by increasing index);
            # numpy's argpartition would return an
            # int64 index of the whole block and is ~20x slower.
            top_sims, top = top_k_rows(S, k)
            indices[lo : lo + len(block)] = top
            sims[lo : lo + len(block)] = top_sims
        return sims, indices

    def query(self, U, k, device=None):
        """The ``k`` most similar rows of V of every row of ``U``.

        Parameters
        ----------
        U : ndarray of shape (m, d), float32
        k : int, ``1 <= k <= n``
        device : None, str or torch.device, default=None
            Where to search; None: the index's ``device``.

        Returns
        -------
        sims : ndarray of shape (m, k), float32
            Decreasing; ties by increasing index.
        indices : ndarray of shape (m, k), int64
        """
        return self._search(U, k, device=device)

    def neighbor_graph(self, k, *, start=0, device=None):
        """The ``k`` nearest other rows of every row of V (self excluded).

        Parameters
        ----------
        k : int, ``1 <= k <= n - 1``
        start : int, default=0
            Only the lists of rows ``start:`` (e.g. rows just added to a graph); they
            are those rows of the whole self-graph.
        device : None, str or torch.device, default=None
            Where to search; None: the index's ``device``.

        Returns
        -------
        sims : ndarray of shape (n - start, k), float32
        indices : ndarray of shape (n - start, k), int64
        """
        device = self.device if device is None else device
        n_jobs = effective_n_jobs(self.n_jobs)
        if n_jobs == 1:
            return self._search(self.V[start:], k, offset=start, device=device)
        bounds = np.linspace(start, len(self.V), 4 * n_jobs + 1).astype(int)
        parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._search)(self.V[lo:hi], k, offset=lo, device=device)
            for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo)
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def similarities(Q, D):
    """``Q @ D.T`` as a C-ordered float32 array.

    For a few queries it is computed as ``(D @ Q.T).T``, which ran two to three times
    faster than ``Q @ D.T`` on our machine (matrix-vector products over a C-ordered
    database); large batches use ``Q @ D.T``, which needs no transposed copy.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import similarities
    >>> similarities(np.ones((1, 2), np.float32), np.eye(2, dtype=np.float32))
    array([[1., 1.]], dtype=float32)
    """
    if Q.shape[0] < 64:
        return np.ascontiguousarray((D @ Q.T).T)
    return Q @ D.T


def _candidates(k, n):
    """Candidates screened in float32 per result: a margin of 16 + k/16 more."""
    return min(n, k + 16 + k // 16)


def exact_top_k(Q, D, k, *, max_norm=None):
    """The ``k`` database rows of largest dot product with each query, exactly.

    A float32 product screens ``k + 16 + k // 16`` candidates per query (a
    matrix-vector product for one query, blocks of a matrix product for a batch);
    the candidates are re-scored in float64 and ranked by decreasing score, ties by
    increasing index, and a query is scored entirely in float64 when the margin does
    not prove that the screen kept its true top ``k`` (see
    :func:`select_and_rescore`). The result of a query
    is therefore the same alone or in any batch.

    Parameters
    ----------
    Q : ndarray of shape (m, d), float32
    D : ndarray of shape (n, d), float32, C-ordered (used in place)
    k : int, ``1 <= k <= n``
    max_norm : float, default=None
        ``max_j |D[j]|`` if known (computed otherwise).

    Returns
    -------
    sims : ndarray of shape (m, k), float32
        The float64 scores rounded to float32.
    indices : ndarray of shape (m, k), int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import exact_top_k
    >>> D = np.eye(3, dtype=np.float32)
    >>> exact_top_k(np.array([[0.2, 0.9, 0.4]], np.float32), D, 2)
    (array([[0.9, 0.4]], dtype=float32), array([[1, 2]]))
    """
    # numba: compiled (or loaded from its cache) on first use
    from ._kernels import select_and_rescore
    from ._threads import blas_threads, on_threads

    Q = np.ascontiguousarray(Q, dtype=np.float32)
    n, d = D.shape
    if max_norm is None:
        max_norm = float(np.sqrt(np.max(np.einsum("ij,ij->i", D, D), initial=0.0)))
    c = _candidates(k, n)
    # Float32 rounding of a d-term dot product: at most gamma_d |q| |v|.
    unit = 2.0**-24
    gamma = d * unit / (1 - d * unit) * 1.01 + 1e-30
    bound = gamma * max_norm * np.sqrt(np.einsum("ij,ij->i", Q, Q, dtype=np.float64))
    ids = np.empty((len(Q), k), dtype=np.int64)
    sims = np.empty((len(Q), k), dtype=np.float64)
    if len(Q) == 1:  # a matrix-vector product, then one pass over its result
        select_and_rescore((D @ Q[0])[None], Q, D, k, c, bound, ids, sims)
        return sims.astype(np.float32), ids
    step = max(8, min(_QUERY_BLOCK, rows_per_batch(4 * n, len(Q))))
    threads = blas_threads()
    for lo in range(0, len(Q), step):
        hi = min(lo + step, len(Q))
        S = Q[lo:hi] @ D.T

        def select(a, b, S=S, lo=lo):  # rows a:b of the block, on one thread
            select_and_rescore(S[a:b], Q[lo + a : lo + b], D, k, c, bound[lo + a : lo + b],
                               ids[lo + a : lo + b], sims[lo + a : lo + b])

        on_threads(select, hi - lo, threads)
    return sims.astype(np.float32), ids


# Queries per float32 product block of exact_top_k (on 2 cores, blocks of 512-1024
# queries ran 1.2x faster than 256 and 1.6-1.7x faster than 128, at 10,000 and 100,000 items).
_QUERY_BLOCK = 1024
