"""Average precision of rankings under the Oxford/Paris and INSTRE protocols.

The arithmetic (docs/user_guide/evaluation.rst) lives in :func:`_ap_from_masks`, which works on
boolean masks "is a positive" / "is junk" laid out along ranking positions for a
block of queries at once; every public function only builds those masks.

Conventions
-----------
* A ranking is a row of database indices sorted by decreasing similarity; rows of
  ``ranks`` may be shorter than the database (a truncated ranking): positives that
  do not appear in a row count as not retrieved.
* Junk items are removed from the ranking before AP is computed: each positive's
  rank is reduced by the number of junk items ranked above it.
* An item listed both as positive and as junk counts as a positive.
* A query without positives has AP ``nan`` and is left out of every mean.
"""

import numbers

import numpy as np

from ..utils import rows_per_batch

__all__ = ["average_precision", "check_query_indices", "is_distractor", "label_average_precisions",
           "label_gnd", "mean_average_precision", "revisited_map"]


def _ap_from_masks(is_pos, is_junk, n_pos, kappas=()):
    """AP (and revisitop's precision at k) of a block of rankings.

    Parameters
    ----------
    is_pos, is_junk : bool ndarray of shape (n_queries, n_ranked)
        Whether the item at each ranking position is a positive / junk.
    n_pos : ndarray of shape (n_queries,)
        Number of positives of each query, retrieved or not.
    kappas : sequence of int

    Returns
    -------
    ap : ndarray of shape (n_queries,), nan where ``n_pos == 0``
    pk : ndarray of shape (n_queries, len(kappas)), nan where ``n_pos == 0``
    """
    n_q = is_pos.shape[0]
    n_pos = np.asarray(n_pos, dtype=np.float64)
    query, position = np.nonzero(is_pos)
    # Inclusive cumulative sums: at a positive's own position the junk count is the
    # junk strictly above it (a positive is never junk), the positive count is j + 1.
    junk_above = np.cumsum(is_junk, axis=1, dtype=np.int32)[query, position]
    j = np.cumsum(is_pos, axis=1, dtype=np.int32)[query, position] - 1.0
    r = position - junk_above.astype(np.float64)
    found = np.bincount(query, minlength=n_q)
    if np.any(found > n_pos):
        bad = int(np.flatnonzero(found > n_pos)[0])
        raise ValueError(
            f"ranking {bad} holds {found[bad]} positives but the query has only "
            f"{int(n_pos[bad])}: a database index is repeated in that ranking.")
    precision_0 = np.where(r == 0, 1.0, j / np.maximum(r, 1.0))
    precision_1 = (j + 1.0) / (r + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.bincount(query, weights=(precision_0 + precision_1) / 2.0, minlength=n_q) / n_pos
        ap[n_pos == 0] = np.nan

    pk = np.full((n_q, len(kappas)), np.nan)
    if len(kappas):
        # revisitop's mP@k: the cut-off k is lowered to the (1-based, junk-free) rank of
        # the last positive retrieved, so that a query whose positives are all at the top
        # is not penalised for having fewer than k of them.
        last = np.zeros(n_q)
        np.maximum.at(last, query, r + 1.0)
        for c, k in enumerate(kappas):
            cut = np.minimum(last, k)
            hits = np.bincount(query, weights=(r + 1.0) <= cut[query], minlength=n_q)
            with np.errstate(invalid="ignore", divide="ignore"):
                pk[:, c] = np.where(cut > 0, hits / np.maximum(cut, 1.0), 0.0)
        pk[n_pos == 0] = np.nan
    return ap, pk


def _check_ranks(ranks):
    ranks = np.asarray(ranks)
    if ranks.ndim != 2:
        raise ValueError(
            "ranks must be a 2-D array (n_queries, n_ranked) of database indices sorted by "
            f"decreasing similarity; got an array of shape {ranks.shape}.")
    if ranks.size and not np.issubdtype(ranks.dtype, np.integer):
        if ranks.dtype.kind not in "fb" or not np.isfinite(ranks).all():
            raise ValueError(
                f"ranks must hold integer database indices; got dtype {ranks.dtype}"
                + (" with NaN or inf." if ranks.dtype.kind == "f" else "."))
        as_int = ranks.astype(np.int64)
        if not np.array_equal(as_int, ranks):
            raise ValueError(f"ranks must hold integer database indices; got dtype {ranks.dtype}.")
        ranks = as_int
    if ranks.size and ranks.min() < 0:
        raise ValueError(f"ranks holds a negative database index ({ranks.min()}).")
    return ranks


def _check_no_repeats(ranks):
    """Refuse a ranking that lists a database index twice: its AP would count that item
    twice (a repeated positive makes 1 found positive look like 2)."""
    step = rows_per_batch(2 * ranks.itemsize * max(ranks.shape[1], 1), ranks.shape[0])
    for lo in range(0, ranks.shape[0], step):
        block = np.sort(ranks[lo : lo + step], axis=1)
        repeats = block[:, 1:] == block[:, :-1]
        if repeats.any():
            q, j = np.argwhere(repeats)[0]
            raise ValueError(
                f"ranks: database index {block[q, j]} is repeated in ranking {lo + q}; each "
                "row must rank every database item at most once.")


def _check_kappas(kappas):
    kappas = tuple(kappas)
    for k in kappas:
        if not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"kappas must be positive integers; got {kappas}.")
    return kappas


def _index_list(values, what):
    arr = np.asarray(values if values is not None else [], dtype=np.float64).ravel()
    as_int = arr.astype(np.int64)
    if arr.size and (not np.array_equal(as_int, arr) or as_int.min() < 0):
        raise ValueError(f"{what} must hold non-negative integer database indices.")
    return np.unique(as_int)


def _gnd_lists(gnd, keys):
    """For each key, the checked index list of every query (empty where a key is absent)."""
    return [[_index_list(g.get(key, ()), f"gnd[{i}][{key!r}]") for i, g in enumerate(gnd)]
            for key in keys]


def _map_over_lists(ranks, positives, junk, kappas):
    """Per-query AP from per-query lists of positive and junk database indices."""
    n_q, n_cols = ranks.shape
    if len(positives) != n_q:
        raise ValueError(
            f"ranks has {n_q} rows (queries) but the ground truth describes {len(positives)} "
            "queries.")
    _check_no_repeats(ranks)
    top = max([int(ranks.max()) + 1 if ranks.size else 0]
              + [int(p.max()) + 1 for p in positives if p.size]
              + [int(j.max()) + 1 for j in junk if j.size])
    n_pos = np.array([p.size for p in positives])
    aps = np.empty(n_q)
    pks = np.empty((n_q, len(kappas)))
    # masks and int32 cumulative sums take about 10 bytes per ranking position
    step = rows_per_batch(10 * max(n_cols, top), n_q)
    for lo in range(0, n_q, step):
        hi = min(n_q, lo + step)
        # Relevance of every database item for this block of queries: 1 positive, 2 junk.
        relevance = np.zeros((hi - lo, top), dtype=np.int8)
        for q in range(lo, hi):
            relevance[q - lo, junk[q]] = 2
            relevance[q - lo, positives[q]] = 1  # positive wins over junk
        ranked = np.take_along_axis(relevance, ranks[lo:hi], axis=1)
        aps[lo:hi], pks[lo:hi] = _ap_from_masks(ranked == 1, ranked == 2, n_pos[lo:hi], kappas)
    return aps, pks


def is_distractor(labels):
    """Which images are distractors: those of negative numeric label (e.g. -1).

    The one definition of a distractor (an image that shows no object), shared by the
    metrics and by the whitening learned from labels. Labels that are not numbers
    (e.g. strings) mark no distractor.

    Parameters
    ----------
    labels : array-like
        Object label of each image.

    Returns
    -------
    mask : ndarray of bool, same shape as ``labels``

    Examples
    --------
    >>> from sklearn_salreg.metrics import is_distractor
    >>> is_distractor([3, -1, 0]).tolist(), is_distractor(["a", "b"]).tolist()
    ([False, True, False], [False, False])
    """
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.number):
        return labels < 0
    return np.zeros(labels.shape, dtype=bool)


def label_average_precisions(ranks, db_labels, query_labels, query_indices=None):
    """Average precision of each ranking under the label protocol (no per-query lists built).

    Database items that share the query's label are its positives; distractors
    (:func:`is_distractor`) are never positive, and a distractor query has no positive.
    The protocol is described in :doc:`/user_guide/evaluation`.

    Parameters
    ----------
    ranks : array-like of shape (n_queries, n_ranked)
        Database indices, best first (e.g. ``KNNRetriever.rank``).
    db_labels : array-like of shape (n_database,)
        Object label of each database image.
    query_labels : array-like of shape (n_queries,)
        Object label of each query.
    query_indices : array-like of shape (n_queries,), default=None
        When given, query ``q`` is database image ``query_indices[q]``: that image is
        junk (neither positive nor negative) in its own ranking.

    Returns
    -------
    aps : ndarray of shape (n_queries,), float64
        NaN for a query without positive (left out of a mean by ``np.nanmean``).

    See Also
    --------
    label_gnd, mean_average_precision : the same protocol through per-query lists.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.metrics import label_average_precisions
    >>> ranks = np.array([[0, 1, 2, 3], [1, 3, 0, 2]])
    >>> label_average_precisions(ranks, [0, 1, 0, 1], [0, 1], query_indices=[0, 1]).tolist()
    [0.25, 1.0]

    Query 0 is image 0 (junk in its own ranking); its one positive, image 2, comes
    second once the junk is skipped: the trapezoidal AP of the Oxford/Paris protocol
    gives ``(0/1 + 1/2) / 2``.
    """
    ranks = _check_ranks(ranks)
    if query_indices is not None:
        query_indices = check_query_indices(query_indices, np.asarray(db_labels).size)
    n_q, n_cols = ranks.shape
    db_labels = np.asarray(db_labels).ravel()
    query_labels = np.asarray(query_labels).ravel()
    if query_labels.size != n_q:
        raise ValueError(f"ranks has {n_q} rows (queries) but {query_labels.size} query labels.")
    if ranks.size and ranks.max() >= db_labels.size:
        raise ValueError(
            f"ranks holds database index {ranks.max()} but only {db_labels.size} database "
            "labels were given.")
    _, codes = np.unique(np.concatenate([db_labels, query_labels]), return_inverse=True)
    codes = codes.ravel()
    db_codes, query_codes = codes[: db_labels.size], codes[db_labels.size :]
    # Distractors (negative numeric labels) show no object: never a positive, and a
    # distractor query has no positive (AP nan, left out of the mean).
    db_object = ~is_distractor(db_labels)
    n_pos = np.bincount(db_codes[db_object], minlength=codes.max() + 1)[query_codes]
    n_pos[is_distractor(query_labels)] = 0
    if query_indices is not None:
        n_pos = n_pos - ((db_codes[query_indices] == query_codes) & db_object[query_indices])
    aps = np.empty(n_q)
    step = rows_per_batch(10 * n_cols, n_q)
    for lo in range(0, n_q, step):
        hi = min(n_q, lo + step)
        block = ranks[lo:hi]
        same = (db_codes[block] == query_codes[lo:hi, None]) & db_object[block]
        same &= n_pos[lo:hi, None] > 0
        if query_indices is None:
            itself = np.zeros_like(same)
        else:
            itself = block == query_indices[lo:hi, None]
            same &= ~itself
        aps[lo:hi], _ = _ap_from_masks(same, itself, n_pos[lo:hi])
    return aps


def _check_gnd(gnd, keys, hint):
    if isinstance(gnd, dict) or not hasattr(gnd, "__len__"):
        raise ValueError(
            "gnd must be a list with one dict per query (the 'gnd' entry of the community "
            f"pickles); got {type(gnd).__name__}.")
    for i, g in enumerate(gnd):
        if not isinstance(g, dict):
            raise ValueError(f"gnd[{i}] must be a dict; got {type(g).__name__}.")
        missing = [k for k in keys if k not in g]
        if missing:
            raise ValueError(f"gnd[{i}] has no {missing} key (it has {sorted(g)}); {hint}")


def average_precision(ranked_ids, positives, junk=()):
    """Average precision of one ranking, Oxford/Paris protocol.

    Junk items are ignored: each positive's rank is reduced by the number of junk
    items ranked above it. With the ``j``-th positive (0-based) found at junk-free
    rank ``r`` (0-based), precision_0 = 1 if ``r == 0`` else ``j / r``, precision_1 =
    ``(j + 1) / (r + 1)``, and AP adds ``(precision_0 + precision_1) / 2 / n_positives``
    (the trapezoid rule under the precision-recall curve).

    Parameters
    ----------
    ranked_ids : array-like of shape (n_ranked,)
        Database identifiers sorted by decreasing similarity (indices or names). It
        may be a truncated ranking: positives missing from it count as not retrieved.
    positives : array-like
        Identifiers of the positives (duplicates are counted once).
    junk : array-like, default=()
        Identifiers to ignore. An identifier that is also a positive counts as a
        positive.

    Returns
    -------
    ap : float
        In ``[0, 1]``; ``nan`` when there are no positives.

    See Also
    --------
    mean_average_precision : The mean over many queries, vectorised.

    Examples
    --------
    >>> from sklearn_salreg.metrics import average_precision
    >>> round(average_precision([3, 1, 2, 0], positives=[3, 2]), 4)
    0.7917
    >>> average_precision([3, 1, 2, 0], positives=[3, 2], junk=[1])
    1.0
    """
    ranked = np.asarray(ranked_ids).ravel()
    positives = np.unique(np.asarray(positives).ravel())
    junk = np.asarray(junk).ravel()
    if np.unique(ranked).size != ranked.size:
        raise ValueError(f"ranked_ids repeats an identifier (length {ranked.size}).")
    is_pos = np.isin(ranked, positives)
    is_junk = np.isin(ranked, junk) & ~is_pos
    ap, _ = _ap_from_masks(is_pos[None], is_junk[None], [positives.size])
    return float(ap[0])


def mean_average_precision(ranks, gnd, kappas=()):
    """Mean average precision of many rankings, classic Oxford5k/Paris6k protocol.

    Parameters
    ----------
    ranks : array-like of int, shape (n_queries, n_ranked)
        Row ``q`` holds database indices sorted by decreasing similarity to query
        ``q``. ``n_ranked`` is the database size for a full ranking; a shorter row is
        a truncated ranking (missing positives count as not retrieved). Note the
        orientation: one row per query (the community's Matlab code uses columns).
    gnd : list of dict
        One dict per query with keys ``'ok'`` (positive database indices) and
        optionally ``'junk'`` (indices to ignore), as in ``gnd_oxford5k.pkl``.
    kappas : sequence of int, default=()
        If given, also return the mean precision at each ``k``, as defined by the
        revisitop evaluation code: the cut-off ``k`` is lowered to the junk-free rank
        of the last positive retrieved when that is smaller.

    Returns
    -------
    map : float
        Mean of the per-query AP (see :func:`average_precision`) over the queries
        that have at least one positive; queries without positives are left out.
        ``nan`` if no query has a positive.
    mpk : ndarray of shape (len(kappas),)
        Only when ``kappas`` is given: mean precision at each ``k`` over the same
        queries.

    See Also
    --------
    revisited_map : The Easy / Medium / Hard protocol of Revisited Oxford and Paris.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.metrics import mean_average_precision
    >>> ranks = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    >>> gnd = [{"ok": [0, 1], "junk": []}, {"ok": [0], "junk": [1]}]
    >>> round(mean_average_precision(ranks, gnd), 4)  # (1 + 1/6) / 2
    0.5833
    >>> m, mpk = mean_average_precision(ranks, gnd, kappas=[1])
    >>> mpk
    array([0.5])
    """
    ranks = _check_ranks(ranks)
    kappas = _check_kappas(kappas)
    _check_gnd(gnd, ["ok"], "for the revisited protocol ('easy'/'hard') use revisited_map.")
    positives, junk = _gnd_lists(gnd, ("ok", "junk"))
    aps, pks = _map_over_lists(ranks, positives, junk, kappas)
    return _summarise(aps, pks, kappas)


def _summarise(aps, pks, kappas):
    keep = ~np.isnan(aps)
    m = float(aps[keep].mean()) if keep.any() else float("nan")
    if not kappas:
        return m
    mpk = pks[keep].mean(axis=0) if keep.any() else np.full(len(kappas), np.nan)
    return m, mpk


def revisited_map(ranks, gnd, kappas=()):
    """Mean average precision under the Revisited Oxford/Paris protocols.

    * Easy: positives ``'easy'``, junk ``'junk'`` + ``'hard'``;
    * Medium: positives ``'easy'`` + ``'hard'``, junk ``'junk'``;
    * Hard: positives ``'hard'``, junk ``'junk'`` + ``'easy'``.

    Parameters
    ----------
    ranks : array-like of int, shape (n_queries, n_ranked)
        As in :func:`mean_average_precision`.
    gnd : list of dict
        One dict per query with keys ``'easy'``, ``'hard'`` and ``'junk'``.
    kappas : sequence of int, default=()
        Cut-offs of the mean precision at k, as in :func:`mean_average_precision`.

    Returns
    -------
    result : dict
        Keys ``'easy'``, ``'medium'``, ``'hard'``. Values are the mAP (float), or
        ``(map, mpk)`` pairs when ``kappas`` is given. Queries without positives
        under a protocol are left out of that protocol's mean.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.metrics import revisited_map
    >>> ranks = np.array([[2, 0, 1]])
    >>> gnd = [{"easy": [0], "hard": [1], "junk": [2]}]
    >>> {k: round(v, 3) for k, v in revisited_map(ranks, gnd).items()}
    {'easy': 1.0, 'medium': 1.0, 'hard': 1.0}
    """
    ranks = _check_ranks(ranks)
    kappas = _check_kappas(kappas)
    _check_gnd(gnd, ["easy", "hard"], "for the classic protocol ('ok') use mean_average_precision.")
    easy, hard, junk = _gnd_lists(gnd, ("easy", "hard", "junk"))
    protocols = {
        "easy": (easy, [np.union1d(j, h) for j, h in zip(junk, hard)]),
        "medium": ([np.union1d(e, h) for e, h in zip(easy, hard)], junk),
        "hard": (hard, [np.union1d(j, e) for j, e in zip(junk, easy)]),
    }
    return {
        name: _summarise(*_map_over_lists(ranks, pos, jnk, kappas), kappas)
        for name, (pos, jnk) in protocols.items()
    }


def label_gnd(labels, query_indices=None):
    """Ground truth of the label protocol (INSTRE, Iscen et al. 2017).

    Every image of the database is labelled with its object; for query image ``q``
    every *other* image with the same label is a positive. A negative numeric label
    (e.g. -1) marks a distractor, an image without any object: it is never a
    positive, and as a query it has no positive (and is left out of the mean). The query's own image
    stays in the database and is listed as junk, so that rankings of the whole
    database (where the query usually comes first) can be scored as they are. This
    is the same convention as :func:`~sklearn_salreg.model_selection.make_map_scorer`.

    Parameters
    ----------
    labels : array-like of shape (n_images,)
        Object label of each database image (any sortable values).
    query_indices : array-like of int, default=None
        Database images used as queries; ``None`` means every image.

    Returns
    -------
    gnd : list of dict
        One dict per query with keys ``'ok'`` and ``'junk'`` (int arrays), ready for
        :func:`mean_average_precision`.

    Examples
    --------
    >>> from sklearn_salreg.metrics import label_gnd
    >>> gnd = label_gnd(["a", "b", "a", "a"], query_indices=[0, 1])
    >>> gnd[0]["ok"].tolist(), gnd[0]["junk"].tolist()
    ([2, 3], [0])
    >>> gnd[1]["ok"].tolist()
    []
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one per image); got shape {labels.shape}.")
    query_indices = check_query_indices(query_indices, labels.size)
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.ravel()
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 2 if codes.size else 1))
    gnd = []
    distractor = is_distractor(labels)
    for q in query_indices:
        c = codes[q]
        members = order[starts[c]:starts[c + 1]]
        ok = members[members != q] if not distractor[q] else members[:0]
        gnd.append({"ok": ok, "junk": np.array([q])})
    return gnd


def check_query_indices(query_indices, n_images):
    """Validate the database indices of the queries; all images when None.

    Parameters
    ----------
    query_indices : array-like of int of shape (n_queries,) or None
        The database index of each query image; None: every image is a query.
    n_images : int
        Number of database images: every index must lie in ``[0, n_images)``.

    Returns
    -------
    query_indices : ndarray of shape (n_queries,), dtype intp

    Examples
    --------
    >>> from sklearn_salreg.metrics import check_query_indices
    >>> check_query_indices(None, 3).tolist(), check_query_indices([2, 0], 3).tolist()
    ([0, 1, 2], [2, 0])
    """
    if query_indices is None:
        return np.arange(n_images)
    arr = np.asarray(query_indices)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(
            f"query_indices must be a 1-D array of integers; got shape {arr.shape}, "
            f"dtype {arr.dtype}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n_images):
        raise ValueError(
            f"query_indices must lie in [0, {n_images}); got values from {arr.min()} to "
            f"{arr.max()}.")
    return arr.astype(np.intp)
