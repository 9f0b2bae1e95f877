"""The quality report: tune on some objects, report on others (``python -m sklearn_salreg report``).

On the built-in cluttered-instances benchmark (a size of :data:`SIZES`: the quick
six-view default or the INSTRE-like one), the objects are split in two halves. The
OS.EGM levers are tuned by :class:`~sklearn.model_selection.GridSearchCV` on the images
of the first half (folds of whole objects, each scored as its own database), once per
query protocol: :data:`TUNING_GRID` with whole-image queries
(:func:`~sklearn_salreg.model_selection.make_map_scorer`), :data:`BOX_TUNING_GRID` with
queries described from their box (:func:`~sklearn_salreg.model_selection.make_box_scorer`),
and :data:`WHOLE_WHITENING_GRID` for the whitening learned from discovered pairs; the
diffusion parameters of every method and protocol are chosen on the same half
(:func:`choose_diffusion`). The table is computed on the second half only, so that
nothing reported was tuned on. Rows: MAC (with and without a whitening learned from
the training labels), Uniform, FS.EGM, OS.EGM with the paper's defaults, OS.EGM and
OS.EGM-4 tuned for each protocol, and an oracle that pools over the ground-truth object
boxes; each by k-NN and by diffusion, with queries described from the whole query image
or from its box (as in INSTRE).
"""

import os
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, ParameterGrid

from ..collection import MapCollection
from ..datasets import INSTRE_LIKE
from .table1 import diffusion_for, saliency_precisions
from ..metrics import label_average_precisions, label_gnd, mean_average_precision
from ..model_selection import (box_queries, make_box_scorer, make_map_scorer, refit_on_database,
                              with_query_boxes)
from ..pipelines import make_configuration, make_mac, make_os_egm
from ..search import KNNRetriever
from ..whitening import make_region_whitening

__all__ = ["BOX_TUNING_GRID", "DIFFUSION_GRID", "SIZES", "TUNING_GRID", "WHOLE_WHITENING_GRID",
           "choose_diffusion", "choose_diffusion_k", "extract_benchmark", "multiscale_report",
           "object_groups", "quality_report", "run_report", "tune_os_egm", "with_trained_whitening"]

#: Sizes of the built-in benchmark that the report runs on. ``"quick"`` (the default):
#: 40 objects x 6 views + 80 distractors, one query per object, kept in the database
#: as junk. ``"instre"``: :data:`~sklearn_salreg.datasets.INSTRE_LIKE`, chosen from
#: INSTRE's published statistics before any method was compared on it (50 objects x 50
#: views, no distractors, 5 queries per object left out of the database, as in INSTRE's
#: protocol).
SIZES = {
    "quick": dict(n_objects=40, n_views=6, n_distractors=80, n_queries=1),
    "instre": dict(INSTRE_LIKE),
}

#: The levers searched (each defaults to the paper's behaviour in the pipeline): the
#: final detector's sharpening of the object saliency map (rho, tau), how regions are
#: weighted in the sum (plain or by saliency mass), how each region is pooled (max or
#: sum, of activations weighted by the saliency map to some power), and in a second
#: grid the region whitening: its dimension, learned without labels on the database
#: (PCA) or from the labelled training images (matching regions of two views of an
#: object) and then kept fixed, as the paper learns its whitening on a training set.
TUNING_GRID = [
    {
        "egm__rho": [2.0, 10.0, 20.0],
        "egm__tau": [0.0, 0.3],
        "agg__weighting": ["sum", "mass"],
        "agg__pooling": ["max", "sum"],
        "agg__saliency_exponent": [0.0, 2.0],
        "whiten__supervised": [False],
    },
    {
        "egm__rho": [10.0],
        "agg__weighting": ["mass"],
        "agg__pooling": ["max", "sum"],
        "agg__saliency_exponent": [0.0, 2.0],
        "whiten__n_components": [16, 64],
        "whiten__supervised": [True],
    },
]


def _os_egm_base(**kwargs):
    """The paper's OS.EGM with the shipped region whitening (what the searches start from)."""
    return make_os_egm(region_whitening=make_region_whitening(), random_state=0, **kwargs)


def with_trained_whitening(pipe, maps, labels):
    """``pipe`` with its whitening learned on labelled images and frozen.

    ``pipe`` is fitted on ``maps`` with ``labels`` (distractors: negative labels), so
    that its :class:`~sklearn_salreg.LearnedWhitening` steps, and the whitening of a
    :class:`~sklearn_salreg.RegionAggregator`, learn from matching images; then
    :func:`~sklearn_salreg.model_selection.refit_on_database` keeps what they learned
    from the labels, frozen, in an otherwise unfitted copy, so that fitting it on a
    database (object discovery, detection) leaves the whitening as learned.

    Parameters
    ----------
    pipe : Pipeline
        A descriptor pipeline with a learned whitening.
    maps : MapCollection
        Labelled training images.
    labels : array-like of shape (n_images,)
        Object id per image, negative for distractors.

    Returns
    -------
    Pipeline
        An unfitted copy of ``pipe``; ``pipe`` itself is not modified.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return refit_on_database(clone(pipe).fit(maps, labels))


def object_groups(labels):
    """Cross-validation groups that keep each object's images together: the label,
    or for a distractor (negative label) a group of its own.

    Parameters
    ----------
    labels : array-like of int of shape (n_images,)
        Object id per image, negative for distractors.

    Returns
    -------
    groups : ndarray of shape (n_images,), int64

    Examples
    --------
    >>> from sklearn_salreg.experiments.report import object_groups
    >>> object_groups([3, 3, -1, 5, -1]).tolist()
    [3, 3, 6, 5, 7]
    """
    labels = np.asarray(labels)
    groups = labels.astype(np.int64).copy()
    distractors = np.flatnonzero(labels < 0)
    groups[distractors] = groups.max(initial=0) + 1 + np.arange(len(distractors))
    return groups


def tune_os_egm(maps, labels, grid=None, *, cv=2, scoring=None, memory=None, n_jobs=None,
                verbose=1, what="whole-image protocol"):
    """Grid search of the OS.EGM levers under the label protocol; returns the fitted search.

    Each fold holds whole objects (:class:`~sklearn.model_selection.GroupKFold`) and
    is scored as its own database (``make_map_scorer(refit=True)``): object discovery
    runs on the scored images, and a supervised whitening is learned from the other
    fold's objects, so the score is that of objects the levers were not tuned on, as
    in the report.

    Parameters
    ----------
    maps : MapCollection
        Training images (objects that will not be reported on, and distractors).
    labels : array-like of shape (n_images,)
        Object id per image; images of label -1 (distractors) are never positives
        and never queries.
    grid : dict or list of dict, default=None
        Parameter grid of the OS.EGM pipeline; :data:`TUNING_GRID` by default.
    cv : int, default=2
        Folds (groups of objects).
    scoring : callable, default=None
        ``make_map_scorer(refit=True)`` (whole-image queries) by default;
        ``make_box_scorer()`` for the box protocol (``maps`` must then carry query boxes,
        see :func:`~sklearn_salreg.model_selection.with_query_boxes`).
    memory : str or None, default=None
        Cache folder of the pipeline's early steps.
    n_jobs : int, default=None
        Joblib workers of the search.
    verbose : int, default=1
        Print the best parameters on stderr.
    what : str, default="whole-image protocol"
        What the search is for, in that message.

    Returns
    -------
    search : GridSearchCV
        Fitted.
    """
    start = time.perf_counter()
    search = GridSearchCV(_os_egm_base(memory=memory), grid or TUNING_GRID,
                          scoring=scoring or make_map_scorer(refit=True), cv=GroupKFold(cv),
                          n_jobs=n_jobs, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(maps, labels, groups=object_groups(labels))
    if verbose:
        print(f"[report] {what} tuned in {time.perf_counter() - start:.0f} s: "
              f"{search.best_params_} (training mAP {100 * search.best_score_:.1f} %)",
              file=sys.stderr)
    return search


#: Graph sizes k tried for diffusion on the training half. The paper's k = 50 is meant
#: for databases of thousands of images; on a database of a few hundred with a handful
#: of views per object it links a third of the database to every image and diffusion
#: degenerates into ranking by the graph's hubs. 100 is for the INSTRE-like size (45
#: to 50 views per object).
DIFFUSION_KS = (5, 10, 20, 50, 100)

#: The diffusion parameters searched for each method and each protocol on the training
#: half (its own descriptors as the database, its queries described as in the protocol):
#: the graph size k, the strength alpha (0.5 included: where the k-NN graph is imprecise,
#: a weak diffusion keeps closer to the k-NN ranking), the truncation to each query's top
#: items, and the method: the paper's query-time diffusion, or the decoupled one
#: (offline diffusions from every database item over its own top 200 items, summed at
#: query time; always truncated, since untruncated it stores a dense n x n matrix).
DIFFUSION_GRID = [
    {"method": ["query"], "n_neighbors": DIFFUSION_KS, "alpha": (0.5, 0.8, 0.9, 0.99),
     "truncate": (None, 200)},
    {"method": ["decoupled"], "n_neighbors": (20, 50, 100), "alpha": (0.5, 0.8, 0.99),
     "truncate": (200,)},
]

#: The levers searched under the box protocol (queries described from their box, scored
#: by :func:`~sklearn_salreg.model_selection.make_box_scorer`): how the query box is
#: described (the box pooled as the database regions are, EGM run inside it, both, or
#: the R-MAC grid inside it as in OS.EGM-4), the region whitening (PCA, or learned from
#: the mutual nearest regions found without labels), and the pooling levers of the
#: whole-image search around its tuned values; a second part keeps the paper's detector.
BOX_TUNING_GRID = [
    {
        "egm__rho": [10.0],
        "egm__tau": [0.3],
        "agg__weighting": ["mass"],
        "agg__pooling": ["max", "sum"],
        "agg__saliency_exponent": [0.0, 2.0],
        "egm__query_regions": ["box", "detect", "box+detect", "grid"],
        "whiten__supervised": [False],
        "whiten__unsupervised": ["pca", "mutual"],
    },
    {
        "egm__rho": [2.0],
        "egm__tau": [0.0],
        "agg__weighting": ["sum", "mass"],
        "egm__query_regions": ["box", "detect", "box+detect", "grid"],
        "whiten__supervised": [False],
    },
]

#: The discovery-driven whitening tried in the whole-image search too, on the tuned levers.
WHOLE_WHITENING_GRID = {
    "egm__rho": [10.0], "egm__tau": [0.3], "agg__weighting": ["mass"],
    "agg__pooling": ["sum"], "agg__saliency_exponent": [2.0],
    "whiten__supervised": [False], "whiten__unsupervised": ["mutual"], "whiten__n_rounds": [1, 3],
}


def _label_aps(ranks, labels, query_index):
    aps = label_average_precisions(ranks, labels, labels[query_index], query_index)
    return float(np.nanmean(aps)) if not np.isnan(aps).all() else float("nan")


def choose_diffusion(estimator, maps, labels, grid=None, verbose=1, name=""):
    """The diffusion parameters of best mAP on training images, for each protocol.

    ``estimator`` is fitted on ``maps`` (their own database); under the whole-image
    protocol every image queries them, under the box protocol every image with a query
    box (:func:`~sklearn_salreg.model_selection.with_query_boxes`) does, described from
    its box.

    Parameters
    ----------
    estimator : Pipeline
        A descriptor pipeline (unfitted; a clone is fitted on ``maps``).
    maps : MapCollection
        Training images, with query boxes for the box protocol.
    labels : array-like of shape (n_images,)
        Object id per image, negative for distractors.
    grid : dict or list of dict, default=None
        Keyword arguments of :func:`~sklearn_salreg.experiments.table1.diffusion_for`
        and the values tried (a :class:`~sklearn.model_selection.ParameterGrid`);
        :data:`DIFFUSION_GRID` by default. Of equal scores the first in the grid's
        order is kept.
    verbose : int, default=1
        Print the choice on stderr.
    name : str, default=""
        The configuration's name, for that message.

    Returns
    -------
    chosen : dict
        ``{"whole": params, "box": params}``, keyword arguments of
        :func:`~sklearn_salreg.experiments.table1.diffusion_for`.
    """
    grid = DIFFUSION_GRID if grid is None else grid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = clone(estimator)
        D = np.asarray(pipe.fit_transform(maps), np.float32)
        index, queries = box_queries(maps)
        Qb = np.asarray(pipe.transform(queries), np.float32)
    chosen = {}
    for protocol, Q, qi in (("whole", D, np.arange(len(D))), ("box", Qb, index)):
        scores = {}
        candidates = list(ParameterGrid(grid))
        for i, params in enumerate(candidates):
            ranks = diffusion_for(len(D), **params).fit(D).rank(Q, n_results=len(D))
            scores[i] = _label_aps(ranks, labels, qi)
        best = max(scores, key=lambda i: (scores[i], -i))  # the first of equal scores
        chosen[protocol] = candidates[best]
        if verbose:
            print(f"[report] {name} diffusion ({protocol}) on the training half: "
                  f"{chosen[protocol]} ({100 * scores[best]:.1f} %)", file=sys.stderr)
    return chosen


def choose_diffusion_k(estimator, maps, labels, ks=DIFFUSION_KS, verbose=1):
    """The diffusion graph size with the best label-protocol mAP on training images.

    Parameters
    ----------
    estimator : Pipeline
        A descriptor pipeline, scored by ``make_map_scorer`` with each diffusion.
    maps : MapCollection
        Training images.
    labels : array-like of shape (n_images,)
        Object id per image, negative for distractors.
    ks : sequence of int, default=DIFFUSION_KS
        Graph sizes tried.
    verbose : int, default=1
        Print the scores on stderr.

    Returns
    -------
    best : int
        The graph size of best mAP.
    scores : dict of int -> float
        The mAP of each size.
    """
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in ks:
            scores[k] = make_map_scorer(diffusion=diffusion_for(len(maps), k))(estimator, maps,
                                                                            labels)
    best = max(scores, key=scores.get)
    if verbose:
        print(f"[report] diffusion k on the training half: "
              f"{ {k: round(100 * v, 1) for k, v in scores.items()} } -> {best}", file=sys.stderr)
    return best, scores


def quality_report(maps, labels, boxes, query_indices, *, train_objects, test_objects,
                   queries_in_database=True, search=True, memory=None, verbose=1):
    """Tune on ``train_objects``, report on ``test_objects``; see the module docstring.

    Parameters
    ----------
    maps : MapCollection
        All images (both halves and the distractors).
    labels : ndarray of shape (n_images,)
        Object id, -1 for distractors.
    boxes : list of (4,) int arrays or None
        Ground-truth object box per image in map cells (None for distractors).
    query_indices : ndarray
        The query images (one or more per object).
    train_objects, test_objects : array-like of int
        Object ids of each half; distractors are split between the halves.
    queries_in_database : bool, default=True
        True: the query images stay in the database, as junk of their own query (the
        quick size). False: they are left out of it, as in INSTRE's protocol.
    search : bool, default=True
        False skips the lever searches and reports the shipped named configurations
        (``OS.EGM-tuned``, ``OS.EGM-4-tuned``, ``OS.EGM-box``) instead; diffusion is
        still chosen on the training half. For sizes where the searches take too long;
        the shipped levers were tuned on the quick size's training objects (which may
        show objects of the other size: both draw from the same crops).
    memory : str or None, default=None
        Cache folder of the pipelines' early steps.
    verbose : int, default=1
        Progress on stderr.

    Returns
    -------
    dict with keys ``rows`` (name -> {protocol -> (mAP, mAP with diffusion)}),
    ``searches`` (name -> (best parameters, training mAP); empty without search),
    ``diffusion`` (name -> protocol -> parameters chosen on the training half),
    ``saliency`` (FS and OS precision on the test half).
    """
    distractors = np.flatnonzero(labels < 0)
    half = len(distractors) // 2
    train = np.sort(np.r_[np.flatnonzero(np.isin(labels, train_objects)), distractors[:half]])
    # training images: every object image is also a box query of the box protocol
    train_maps = with_query_boxes(maps[train], [boxes[i] for i in train])
    if search:
        searches = {
            "whole": tune_os_egm(train_maps, labels[train], memory=memory, verbose=verbose),
            "whitening": tune_os_egm(train_maps, labels[train], WHOLE_WHITENING_GRID,
                                     memory=memory, verbose=verbose,
                                     what="whole-image protocol, mutual whitening"),
            "box": tune_os_egm(train_maps, labels[train], BOX_TUNING_GRID,
                               scoring=make_box_scorer(refit=True), memory=memory,
                               verbose=verbose, what="box protocol"),
        }

    test, queries, gnd = _held_out(labels, query_indices, train_objects, test_objects,
                                   queries_in_database)
    database = maps[test]
    whole = MapCollection([maps[int(q)] for q in queries])
    boxed = MapCollection([maps[int(q)] for q in queries], boxes=[boxes[q] for q in queries])
    oracle_db = MapCollection([maps[int(i)] for i in test], boxes=[boxes[i] for i in test])

    def scores(D, Q, diffusion_params):  # (k-NN mAP, diffusion mAP) on the held-out half
        knn = KNNRetriever().fit(D).rank(Q, n_results=len(test))
        diff = diffusion_for(len(test), **diffusion_params).fit(D).rank(Q, n_results=len(test))
        return mean_average_precision(knn, gnd), mean_average_precision(diff, gnd)

    def tuned_variant(which, **params):
        if not search:
            shipped = {"whole": "OS.EGM-tuned", "box": "OS.EGM-box"}[which]
            return make_configuration(shipped).set_params(**params)
        pipe = clone(searches[which].best_estimator_).set_params(memory=None, **params)
        if pipe.named_steps["whiten"].supervised:  # learned on the labelled training half
            pipe = with_trained_whitening(pipe, maps[train], labels[train])
        return pipe

    configurations = {
        "MAC": make_configuration("MAC"),
        # the same labelled training images, used by MAC for a whitening of its own
        "MAC + trained whitening": with_trained_whitening(
            make_mac(whitening=make_region_whitening()),
            maps[train], labels[train]),
        "Uniform": make_configuration("Uniform"),
        "FS.EGM": make_configuration("FS.EGM"),
        "OS.EGM (paper)": _os_egm_base(),
        "OS.EGM (tuned, whole)": tuned_variant("whole"),
        "OS.EGM-4 (tuned, whole)": tuned_variant("whole", egm__sub_levels=2),
        "OS.EGM (tuned, box)": tuned_variant("box"),
        "OS.EGM-4 (tuned, box)": tuned_variant("box", egm__sub_levels=2),
    }
    if search:
        configurations["OS.EGM (tuned, whole, mutual whitening)"] = tuned_variant("whitening")
    rows, fitted, diffusion = {}, {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, pipe in configurations.items():
            start = time.perf_counter()
            diffusion[name] = choose_diffusion(pipe, train_maps, labels[train], verbose=verbose,
                                               name=name)
            D = pipe.fit_transform(database)
            fitted[name] = pipe
            rows[name] = {}
            for protocol, Q in (("whole", whole), ("box", boxed)):
                rows[name][protocol] = scores(D, pipe.transform(Q), diffusion[name][protocol])
            if verbose:
                print(f"[report] {name}: {rows[name]} ({time.perf_counter() - start:.0f} s)",
                      file=sys.stderr)
        # the ceiling: pooling over the true object boxes, in the database and the queries
        oracle = make_mac()
        oracle_train = MapCollection([maps[int(i)] for i in train], boxes=[boxes[i] for i in train])
        diffusion["Oracle (true boxes)"] = choose_diffusion(
            oracle, with_query_boxes(oracle_train, [boxes[i] for i in train]), labels[train],
            verbose=verbose, name="Oracle")
        score = scores(oracle.fit_transform(oracle_db), oracle.transform(boxed),
                       diffusion["Oracle (true boxes)"]["box"])
        rows["Oracle (true boxes)"] = {"whole": score, "box": score}
        os_front = fitted["OS.EGM (tuned, whole)"][:-2]
        X = os_front.transform(database)
    test_boxes = [np.zeros((0, 4), np.int64) if boxes[i] is None else np.asarray(boxes[i])[None]
                  for i in test]
    saliency = {"FS": saliency_precisions(X, test_boxes, "feature_saliency").mean(),
                "OS": saliency_precisions(X, test_boxes, "saliency").mean()}
    found = {k: (v.best_params_, v.best_score_) for k, v in searches.items()} if search else {}
    return {"rows": rows, "searches": found, "saliency": saliency, "diffusion": diffusion,
            "n_train": len(train), "n_test": len(test), "n_queries": len(queries)}


def _held_out(labels, query_indices, train_objects, test_objects, queries_in_database):
    """Test images, queries and ground truth of the held-out half: its objects' images and
    the second half of the distractors; with ``queries_in_database`` the query's own
    image is junk (label protocol), otherwise the queries leave the database (INSTRE)."""
    distractors = np.flatnonzero(labels < 0)
    test = np.sort(np.r_[np.flatnonzero(np.isin(labels, test_objects)),
                         distractors[len(distractors) // 2:]])
    queries = np.array([q for q in query_indices if labels[q] in set(test_objects)])
    if queries_in_database:
        gnd = label_gnd(labels[test], query_indices=np.searchsorted(test, queries))
    else:
        test = np.setdiff1d(test, queries)
        gnd = [{"ok": np.flatnonzero(labels[test] == labels[q]), "junk": np.zeros(0, np.int64)}
               for q in queries]
    return test, queries, gnd


def multiscale_report(scales, labels, query_indices, *, train_objects, test_objects,
                      configurations=("MAC", "OS.EGM-tuned", "OS.EGM-box"),
                      queries_in_database=True, verbose=1):
    """k-NN mAP of named configurations, at the first scale alone and summed over scales.

    Parameters
    ----------
    scales : list of (MapCollection, boxes)
        The same images at each scale (the first at full size) and their ground-truth
        boxes in that scale's map cells.
    labels, query_indices, train_objects, test_objects, queries_in_database
        As in :func:`quality_report` (only the held-out half is used: the configurations
        are the shipped ones, tuned on the training half).
    configurations : sequence of str, default=("MAC", "OS.EGM-tuned", "OS.EGM-box")
        Names of :data:`~sklearn_salreg.pipelines.CONFIGURATIONS` compared.
    verbose : int, default=1
        Progress on stderr.

    Returns
    -------
    dict name -> {protocol -> (single-scale mAP, multi-scale mAP)}
    """
    from ..multiscale import multiscale_transform

    test, queries, gnd = _held_out(labels, query_indices, train_objects, test_objects,
                                   queries_in_database)
    databases = [maps[test] for maps, _ in scales]
    sides = {"whole": [MapCollection([maps[int(q)] for q in queries]) for maps, _ in scales],
             "box": [MapCollection([maps[int(q)] for q in queries],
                                   boxes=[boxes[q] for q in queries]) for maps, boxes in scales]}
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in configurations:
            pipe = make_configuration(name).fit(databases[0])
            D1 = np.asarray(pipe.transform(databases[0]), np.float32)
            D = multiscale_transform(pipe, databases)
            rows[name] = {}
            for protocol, Qs in sides.items():
                single = KNNRetriever().fit(D1).rank(pipe.transform(Qs[0]), n_results=len(test))
                multi = KNNRetriever().fit(D).rank(multiscale_transform(pipe, Qs),
                                                   n_results=len(test))
                rows[name][protocol] = (mean_average_precision(single, gnd),
                                        mean_average_precision(multi, gnd))
            if verbose:
                print(f"[report] multi-scale {name}: {rows[name]}", file=sys.stderr)
    return rows


def format_report(result):
    """The report's table as text."""
    width = max(len(name) for name in result["rows"]) + 2
    lines = ["method".ljust(width) + "".join(h.rjust(12) for h in
                                             ("whole", "whole+diff", "box", "box+diff"))]
    for name, row in result["rows"].items():
        values = [*row["whole"], *row["box"]]
        lines.append(name.ljust(width) + "".join(f"{100 * v:12.1f}" for v in values))
    lines.append("")
    rows = result["rows"]
    for name in rows:
        if not name.startswith("OS"):
            continue
        parts = []
        for protocol in ("whole", "whole+diff", "box", "box+diff"):
            query, diffused = protocol.split("+")[0], int("+" in protocol)
            mac = rows["MAC"][query][diffused]
            oracle = rows["Oracle (true boxes)"][query][diffused]
            value = rows[name][query][diffused]
            gap = (value - mac) / (oracle - mac) if oracle > mac else float("nan")
            parts.append(f"{protocol} {value / mac:.2f}x ({100 * gap:.0f} % of the gap)")
        lines.append(f"{name} / MAC: " + "; ".join(parts))
    lines.append(f"{result['n_train']} training images")
    for name, (params, score) in result["searches"].items():
        lines.append(f"search '{name}' (training mAP {100 * score:.1f} %): {params}")
    if not result["searches"]:
        lines.append("no search: the shipped configurations (OS.EGM-tuned, OS.EGM-box)")
    for name, chosen in result["diffusion"].items():
        lines.append(f"diffusion of {name} (training half): whole {chosen['whole']}, "
                     f"box {chosen['box']}")
    lines.append(f"reported on {result['n_test']} held-out database images, "
                 f"{result['n_queries']} queries; saliency precision "
                 f"FS {100 * result['saliency']['FS']:.1f} %, OS (tuned) "
                 f"{100 * result['saliency']['OS']:.1f} %")
    return "\n".join(lines)


def extract_benchmark(size="quick", *, seed=0, max_side=512, cache=None, device="cpu",
                      verbose=1, **overrides):
    """The built-in benchmark of one of :data:`SIZES`, its maps extracted (EfficientNet-Lite0).

    Parameters
    ----------
    size : {"quick", "instre"}, default="quick"
        One of :data:`SIZES`.
    seed : int, default=0
        Seed of :func:`~sklearn_salreg.datasets.make_cluttered_instances`.
    max_side : int, default=512
        Longer image side fed to the network.
    cache : str or None
        Map folder kept on disk: a rerun with the same folder skips extraction. None
        extracts into a temporary folder that lives as long as the returned maps.
    device : str, default="cpu"
        Device of the :class:`~sklearn_salreg.extraction.ActivationExtractor`.
    verbose : int, default=1
        Progress on stderr.
    **overrides
        Parameters of :func:`~sklearn_salreg.datasets.make_cluttered_instances` that
        replace the size's.

    Returns
    -------
    maps, labels, boxes, query_indices
        A disk-backed collection, labels (-1: distractor), ground-truth boxes in map
        cells (None for distractors), the query images.
    """
    from ..datasets import make_cluttered_instances
    from ..extraction import ActivationExtractor, box_to_activation

    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}; got {size!r}.")
    params = {**SIZES[size], **{k: v for k, v in overrides.items() if v is not None}}
    data = make_cluttered_instances(**params, random_state=seed)
    extractor = ActivationExtractor(max_side=max_side, device=device, batch_size=8,
                                    verbose=verbose).fit()
    if cache is None:
        folder = tempfile.TemporaryDirectory()
        cache = f"{folder.name}/maps"
    start = time.perf_counter()
    # the quick size keeps the names of the first report's cache folders
    prefix = f"seed{seed}" if size == "quick" else f"{size}-seed{seed}"
    if max_side != 512:
        prefix += f"-side{max_side}"
    maps = extractor.set_params(output=cache).transform(
        data.images, names=[f"{prefix}-{i}" for i in range(len(data.images))])
    if verbose:
        print(f"[report] {len(maps)} images ({data.DESCR.split(';')[0]}), maps in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    shape = data.images.shape[1:3]
    boxes = [None if np.isnan(b).any() else box_to_activation(b, shape, maps.map_shape(i)[:2])
             for i, b in enumerate(data.boxes)]
    if "folder" in locals():
        maps.context["_tempdir"] = folder  # removed with the maps
    return maps, np.asarray(data.labels), boxes, np.asarray(data.query_indices)


def run_report(size="quick", *, seed=0, max_side=512, cache=None, device="cpu", search=True,
               multiscale=None, n_objects=None, n_views=None, n_distractors=None, verbose=1):
    """Extract the benchmark, run :func:`quality_report` and print it.

    The entry point of ``python -m sklearn_salreg report``.

    Parameters
    ----------
    size : {"quick", "instre"}, default="quick"
        One of :data:`SIZES`.
    seed : int, default=0
        Seed of the benchmark and of the split of its objects into a training and a
        held-out half.
    max_side : int, default=512
        Longer image side fed to the network.
    cache : str or None, default=None
        Map folder kept on disk (a rerun skips extraction); None extracts into a
        temporary folder.
    device : str, default="cpu"
        Device of the extractor (``"cpu"`` or ``"cuda"``).
    search : bool, default=True
        Run the lever searches; False reports the shipped configurations (diffusion is
        still chosen on the training half).
    multiscale : str or None, default=None
        A folder: also compare the shipped configurations described at the scales of
        :data:`~sklearn_salreg.multiscale.SCALES` (summed) with scale 1, on the held-out
        half; the smaller scales' maps are kept in that folder.
    n_objects, n_views, n_distractors : int or None, default=None
        Override the size's.
    verbose : int, default=1
        Progress on stderr.

    Returns
    -------
    result : dict
        What :func:`quality_report` returns.
    """
    overrides = dict(n_objects=n_objects, n_views=n_views, n_distractors=n_distractors)
    maps, labels, boxes, query_indices = extract_benchmark(
        size, seed=seed, max_side=max_side, cache=cache, device=device, verbose=verbose,
        **overrides)
    objects = np.unique(labels[labels >= 0])
    np.random.default_rng(seed).shuffle(objects)
    half = len(objects) // 2
    split = dict(train_objects=np.sort(objects[:half]), test_objects=np.sort(objects[half:]),
                 queries_in_database=size == "quick")
    with tempfile.TemporaryDirectory() as folder:
        result = quality_report(maps, labels, boxes, query_indices, **split, search=search,
                                memory=f"{folder}/cache", verbose=verbose)
    print(format_report(result))
    if multiscale:
        from ..multiscale import SCALES

        by_scale = [(maps, boxes)]
        for scale in SCALES[1:]:
            side = round(max_side * scale)
            m, _, b, _ = extract_benchmark(
                size, seed=seed, max_side=side, cache=os.path.join(multiscale, f"side{side}"),
                device=device, verbose=verbose, **overrides)
            by_scale.append((m, b))
        rows = multiscale_report(by_scale, labels, query_indices, **split, verbose=verbose)
        print("\nmulti-scale (scales " + ", ".join(f"{s:.3f}" for s in SCALES)
              + "; k-NN mAP %, single scale -> summed scales)")
        for name, row in rows.items():
            print(name.ljust(16) + "  ".join(f"{p} {100 * a:.1f} -> {100 * b:.1f}"
                                             for p, (a, b) in row.items()))
    return result
