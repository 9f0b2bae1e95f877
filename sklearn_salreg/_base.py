"""What every map-based estimator shares: input checks, tags, the per-image loop."""

from numbers import Integral

import torch
from sklearn.base import TransformerMixin

from .collection import as_collection
from .utils import check_device, map_batches, map_images
from .utils._param_validation import PositiveInt

__all__ = ["MapTransformerMixin"]

#: The docstring paragraphs of ``device``, ``batch_size`` and ``n_jobs``, written once
#: for every estimator with a torch path: a class docstring of a
#: :class:`MapTransformerMixin` holding the line ``%(device_parameters)s`` gets them
#: there, so that ``device`` has one meaning, documented in one place.
DEVICE_PARAMETERS_DOC = """device : str, torch.device or None, default=None
        Where the maps are computed. None: on the CPU, by the fastest implementation
        there, image by image (``n_jobs`` workers). A torch device (``"cuda"``,
        ``"cuda:1"``, ``"cpu"``): in torch on that device, ``batch_size`` maps of one
        shape at a time. Outputs and fitted attributes are NumPy arrays on the CPU
        either way. On a CPU, None is the faster (see the docs' benchmarks page).
    batch_size : int, default=256
        Maps per torch batch (with a device).
    n_jobs : int, default=None
        Number of joblib workers over images (with ``device=None``) or over batches
        (with a device; keep it at None for one GPU)."""

#: The constraints of those parameters (and ``verbose``), for ``_parameter_constraints``.
DEVICE_PARAMETERS = {
    "device": [str, torch.device, None],
    "batch_size": [PositiveInt],
    "n_jobs": [Integral, None],
    "verbose": ["verbose"],
}


class MapTransformerMixin(TransformerMixin, auto_wrap_output_keys=None):
    """Mixin for transformers whose ``X`` is a collection of activation maps.

    Provides :meth:`_validate_collection` (non-empty collection, consistent channel
    count, with the count seen in ``fit`` remembered as ``n_channels_``), the tags
    that tell scikit-learn's checks that ``X`` is not a 2-D array, and
    :meth:`_map_images` (the per-image loop honouring ``n_jobs`` and ``verbose``) and
    :meth:`_map_batches` (the same over batches, for the estimators with a ``device``).
    Put it before :class:`~sklearn.base.BaseEstimator` in the bases. Output wrapping
    by ``set_output`` is off: a collection of maps is not a table.
    """

    #: Fields of the input collection this stage reads (see ``FIELDS``).
    _required_fields = ()
    #: Whether the stage reads the activation maps themselves (not only fields).
    _reads_maps = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__:
            cls.__doc__ = cls.__doc__.replace("%(device_parameters)s", DEVICE_PARAMETERS_DOC)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True
        return tags

    def fit(self, X, y=None):
        """Validate the parameters and the collection; remember the channel count.

        The per-image stages learn nothing from the database: ``fit`` checks and
        returns ``self``.

        Parameters
        ----------
        X : MapCollection or sequence of array-like of shape (h_i, w_i, c)
            With the fields this stage reads (see :data:`~sklearn_salreg.FIELDS`).
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        self._validate_collection(X, reset=True)
        return self

    def _validate_collection(self, X, reset):
        """Return ``X`` as a MapCollection after collection-level checks.

        Map-level checks (NaN, negatives, channels) run when each map is read, by
        :func:`~sklearn_salreg.collection.check_map` in the per-image function, so
        that a disk-backed collection is read only once.
        """
        X = as_collection(X)
        if len(X) == 0:
            raise ValueError(
                f"{type(self).__name__} got an empty collection: at least one activation "
                "map is required.")
        if reset:
            shape = X.map_shape(0)
            self.n_channels_ = shape[2] if len(shape) == 3 else None
        return X

    def _map_images(self, func, X, desc=None, **kwargs):
        return map_images(
            func, X, n_jobs=getattr(self, "n_jobs", None), verbose=getattr(self, "verbose", 0),
            desc=desc or type(self).__name__, **kwargs)

    def _device(self):
        """The checked ``device`` (a :class:`torch.device`), or None: the CPU path."""
        return None if self.device is None else check_device(self.device, type(self).__name__)

    def _map_on_device(self, per_image, per_batch, X, **kwargs):
        """``per_image`` image by image (``device=None``), else ``per_batch`` over batches
        of maps on the device (given to it as ``device``)."""
        device = self._device()
        if device is None:
            return self._map_images(per_image, X, **kwargs)
        return self._map_batches(per_batch, X, device=device, **kwargs)

    def _map_batches(self, func, X, desc=None, **kwargs):
        return map_batches(
            func, X, batch_size=self.batch_size, n_jobs=getattr(self, "n_jobs", None),
            verbose=getattr(self, "verbose", 0), desc=desc or type(self).__name__, **kwargs)

