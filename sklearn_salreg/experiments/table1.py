"""Table 1 of the paper on any dataset: named configurations, with and without diffusion.

:func:`evaluate_configurations` fits each configuration on the database maps,
describes the queries (with their boxes, which replace detection on the query side),
ranks the database by k-NN and by diffusion, and returns the mAP of each.
"""

import sys
import time
import warnings

import numpy as np
from sklearn.base import clone

from ..collection import as_collection
from ..metrics import mean_average_precision, revisited_map, saliency_precision
from ..pipelines import make_configuration
from ..search import Diffusion, KNNRetriever

__all__ = ["diffusion_for", "evaluate_configurations", "format_table", "saliency_precisions"]


def _score(ranks, gnd):
    if "ok" in gnd[0]:
        return {"mAP": mean_average_precision(ranks, gnd)}
    scores = revisited_map(ranks, gnd)
    return {k.capitalize(): v for k, v in scores.items()}


def diffusion_for(n_database, n_neighbors=50, *, alpha=0.99, truncate=None, method="query"):
    """A :class:`Diffusion` whose graph size fits a database of ``n_database`` items.

    ``n_neighbors`` (the paper's 50 by default) is clipped to ``n_database - 1`` and the
    query's neighbours (10) to the graph size; ``truncate`` (None: the whole graph) is
    dropped when it is not below the database size.

    Parameters
    ----------
    n_database : int
        Number of database items the diffusion will be fitted on.
    n_neighbors : int, default=50
        Neighbours per item in the graph, before clipping.
    alpha : float, default=0.99
        The diffusion's ``alpha``.
    truncate : int or None, default=None
        The diffusion's ``truncate``, before dropping.
    method : {"query", "decoupled"}, default="query"
        The diffusion's ``method``: the paper's query-time diffusion, or the
        decoupled one.

    Returns
    -------
    diffusion : Diffusion
        Unfitted.

    Examples
    --------
    >>> from sklearn_salreg.experiments.table1 import diffusion_for
    >>> d = diffusion_for(20)
    >>> d.n_neighbors, d.n_query_neighbors
    (19, 10)
    """
    k = max(1, min(n_neighbors, n_database - 1))
    kq = min(10, k)
    if truncate is not None and truncate >= n_database:
        truncate = None
    if truncate is not None:
        truncate = max(truncate, kq)
    return Diffusion(n_neighbors=k, n_query_neighbors=kq, alpha=alpha, truncate=truncate,
                     method=method)


def evaluate_configurations(database, queries, gnd, configurations=None, *, diffusion=None,
                            verbose=1):
    """Retrieval mAP of named configurations, by k-NN and by diffusion.

    Parameters
    ----------
    database : MapCollection or sequence of (h, w, c) maps
        Activation maps of the database images.
    queries : MapCollection or sequence of (h, w, c) maps
        Activation maps of the query images, with their boxes if the protocol uses
        them (a box replaces detection).
    gnd : list of dict
        One dict per query, indices into the database: ``ok``/``junk`` (classic
        protocol) or ``easy``/``hard``/``junk`` (revisited protocol).
    configurations : dict of name -> Pipeline or dict of factory kwargs, default=None
        What to evaluate; by default the five named configurations of the paper with
        their defaults. A dict value is passed to :func:`make_configuration`.
    diffusion : retriever or None, default=None
        The diffusion to compare k-NN with; ``Diffusion()`` by default, with
        ``n_neighbors`` clipped below the database size.
    verbose : int, default=1
        One line per configuration on stderr.

    Returns
    -------
    results : dict of name -> dict
        Per configuration: scores of ``"knn"`` and ``"diffusion"`` (dicts of mAP values),
        ``"seconds"`` (fit and transform), and ``"pipeline"`` (fitted).
    """
    database, queries = as_collection(database), as_collection(queries)
    if configurations is None:
        configurations = {name: {} for name in ("MAC", "Uniform", "FS.EGM", "OS.EGM", "OS.EGM-4")}
    if diffusion is None:
        diffusion = diffusion_for(len(database))
    results = {}
    for name, spec in configurations.items():
        pipe = make_configuration(name, **spec) if isinstance(spec, dict) else clone(spec)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty-saliency fallbacks are expected
            D = pipe.fit_transform(database)
            Q = pipe.transform(queries)
        seconds = time.perf_counter() - start
        knn = KNNRetriever().fit(D).rank(Q, n_results=len(D))
        diffused = clone(diffusion).fit(D).rank(Q, n_results=len(D))
        results[name] = {"knn": _score(knn, gnd), "diffusion": _score(diffused, gnd),
                         "seconds": seconds, "pipeline": pipe, "descriptors": D}
        if verbose:
            print(f"[evaluate] {name}: {results[name]['knn']} / +diffusion "
                  f"{results[name]['diffusion']} ({seconds:.1f} s)", file=sys.stderr)
    return results


def format_table(results, title=""):
    """Results of :func:`evaluate_configurations` as a text table in the layout of Table 1.

    Parameters
    ----------
    results : dict
        What :func:`evaluate_configurations` returns.
    title : str, default=""
        First line of the table.

    Returns
    -------
    table : str

    Examples
    --------
    >>> from sklearn_salreg.experiments.table1 import format_table
    >>> results = {"MAC": {"knn": {"whole": 0.412, "box": 0.3},
    ...                    "diffusion": {"whole": 0.5, "box": 0.41}},
    ...            "OS.EGM": {"knn": {"whole": 0.6, "box": 0.55},
    ...                       "diffusion": {"whole": 0.7, "box": 0.66}}}
    >>> print(format_table(results, title="toy"))
    toy
    method           whole           box   whole +diff     box +diff
    MAC               41.2          30.0          50.0          41.0
    OS.EGM            60.0          55.0          70.0          66.0
    """
    first = next(iter(results.values()))
    keys = list(first["knn"])
    head = [f"{k}" for k in keys] + [f"{k} +diff" for k in keys]
    width = max(len(name) for name in results) + 2
    lines = [title] if title else []
    lines.append("method".ljust(width) + "".join(h.rjust(14) for h in head))
    for name, r in results.items():
        values = [r["knn"][k] for k in keys] + [r["diffusion"][k] for k in keys]
        lines.append(name.ljust(width) + "".join(f"{100 * v:14.1f}" for v in values))
    return "\n".join(lines)


def saliency_precisions(collection, boxes, field):
    """Saliency precision of one field (``feature_saliency`` or ``saliency``) per image.

    Parameters
    ----------
    collection : MapCollection
        Transformed by a pipeline that wrote ``field``.
    boxes : sequence of (m, 4) int arrays
        Ground-truth boxes per image in activation coordinates; images without boxes
        are skipped.
    field : str
        The saliency field measured.

    Returns
    -------
    ndarray of shape (n_images_with_boxes,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import MapCollection
    >>> from sklearn_salreg.experiments.table1 import saliency_precisions
    >>> S = np.zeros((4, 4)); S[:2, :2] = 1.0; S[3, 3] = 1.0
    >>> X = MapCollection([np.ones((4, 4, 2), np.float32)]).with_fields(saliency=[S])
    >>> saliency_precisions(X, [np.array([[0, 0, 2, 2]])], "saliency").tolist()
    [0.8]
    """
    maps = collection.field(field)
    return np.array([saliency_precision(S, b) for S, b in zip(maps, boxes) if len(b)])
