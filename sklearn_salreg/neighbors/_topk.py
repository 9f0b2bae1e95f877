"""Row-wise top-k selection of similarity blocks: the one selection shared by the
exact k-NN search of retrieval and of the region graph."""

import numpy as np
import torch

__all__ = ["sort_rows", "top_k_rows"]


def sort_rows(sims, indices, k=None):
    """Each row's entries by decreasing similarity, ties by increasing index (the order
    of every search), the first ``k`` of them (all when None)."""
    order = np.lexsort((indices, -sims), axis=-1)[:, :k]
    return np.take_along_axis(sims, order, axis=1), np.take_along_axis(indices, order, axis=1)


def top_k_rows(S, k):
    """The ``k`` largest entries of each row of ``S`` and their column indices, sorted
    decreasingly; ties are broken by increasing index.

    torch's top-k selection is used: on rows of many thousands of similarities it is
    faster than :func:`numpy.argpartition`. ``S`` may be
    a torch tensor on any device (the selection runs there); the result is on the CPU.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.neighbors import top_k_rows
    >>> S = np.array([[0.1, 0.9, 0.5, 0.9], [3, 1, 2, 0]], np.float32)
    >>> values, indices = top_k_rows(S, 2)
    >>> values.tolist(), indices.tolist()  # the tie at 0.9: smaller index first
    ([[0.8999999761581421, 0.8999999761581421], [3.0, 2.0]], [[1, 3], [0, 2]])
    """
    n = S.shape[1]
    S_t = S if isinstance(S, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(S))
    if k < n:
        # One more than asked: a row where the (k+1)-th equals the k-th has a tie at
        # the cut, the only case where topk's arbitrary choice among equals matters.
        sims, idx = torch.topk(S_t, k + 1, dim=1, largest=True, sorted=True)
        sims, idx = sims.cpu().numpy(), idx.cpu().numpy().astype(np.intp)
        cut_tie = sims[:, k - 1] == sims[:, k]
        sims, idx = np.ascontiguousarray(sims[:, :k]), np.ascontiguousarray(idx[:, :k])
        # In those (rare) rows take the tied items of smallest index instead.
        kth = sims[:, -1:]
        for row in np.flatnonzero(cut_tie):
            S_row = S_t[row].cpu().numpy()
            above = np.flatnonzero(S_row > kth[row])
            tied = np.flatnonzero(S_row == kth[row])[: k - above.size]
            idx[row] = np.concatenate([above, tied])
            sims[row] = S_row[idx[row]]
        return sort_rows(sims, idx)
    # A full ranking: a stable sort keeps tied items in increasing index order.
    sims, idx = torch.sort(S_t, dim=1, descending=True, stable=True)
    return sims.cpu().numpy(), idx.cpu().numpy().astype(np.intp)
