"""Scorers that rate a descriptor pipeline by the retrieval mAP of its descriptors.

A scorer is called as ``scorer(estimator, X, y)`` by
:class:`~sklearn.model_selection.GridSearchCV` and friends. It computes descriptors
with ``estimator.transform(X)`` (``X`` is whatever the pipeline accepts, e.g. a
collection of activation maps: it is never looked into), ranks them, optionally by
diffusion on the split's own descriptors, and returns the mAP (higher is better).
"""

import numpy as np
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ..metrics import (check_query_indices, label_average_precisions, mean_average_precision,
                       revisited_map)
from ..search import KNNRetriever

__all__ = ["QUERY_BOX_FIELD", "box_queries", "make_box_scorer", "make_gnd_scorer",
           "make_map_scorer", "refit_on_database", "with_query_boxes"]

#: The per-image field that carries the query box of an image for
#: :func:`make_box_scorer` (no stage reads it; it travels with the images through a split).
QUERY_BOX_FIELD = "query_box"


def _check_retriever(diffusion):
    if diffusion is None:
        return None
    if not (hasattr(diffusion, "fit") and hasattr(diffusion, "rank")):
        raise ValueError(
            "diffusion must be None or an unfitted retriever with fit and rank methods "
            f"(e.g. sklearn_salreg.search.Diffusion()); got {diffusion!r}.")
    return diffusion


def _descriptors(estimator, X, what):
    if not hasattr(estimator, "transform"):
        raise ValueError(
            f"the scored estimator {type(estimator).__name__} has no transform method: the "
            "mAP scorers need a pipeline that outputs descriptors.")
    D = np.asarray(estimator.transform(X))
    if D.ndim != 2:
        raise ValueError(
            f"the estimator's transform of the {what} must return 2-D descriptors "
            f"(n_images, n_features); got shape {D.shape}.")
    return D.astype(np.float32, copy=False)


def _learned_from_labels(step):
    """Whether a fitted step learned from labels (a supervised whitening)."""
    return bool(getattr(step, "supervised_", False))


def refit_on_database(estimator):
    """An unfitted copy of a fitted pipeline that keeps what it learned from labels.

    Steps that learned from labels (a :class:`~sklearn_salreg.LearnedWhitening` with
    ``supervised_``, or the whitening an aggregator fitted with labels) are kept
    as fitted, wrapped in :class:`~sklearn.frozen.FrozenEstimator`; every other step
    is a fresh clone, to be fitted on a new database (object discovery, detection and
    unsupervised whitening are learned from the database itself). The protocol is
    described in :doc:`/tuning`.

    Parameters
    ----------
    estimator : Pipeline or estimator
        Fitted, on labelled training images.

    Returns
    -------
    estimator : Pipeline or estimator
        Unfitted except for the frozen steps; ``estimator`` itself is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_salreg.model_selection import refit_on_database
    >>> from sklearn_salreg.whitening import LearnedWhitening
    >>> X, y = np.random.default_rng(0).random((20, 6)), np.repeat(np.arange(5), 4)
    >>> fresh = refit_on_database(make_pipeline(LearnedWhitening(n_components=3)).fit(X, y))
    >>> type(fresh[0]).__name__
    'FrozenEstimator'
    """
    if not isinstance(estimator, Pipeline):
        return estimator if _learned_from_labels(estimator) else clone(estimator)
    fresh = clone(estimator)
    for name, step in estimator.steps:
        if _learned_from_labels(step):
            fresh.set_params(**{name: FrozenEstimator(step)})
        elif _learned_from_labels(getattr(step, "whitening_", None)):
            fresh.set_params(**{f"{name}__whitening": FrozenEstimator(step.whitening_)})
    return fresh


def _rank(database, queries, diffusion):
    """Full rankings of the database for the queries: k-NN, or the given retriever
    fitted on the database."""
    retriever = KNNRetriever() if diffusion is None else clone(diffusion)
    retriever.fit(database)
    return retriever.rank(queries, n_results=database.shape[0])


class _LabelMapScorer:
    """mAP under the label protocol; see :func:`make_map_scorer`."""

    def __init__(self, diffusion, refit=False):
        self.diffusion = diffusion
        self.refit = refit

    _what, _factory = "label", "make_map_scorer"

    def __call__(self, estimator, X, y):
        y = self._labels(y)
        if self.refit:
            estimator = refit_on_database(estimator).fit(X)
        D = self._checked(_descriptors(estimator, X, "scored images"), y)
        return self._mean_ap(_rank(D, D, self.diffusion), y, np.arange(D.shape[0]))

    def _labels(self, y):
        if y is None:
            raise ValueError(f"the {self._what} mAP scorer needs the labels y of the scored "
                             "images.")
        return np.asarray(y)

    @staticmethod
    def _checked(D, y):
        if y.ndim != 1 or y.shape[0] != D.shape[0]:
            raise ValueError(
                f"the scorer got {D.shape[0]} descriptors but labels of shape {y.shape}: one "
                "label per image is needed.")
        return D

    @staticmethod
    def _mean_ap(ranks, y, query_index):
        """Mean AP of queries that are the images ``query_index`` of the database."""
        aps = label_average_precisions(ranks, y, y[query_index], query_index)
        return float(np.nanmean(aps)) if not np.isnan(aps).all() else float("nan")

    def __repr__(self):
        return f"{self._factory}(diffusion={self.diffusion!r}, refit={self.refit!r})"


def make_map_scorer(diffusion=None, refit=False):
    """Scorer of a descriptor pipeline by mAP under the label protocol.

    Every image of the scored split queries all the images of the split (itself
    included in the ranking but counted as junk, as in
    :func:`~sklearn_salreg.metrics.label_gnd`); the other images with the same
    label ``y`` are its positives (the INSTRE protocol). Queries whose label occurs
    once in the split have no positive and are left out of the mean; prefer a
    stratified splitter (e.g. :class:`~sklearn.model_selection.StratifiedKFold`) so
    that every label occurs at least twice per split. If no query has a positive,
    the score is ``nan``.

    Parameters
    ----------
    diffusion : estimator, default=None
        ``None`` ranks by dot product (exact k-NN). Otherwise an unfitted retriever
        such as :class:`~sklearn_salreg.search.Diffusion`: a clone of it is fitted on
        the split's own descriptors, then ranks them.
    refit : bool, default=False
        False describes the scored images with the estimator as fitted on the
        training split. True first fits it again on the scored images, as their own
        database (see :func:`refit_on_database`): object discovery then runs on the
        images it is scored on, as in deployment, while a whitening learned from the
        training split's labels is kept. With a splitter that keeps each object in
        one split (:class:`~sklearn.model_selection.GroupKFold` on the labels), the
        score is then that of new objects, not of new views of the training objects.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``
        Computes descriptors ``estimator.transform(X)`` (2-D, one row per image,
        L2-normalised for the dot product to be a cosine) and returns their mAP.
        Picklable, so it works with ``n_jobs > 1``.

    See Also
    --------
    make_gnd_scorer : mAP against a fixed ground truth (Oxford, Paris).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer
    >>> from sklearn_salreg.model_selection import make_map_scorer
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(10), 6)
    >>> X = rng.normal(size=(10, 32))[y] + 0.5 * rng.normal(size=(60, 32))
    >>> pipe = make_pipeline(PCA(), Normalizer())
    >>> search = GridSearchCV(pipe, {"pca__n_components": [2, 16]}, cv=StratifiedKFold(3),
    ...                       scoring=make_map_scorer()).fit(X, y)
    >>> search.best_params_
    {'pca__n_components': 16}
    """
    return _LabelMapScorer(_check_retriever(diffusion), refit=bool(refit))


def with_query_boxes(X, boxes):
    """``X`` with a query box per image for :func:`make_box_scorer` (None: not a query).

    The boxes go to the field :data:`QUERY_BOX_FIELD`, not to the collection's boxes: the
    images stay whole database images, and the scorer describes a copy of each from its
    box. A split of ``X`` (cross-validation) keeps each image's box.

    Parameters
    ----------
    X : MapCollection
        The images (database and queries alike).
    boxes : sequence of (4,) int array-like or None
        ``[y0, x0, y1, x1)`` in map cells, one per image.

    Returns
    -------
    MapCollection

    Examples
    --------
    >>> from sklearn_salreg import MapCollection
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.model_selection import box_queries, with_query_boxes
    >>> X = with_query_boxes(MapCollection(make_maps(n_maps=3)), [[0, 0, 3, 3], None, None])
    >>> indices, queries = box_queries(X)
    >>> indices.tolist(), queries.box(0).tolist()
    ([0], [0, 0, 3, 3])
    """
    from ..collection import as_collection

    X = as_collection(X)
    if len(boxes) != len(X):
        raise ValueError(f"got {len(boxes)} query boxes for {len(X)} images.")
    return X.with_fields(**{QUERY_BOX_FIELD: [None if b is None else np.asarray(b, np.int64)
                                               for b in boxes]})


class _Maps:
    """The maps of a collection as a plain sequence, read on access (to give them boxes)."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[int(i)]


def box_queries(X):
    """The images of ``X`` with a query box (:func:`with_query_boxes`), and those images
    as a collection that carries the boxes (the query side of the box protocol).

    Parameters
    ----------
    X : MapCollection
        Images with the field :data:`QUERY_BOX_FIELD` (:func:`with_query_boxes`).

    Returns
    -------
    indices : ndarray of int64
        The images of ``X`` that are queries.
    queries : MapCollection
        Those images, each with its query box.

    Examples
    --------
    >>> from sklearn_salreg import MapCollection
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.model_selection import box_queries, with_query_boxes
    >>> X = MapCollection(make_maps(n_maps=3))
    >>> indices, queries = box_queries(with_query_boxes(X, [None, [1, 1, 4, 4], [0, 0, 2, 2]]))
    >>> indices.tolist(), len(queries)
    ([1, 2], 2)
    """
    from ..collection import MapCollection

    boxes = X.field(QUERY_BOX_FIELD)
    index = np.array([i for i, b in enumerate(boxes) if b is not None], dtype=np.int64)
    return index, MapCollection(_Maps(X[index]), boxes=[boxes[i] for i in index])


class _BoxMapScorer(_LabelMapScorer):
    """mAP of box queries under the label protocol; see :func:`make_box_scorer`."""

    _what, _factory = "box", "make_box_scorer"

    def __call__(self, estimator, X, y):
        y = self._labels(y)
        if not (hasattr(X, "has_field") and X.has_field(QUERY_BOX_FIELD)):
            raise ValueError(
                "the box mAP scorer needs images that carry their query box: pass "
                "with_query_boxes(X, boxes) to the search.")
        index, queries = box_queries(X)
        if not len(index):
            return float("nan")
        if self.refit:  # fit_transform: the database is described once
            estimator = refit_on_database(estimator)
            D = self._checked(np.asarray(estimator.fit_transform(X), dtype=np.float32), y)
        else:
            D = self._checked(_descriptors(estimator, X, "scored images"), y)
        Q = _descriptors(estimator, queries, "box queries")
        return self._mean_ap(_rank(D, Q, self.diffusion), y, index)


def make_box_scorer(diffusion=None, refit=True):
    """Scorer of a descriptor pipeline by mAP of queries described from their box.

    The box protocol of INSTRE (and of the paper's Table 1) under the label protocol:
    the scored images are the database, described whole; each image that carries a
    query box (:func:`with_query_boxes`) is also a query, described from its box (a
    copy of the image whose box replaces detection), and ranks the database, where its
    own image is junk and the other images of its label are positives.

    Parameters
    ----------
    diffusion : estimator, default=None
        ``None`` ranks by dot product; otherwise an unfitted retriever such as
        :class:`~sklearn_salreg.search.Diffusion`, fitted (a clone) on the database.
    refit : bool, default=True
        True fits the estimator again on the scored images, as their own database (see
        :func:`refit_on_database` and :func:`make_map_scorer`); False describes them
        with the estimator as fitted on the training split.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float``
        ``X`` must carry query boxes (:func:`with_query_boxes`); ``y`` labels the
        images (negative: distractor). ``nan`` when no image of the split has a box.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import MapCollection
    >>> from sklearn_salreg.model_selection import make_box_scorer, with_query_boxes
    >>> from sklearn_salreg.pipelines import make_mac
    >>> rng = np.random.default_rng(0)
    >>> maps = [rng.random((6, 8, 16), dtype=np.float32) for _ in range(4)]
    >>> X = with_query_boxes(MapCollection(maps), [[0, 0, 3, 4], None, None, None])
    >>> 0 <= make_box_scorer()(make_mac(), X, np.array([0, 0, 1, 1])) <= 1
    True
    """
    return _BoxMapScorer(_check_retriever(diffusion), refit=bool(refit))


class _GndMapScorer:
    """mAP against a fixed ground truth; see :func:`make_gnd_scorer`."""

    def __init__(self, gnd, queries, query_indices, protocol, diffusion):
        self.gnd = gnd
        self.queries = queries
        self.query_indices = query_indices
        self.protocol = protocol
        self.diffusion = diffusion

    def __call__(self, estimator, X, y=None):
        D = _descriptors(estimator, X, "database images")
        n_db = D.shape[0]
        if n_db <= self._largest_index:
            raise ValueError(
                f"the ground truth refers to database image {self._largest_index} but the "
                f"scored split holds {n_db} images: this scorer needs the whole database in "
                "the scored split, e.g. cv=[(train_indices, np.arange(n_database))].")
        if self.queries is not None:
            Q = _descriptors(estimator, self.queries, "queries")
            if Q.shape[0] != len(self.gnd):
                raise ValueError(
                    f"the estimator gave {Q.shape[0]} query descriptors for {len(self.gnd)} "
                    "ground-truth entries.")
        else:
            Q = D[self.query_indices]
        ranks = _rank(D, Q, self.diffusion)
        if self.protocol == "classic":
            return float(mean_average_precision(ranks, self.gnd))
        return float(revisited_map(ranks, self.gnd)[self.protocol])

    @property
    def _largest_index(self):
        keys = ("ok", "junk") if self.protocol == "classic" else ("easy", "hard", "junk")
        top = [int(np.max(g[k])) for g in self.gnd for k in keys if len(g.get(k, ()))]
        if self.query_indices is not None and len(self.query_indices):
            top.append(int(self.query_indices.max()))
        return max(top, default=-1)

    def __repr__(self):
        return (
            f"make_gnd_scorer(<{len(self.gnd)} queries>, protocol={self.protocol!r}, "
            f"diffusion={self.diffusion!r})"
        )


def make_gnd_scorer(gnd, *, queries=None, query_indices=None, protocol=None, diffusion=None):
    """Scorer of a descriptor pipeline by mAP against a fixed ground truth.

    The scored ``X`` is the database (all of it: ``gnd`` holds indices into it), and
    the queries are either separate inputs (``queries``, e.g. the maps of the query
    crops, transformed by the same estimator) or images of the database
    (``query_indices``). Exactly one of the two must be given.

    Because the ground truth indexes the whole database, cross-validation splits
    that cut the database do not apply: score the whole database with a predefined
    split, e.g. ``GridSearchCV(..., cv=[(train, np.arange(n_database))])`` where
    ``train`` holds the images that fit the pipeline (all of them for unsupervised
    stages). A split smaller than the ground truth raises a ``ValueError``.

    Parameters
    ----------
    gnd : list of dict
        One dict per query, database indices under ``'ok'``/``'junk'`` (classic
        Oxford5k/Paris6k) or ``'easy'``/``'hard'``/``'junk'`` (Revisited).
    queries : object, default=None
        Query inputs, anything ``estimator.transform`` accepts, ``len(gnd)`` of them.
    query_indices : array-like of int, default=None
        Database images used as queries, ``len(gnd)`` of them.
    protocol : {'classic', 'easy', 'medium', 'hard'}, default=None
        Which mAP to return; ``None`` picks 'classic' for an ``'ok'`` ground truth
        and 'medium' for a revisited one.
    diffusion : estimator, default=None
        ``None`` ranks by dot product; otherwise an unfitted retriever such as
        :class:`~sklearn_salreg.search.Diffusion`, fitted (a clone) on the database
        descriptors of the scored split.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y=None) -> float``
        ``y`` is ignored. Picklable (``queries`` travels with it).

    See Also
    --------
    make_map_scorer : mAP under the label protocol, for any split.
    sklearn_salreg.metrics.mean_average_precision, sklearn_salreg.metrics.revisited_map

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import Normalizer
    >>> from sklearn_salreg.model_selection import make_gnd_scorer
    >>> database = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> gnd = [{"ok": [2], "junk": [0]}]
    >>> scorer = make_gnd_scorer(gnd, queries=np.array([[1.0, 0.1]]))
    >>> scorer(Normalizer().fit(database), database)
    1.0
    """
    if (queries is None) == (query_indices is None):
        raise ValueError("give exactly one of queries (separate query inputs) and "
                         "query_indices (database images used as queries).")
    if isinstance(gnd, dict) or not all(isinstance(g, dict) for g in gnd) or not len(gnd):
        raise ValueError("gnd must be a non-empty list with one dict per query.")
    revisited = "ok" not in gnd[0]
    if protocol is None:
        protocol = "medium" if revisited else "classic"
    allowed = ("easy", "medium", "hard") if revisited else ("classic",)
    if protocol not in allowed:
        kind = "a revisited ('easy'/'hard')" if revisited else "a classic ('ok')"
        raise ValueError(f"protocol={protocol!r} does not fit {kind} ground truth; use one of "
                         f"{allowed}.")
    if query_indices is not None:
        query_indices = check_query_indices(query_indices, np.iinfo(np.int64).max)
        if query_indices.size != len(gnd):
            raise ValueError(f"query_indices holds {query_indices.size} images for "
                             f"{len(gnd)} ground-truth entries.")
    elif hasattr(queries, "__len__") and len(queries) != len(gnd):
        raise ValueError(f"queries holds {len(queries)} inputs for {len(gnd)} ground-truth "
                         "entries.")
    return _GndMapScorer(list(gnd), queries, query_indices, protocol, _check_retriever(diffusion))
