"""LearnedWhitening: the whitening stage, on descriptor arrays or region collections."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..collection import MapCollection, stack_regions
from ..utils._param_validation import Interval, StrOptions, fit_context
from ..utils import l2_normalize
from ._functions import WHITENING_PARAMETERS, _apply_whitening, learn_whitening, pca_whitening
from ._pairs import mutual_neighbor_pairs, pairs_from_labels, region_pairs_from_labels

__all__ = ["REGION_WHITENING", "LearnedWhitening", "make_region_whitening"]


class LearnedWhitening(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Whiten descriptors: L2-normalise, centre, whiten, project, L2-normalise.

    Supervised learned whitening (Radenovic et al.) when matching pairs are known,
    unsupervised PCA whitening otherwise (paper section 3.5). ``X`` is either a
    2-D array of descriptors or, inside a descriptor pipeline, a
    :class:`~sklearn_salreg.MapCollection` whose ``region_descriptors`` are whitened
    (all regions of all images are the training vectors).

    Supervision, in order of precedence:

    - ``fit(X, pairs=P)``: ``P`` is an (n_pairs, 2) array of matching row indices
      of ``X`` (of the stacked regions, for a collection);
    - ``fit(X, y)``: for a 2-D array, rows with equal labels match: all same-label
      pairs, or ``max_pairs`` of them drawn uniformly at random; for a collection,
      ``y`` labels images and two regions match when they lie in different images of
      the same label and are each other's most similar region there;
    - neither, or ``supervised=False``: unsupervised, as ``unsupervised`` says: PCA
      whitening, or (``unsupervised="mutual"``) the supervised learner fed with pairs
      found without labels: vectors that are each other's nearest neighbour across
      images (:func:`mutual_neighbor_pairs`) in the PCA-whitened space, which in a
      collection of recurring objects are mostly matching views of an object part,
      the pairs the region graph of object discovery links; with ``n_rounds > 1`` the
      pairs are found again in the space of the last whitening, and it is relearned.

    A whitening learned elsewhere (the paper learns it on an external training set)
    is reused by wrapping the fitted estimator in
    :class:`sklearn.frozen.FrozenEstimator`: cloning (grid search) then keeps it
    and ``fit`` leaves it untouched. :meth:`from_projection` builds a fitted
    estimator from a mean and projection computed by other code.

    Parameters
    ----------
    n_components : int, default=None
        Output dimension ``d``. None keeps ``min(n_samples - 1, n_features)``. More
        than that raises a ValueError: ``n`` centred training vectors span at most
        ``n - 1`` directions, and a whitening cannot estimate more.
    shrinkage : float in [0, 1], default=0.0
        Shrinks the covariance that is whitened (of pair differences, or of the
        vectors) towards a multiple of the identity: 0 whitens fully (the paper), 1
        only rotates. Worth raising when trained on few vectors.
    max_pairs : int, default=50_000
        Most matching pairs drawn from labels ``y``; None uses them all.
    supervised : bool, default=True
        Whether ``fit`` uses the ``y`` or ``pairs`` it is given. False learns a PCA
        whitening whatever it is given: inside a pipeline fitted with labels (a grid
        search under the label protocol passes ``y`` to every step), this is the
        switch between the two as a grid-search lever.
    random_state : int, RandomState instance or None, default=None
        Draws the subset of pairs when there are more than ``max_pairs``.
    unsupervised : {"pca", "mutual"}, default="pca"
        The whitening learned without labels: PCA whitening, or the learned whitening
        of pair differences with discovered pairs (mutual nearest neighbours across
        images; across rows for a 2-D array). Without any such pair it stays PCA.
    n_rounds : int, default=1
        With ``unsupervised="mutual"``: how many times pairs are found (in the space of
        the previous whitening, PCA first) and the whitening relearned from them.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_in_,), float64
        Mean of the L2-normalised training vectors.
    projection_ : ndarray of shape (n_features_in_, n_features_in_), float64
        Whitening projection, rows in decreasing order of variance.
    n_components_ : int
        Output dimension.
    supervised_ : bool or None
        Whether matching pairs were used (None when built by :meth:`from_projection`).
    n_pairs_ : int
        Number of matching pairs used (0 for PCA whitening; the discovered pairs of the
        last round with ``unsupervised="mutual"``).
    n_features_in_ : int
        Descriptor dimension seen in fit.

    See Also
    --------
    learn_whitening, pca_whitening, apply_whitening : the functions it wraps.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.whitening import LearnedWhitening
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((100, 16))
    >>> y = np.repeat(np.arange(20), 5)
    >>> lw = LearnedWhitening(n_components=8).fit(X, y)
    >>> Y = lw.transform(X)
    >>> Y.shape, Y.dtype, lw.supervised_, lw.n_pairs_
    ((100, 8), dtype('float32'), True, 200)

    Reusing a whitening fitted on other data inside a pipeline:

    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.pipeline import make_pipeline
    >>> pipe = make_pipeline(FrozenEstimator(lw)).fit(rng.random((10, 16)))  # lw not refitted
    >>> bool(np.array_equal(pipe.transform(X), lw.transform(X)))
    True
    """

    _parameter_constraints: dict = {
        **WHITENING_PARAMETERS,
        "max_pairs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "supervised": ["boolean"],
        "random_state": ["random_state"],
        "unsupervised": [StrOptions({"pca", "mutual"})],
        "n_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components=None, *, shrinkage=0.0, max_pairs=50_000, supervised=True,
                 random_state=None, unsupervised="pca", n_rounds=1):
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.max_pairs = max_pairs
        self.supervised = supervised
        self.random_state = random_state
        self.unsupervised = unsupervised
        self.n_rounds = n_rounds

    @classmethod
    def from_projection(cls, mean, projection, n_components=None):
        """A fitted whitening from a ``mean`` and ``projection`` learned by other code.

        ``projection`` rows must be ordered by decreasing importance and apply to
        L2-normalised vectors: ``y = projection[:d] @ (x / ||x|| - mean)``. Wrap the
        result in :class:`~sklearn.frozen.FrozenEstimator` to use it in a pipeline.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_salreg.whitening import LearnedWhitening
        >>> lw = LearnedWhitening.from_projection(np.zeros(3), np.eye(3), n_components=2)
        >>> lw.transform(np.array([[3.0, 4.0, 5.0]])).round(4)
        array([[0.6, 0.8]], dtype=float32)
        """
        mean = np.asarray(mean, dtype=np.float64)
        projection = np.asarray(projection, dtype=np.float64)
        if mean.ndim != 1 or projection.ndim != 2 or projection.shape[1] != mean.shape[0]:
            raise ValueError(
                f"mean of shape {mean.shape} and projection of shape {projection.shape} "
                "do not fit: expected (c,) and (d, c).")
        if n_components is not None and not 1 <= n_components <= projection.shape[0]:
            raise ValueError(
                f"n_components={n_components} is not in [1, {projection.shape[0]}] "
                f"for a projection of shape {projection.shape}.")
        est = cls(n_components=n_components)
        est.mean_, est.projection_ = mean, projection
        est.n_components_ = projection.shape[0] if n_components is None else n_components
        est.n_features_in_ = mean.shape[0]
        est.supervised_, est.n_pairs_ = None, 0
        return est

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, pairs=None):
        """Learn the whitening from descriptors or from the regions of a collection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or MapCollection
            Descriptors, or a collection with the field ``region_descriptors``.
        y : array-like of shape (n_samples,) or (n_images,), default=None
            Labels: equal labels match (see the class docstring). Ignored when
            ``pairs`` is given.
        pairs : array-like of int, shape (n_pairs, 2), default=None
            Row indices of matching vectors (regions stacked image after image, for
            a collection).

        Returns
        -------
        self : object
        """
        if not self.supervised:
            y = pairs = None
        image_index = None
        if isinstance(X, MapCollection):
            Z, image_index, _ = stack_regions(X)
            self.n_features_in_ = Z.shape[1]
            if hasattr(self, "feature_names_in_"):  # left by an earlier fit on a DataFrame
                del self.feature_names_in_
            if pairs is None and y is not None:
                if len(y) != len(X):
                    raise ValueError(f"y has {len(y)} labels for {len(X)} images.")
                pairs = region_pairs_from_labels(
                    l2_normalize(Z), image_index, y, max_pairs=self.max_pairs,
                    random_state=self.random_state)
        else:
            Z = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
            if pairs is None and y is not None:
                y = np.asarray(y)
                if y.shape != (len(Z),):
                    raise ValueError(f"y of shape {y.shape} does not label the {len(Z)} rows of X.")
                pairs = pairs_from_labels(
                    y, max_pairs=self.max_pairs, random_state=self.random_state)
        n, c = Z.shape
        if n < 2:
            raise ValueError(f"whitening needs at least 2 descriptors; got n_samples = {n}.")
        # Centred, n vectors span at most n - 1 directions; whitening more would
        # scale directions of zero variance by ~1e6 and let them dominate new data.
        limit = min(n - 1, c)
        if self.n_components is not None and self.n_components > limit:
            raise ValueError(
                f"n_components={self.n_components} exceeds min(n_samples - 1, n_features) = "
                f"min({n - 1}, {c}) = {limit}: the {n} centred training vectors of dimension "
                f"{c} span at most {limit} directions.")
        # float32 stays float32: covariances accumulate in float64. The regions of a
        # collection were stacked into a new array: normalised in place (at 50,000
        # images a copy is ~300 MB more at the peak).
        Z = l2_normalize(Z, copy=not isinstance(X, MapCollection))
        if pairs is not None and len(pairs) == 0:
            raise ValueError(
                "no matching pairs: the labels y share no label between two vectors (or "
                "two images). Pass y=None for unsupervised whitening.")
        self.n_components_ = limit if self.n_components is None else self.n_components
        self.supervised_ = pairs is not None
        if pairs is None:
            self.mean_, self.projection_ = pca_whitening(Z, shrinkage=self.shrinkage)
            self.n_pairs_ = 0
            if self.unsupervised == "mutual":
                self._learn_from_discovered_pairs(Z, image_index)
        else:
            self.mean_, self.projection_ = learn_whitening(Z, pairs, shrinkage=self.shrinkage)
            self.n_pairs_ = len(pairs)
        return self

    def _learn_from_discovered_pairs(self, Z, image_index):
        """Rounds of: mutual nearest neighbours in the current whitened space, then the
        learned whitening of their differences (``Z`` L2-normalised)."""
        for _ in range(self.n_rounds):
            found = mutual_neighbor_pairs(self._whiten(Z), image_index,
                                          max_pairs=self.max_pairs,
                                          random_state=self.random_state)
            if not len(found):  # nothing matches: the current whitening stays
                return
            self.mean_, self.projection_ = learn_whitening(Z, found, shrinkage=self.shrinkage)
            self.n_pairs_ = len(found)

    def transform(self, X):
        """Whiten descriptors, or the region descriptors of a collection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_), or MapCollection

        Returns
        -------
        Y : ndarray of shape (n_samples, n_components_), float32, or MapCollection
            Unit-norm rows. A collection comes back with whitened
            ``region_descriptors`` (an image without regions keeps an empty
            ``(0, n_components_)`` array) and ``context['whitening'] = self``.
        """
        check_is_fitted(self)
        if isinstance(X, MapCollection):
            Z, _, counts = stack_regions(X)
            self._check_width(Z)
            Y = self._whiten(Z, copy=False)  # Z: stacked just now
            per_image = np.split(Y, np.cumsum(counts)[:-1])
            return X.with_fields(region_descriptors=per_image).with_context(whitening=self)
        Z = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return self._whiten(Z)

    def _check_width(self, Z):
        if Z.shape[1] != self.n_features_in_:
            raise ValueError(
                f"region descriptors have {Z.shape[1]} features, but {type(self).__name__} "
                f"was fitted with {self.n_features_in_}.")

    def _whiten(self, Z, copy=True):
        return _apply_whitening(l2_normalize(Z, copy=copy), self.mean_, self.projection_,
                                self.n_components_)

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


#: Parameters of the region whitening of the shipped OS.EGM configurations (the quality
#: report's choice, see :doc:`/results`): whitening to 64 dimensions with shrinkage 0.1.
REGION_WHITENING = dict(n_components=64, shrinkage=0.1)


def make_region_whitening(**params):
    """The region whitening of the shipped OS.EGM configurations: a :class:`LearnedWhitening`.

    Parameters
    ----------
    **params
        Parameters of :class:`LearnedWhitening` that replace those of
        :data:`REGION_WHITENING` (``n_components=64, shrinkage=0.1``).

    Returns
    -------
    whitening : LearnedWhitening
        Unfitted.

    Examples
    --------
    >>> from sklearn_salreg.whitening import make_region_whitening
    >>> make_region_whitening()
    LearnedWhitening(n_components=64, shrinkage=0.1)
    >>> make_region_whitening(supervised=False).get_params()["supervised"]
    False
    """
    return LearnedWhitening(**{**REGION_WHITENING, **params})
