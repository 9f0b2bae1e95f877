"""What the retrievers share: ``predict`` and ``score`` on top of ``rank``, and the check
of a number of results."""

from numbers import Integral

import numpy as np

from ..metrics import mean_average_precision, revisited_map
from ..metrics import label_average_precisions

__all__ = ["RetrieverMixin"]


def _result_count(value, default, name, available):
    """The number of results asked: ``value``, else ``default`` (an estimator's
    parameter), ``None`` meaning all ``available``; capped at ``available``."""
    value = default if value is None else value
    if value is not None and (not isinstance(value, Integral) or value < 1):
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}.")
    return available if value is None else min(int(value), available)


def _is_gnd(y):
    return isinstance(y, (list, tuple)) and len(y) > 0 and isinstance(y[0], dict)


class RetrieverMixin:
    """Mixin for estimators that rank a fitted database for query descriptors.

    The class provides ``rank(X, n_results=None, return_scores=False)``; the mixin
    adds :meth:`predict` (the ranking, so that a :class:`~sklearn.pipeline.Pipeline`
    ending in a retriever answers ``pipe.predict(queries)``) and :meth:`score`
    (mAP, so that ``pipe.score(queries, gnd)`` and the default scoring of
    :class:`~sklearn.model_selection.GridSearchCV` work). Put it before
    :class:`~sklearn.base.BaseEstimator` in the bases.
    """

    def predict(self, X):
        """Rank the database for each query (same as :meth:`rank` with its defaults).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query descriptors.

        Returns
        -------
        indices : ndarray of int, shape (n_queries, n_results)
            Database indices sorted by decreasing relevance.
        """
        return self.rank(X)

    def score(self, X, y):
        """Mean average precision of the rankings of the queries ``X``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query descriptors.
        y : list of dict or array-like of shape (n_queries,)
            Either a ground truth with one dict per query, indices into the fitted
            database: keys ``'ok'``/``'junk'`` (classic protocol) or
            ``'easy'``/``'hard'``/``'junk'`` (revisited, Medium protocol is
            returned); or the object label of each query, in which case the
            retriever must have been fitted with the database labels (``fit(X, y)``)
            and every database item with the query's label is a positive.

        Returns
        -------
        score : float
            mAP over the queries that have positives, computed on the ranking that
            :meth:`rank` returns by default (a full ranking unless the estimator's
            result depth truncates it). When the queries are the database images
            themselves, use :func:`~sklearn_salreg.model_selection.make_map_scorer`
            instead, which does not count a query's own image as its positive.
        """
        ranks = self.rank(X)
        if _is_gnd(y):
            if "ok" in y[0]:
                return mean_average_precision(ranks, y)
            return revisited_map(ranks, y)["medium"]
        labels = getattr(self, "database_labels_", None)
        if labels is None:
            raise ValueError(
                f"{type(self).__name__}.score got query labels, but the database labels are "
                "unknown: fit with fit(X, y) where y holds the label of each database item, "
                "or pass a ground truth (list of dicts) instead.")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != ranks.shape[0]:
            raise ValueError(
                f"y must hold one label per query: expected shape ({ranks.shape[0]},), got "
                f"{y.shape}.")
        aps = label_average_precisions(ranks, labels, y)
        return float(np.nanmean(aps)) if not np.isnan(aps).all() else float("nan")

    def _store_labels(self, y, n_samples):
        if y is None:
            self.database_labels_ = None
            return
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n_samples:
            raise ValueError(
                f"y must hold one label per database item: expected shape ({n_samples},), "
                f"got {y.shape}.")
        self.database_labels_ = y.copy()
