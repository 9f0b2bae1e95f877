"""The data that flows between the stages of a descriptor pipeline.

A :class:`MapCollection` is a sequence of activation maps of varying spatial size
(one ``(h_i, w_i, c)`` array per image) plus, per image, the few small *fields* the
stages write for the stages after them, plus a *context* of objects shared by all
images (the fitted whitening and region graph that object saliency needs)::

    stage                 reads                                writes
    FeatureSaliency       maps                                 feature_saliency, saliency
    EGMRegionDetector     saliency (or feature_saliency), box  regions
    RegionMaxPooler       maps, regions, feature_saliency      region_descriptors, region_saliency
    LearnedWhitening      region_descriptors                   region_descriptors, context: whitening
    CentralityGraph       region_descriptors, region_saliency  context: graph
    ObjectSaliency        maps, feature_saliency, context      saliency
    RegionAggregator      maps, regions                        -> (n, d) float32 array

Writing ``regions`` drops ``region_descriptors`` and ``region_saliency``: they
described the old regions. Maps are never copied between stages: a collection backed
by a :class:`MapFile` stays on disk, and every stage reads one map at a time.
"""

import numbers
from collections.abc import Iterator

import numpy as np

from ._disk import MapFile, write_maps
from ._validation import as_numpy, check_boxes

__all__ = ["MapCollection", "as_collection", "FIELDS"]

#: Per-image fields, the stage that writes each, and what it holds.
FIELDS = {
    "feature_saliency": "FeatureSaliency: the 2-D feature saliency map F-hat (h, w)",
    "saliency": "FeatureSaliency or ObjectSaliency: the 2-D map the next detector reads (h, w)",
    "regions": "a region detector: int boxes (m, 4) [y0, x0, y1, x1) in activation coordinates",
    "region_descriptors": "RegionMaxPooler (then LearnedWhitening): descriptors (m, d)",
    "region_saliency": "RegionMaxPooler: mean feature saliency of each region (m,)",
}

# Fields that describe the current regions and go stale when the regions change.
_REGION_FIELDS = ("region_descriptors", "region_saliency")


class MapCollection:
    """Activation maps of varying spatial size, with per-image fields.

    This is the ``X`` of every map-based estimator in this package. It is indexable
    by an integer, a slice, a boolean mask or an integer array, so that
    :class:`~sklearn.model_selection.GridSearchCV` and cross-validation can split it,
    and its ``shape`` is ``(n_images,)``.

    Parameters
    ----------
    maps : sequence of array-like of shape (h_i, w_i, c), or MapFile
        Non-negative activation maps (numpy arrays or torch tensors), one per image,
        or a :class:`MapFile` whose maps are read from disk one at a time. A sequence
        that makes its maps on access (a reader of another format, a generator of
        synthetic maps) may define ``shape_of(i) -> (h, w, c)``: the shape checks of
        the stages that do not read maps (detection, for instance) then ask it
        instead of making map ``i``.
    boxes : sequence of (4,) int array-like or None, default=None
        Optional box per image ``[y0, x0, y1, x1)`` in activation coordinates (the
        query box of the query side; ``None`` where an image has none). One box per
        image: an array of shape (2, 4) for one image is refused. Defaults to
        the boxes stored in a :class:`MapFile`.

    Attributes
    ----------
    context : dict
        Objects shared by all images (fitted stages that later stages query).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg import MapCollection
    >>> rng = np.random.default_rng(0)
    >>> maps = [rng.random((6, 8, 16), dtype=np.float32), rng.random((7, 5, 16), dtype=np.float32)]
    >>> X = MapCollection(maps, boxes=[None, [1, 1, 4, 4]])
    >>> X.shape, X[1].shape, len(X[[1]])
    ((2,), (7, 5, 16), 1)
    """

    def __init__(self, maps, boxes=None):
        if isinstance(maps, MapCollection):
            raise TypeError("maps is already a MapCollection; use it directly or index it.")
        if isinstance(maps, np.ndarray) and maps.ndim == 4:
            maps = list(maps)  # a stack of equally-sized maps
        elif isinstance(maps, np.ndarray) or not hasattr(maps, "__len__"):
            raise TypeError(
                "maps must be a sequence of (h, w, c) arrays, a 4-D stack or a MapFile; "
                f"got {type(maps).__name__}"
                + (f" of shape {maps.shape}." if hasattr(maps, "shape") else "."))
        self._source = maps
        self._rows = np.arange(len(maps))
        if boxes is None:
            self._boxes = None
        else:
            if len(boxes) != len(maps):
                raise ValueError(f"got {len(boxes)} boxes for {len(maps)} maps.")
            self._boxes = [None if b is None else _one_box(b, i) for i, b in enumerate(boxes)]
        self._fields = {}
        self.context = {}

    # -- construction ---------------------------------------------------------------
    @classmethod
    def open(cls, path):
        """A collection backed by the map folder at ``path`` (see :class:`MapWriter`)."""
        return cls(MapFile(path))

    def save(self, path, dtype="float32"):
        """Write the maps and boxes to a new map folder; return the disk-backed collection.

        ``dtype="float16"`` stores the maps in half the space (see :class:`MapWriter`).
        """
        names = None
        if isinstance(self._source, MapFile) and self._source.names is not None:
            names = [self._source.names[r] for r in self._rows]
        write_maps(path, iter(self), boxes=self.boxes, names=names, dtype=dtype)
        return type(self).open(path)

    def _copy(self):
        new = object.__new__(type(self))
        new._source, new._rows, new._boxes = self._source, self._rows, self._boxes
        new._fields, new.context = dict(self._fields), dict(self.context)
        return new

    # -- sequence protocol ------------------------------------------------------------
    def __len__(self):
        return len(self._rows)

    @property
    def shape(self):
        """``(n_images,)``: what scikit-learn's splitters read."""
        return (len(self),)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            # scikit-learn's _safe_indexing asks for X[key, ...]
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(f"a MapCollection is one-dimensional; got index {key!r}.")
        if isinstance(key, numbers.Integral):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"image index {i} out of range for {len(self)} images.")
            return as_numpy(self._source[int(self._rows[i])])
        positions = np.arange(len(self))[key]
        new = self._copy()
        new._rows = self._rows[positions]
        if self._boxes is not None:
            new._boxes = [self._boxes[p] for p in positions]
        new._fields = {name: [values[p] for p in positions] for name, values in self._fields.items()}
        return new

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def map_shape(self, i):
        """Shape (h, w, c) of map ``i``, without reading a disk-backed map (nor making
        one whose source defines ``shape_of``)."""
        row = int(self._rows[i])
        if hasattr(self._source, "shape_of"):  # a MapFile, or a source that makes maps
            return tuple(self._source.shape_of(row))
        # np.shape reads .shape where there is one, and also takes nested lists
        return tuple(np.shape(self._source[row]))

    @property
    def boxes(self):
        """Per-image box ``[y0, x0, y1, x1)`` or None; a list of length n."""
        return [self._stored_box(i) for i in range(len(self))]

    def _stored_box(self, i):
        if self._boxes is not None:
            return self._boxes[i]
        if isinstance(self._source, MapFile):
            return self._source.box(int(self._rows[i]))
        return None

    def box(self, i):
        """Validated box of image ``i`` as an int array (4,), or None."""
        b = self._stored_box(i)
        return None if b is None else check_boxes(b, self.map_shape(i)[:2], index=i,
                                                  name="query box")[0]

    # -- fields and context -------------------------------------------------------------
    def has_field(self, name):
        """Whether the collection holds the per-image field ``name``."""
        return name in self._fields

    @property
    def field_names(self):
        """The sorted names of the per-image fields the collection holds (see :data:`FIELDS`)."""
        return sorted(self._fields)

    def field(self, name):
        """The list of per-image values of field ``name`` (see :data:`FIELDS`)."""
        try:
            return self._fields[name]
        except KeyError:
            producer = FIELDS.get(name, "no stage").split(":")[0]
            raise ValueError(
                f"the collection has no field {name!r} (written by {producer}); "
                f"it has {sorted(self._fields) or 'no fields'}. Put the stage that writes "
                "it before this one in the pipeline."
            ) from None

    def with_fields(self, **fields):
        """A new collection sharing the maps, with the given per-image fields set.

        Setting ``regions`` drops the region descriptors and region saliency, which
        described the previous regions. The collection itself is not modified.
        """
        new = self._copy()
        if "regions" in fields:
            for stale in _REGION_FIELDS:
                new._fields.pop(stale, None)
        for name, values in fields.items():
            values = list(values)
            if len(values) != len(self):
                raise ValueError(f"field {name!r} has {len(values)} values for {len(self)} images.")
            new._fields[name] = values
        return new

    def with_context(self, **objects):
        """A new collection sharing the maps, with objects added to its context."""
        new = self._copy()
        new.context.update(objects)
        return new

    def __repr__(self):
        backing = "disk" if isinstance(self._source, MapFile) else "memory"
        fields = ", ".join(sorted(self._fields)) or "none"
        return f"MapCollection(n_images={len(self)}, backing={backing}, fields: {fields})"


def _one_box(box, index):
    """One query box as an array of 4 numbers; several boxes for one image are refused
    (a (2, 4) array would otherwise be read as its first box)."""
    box = np.asarray(as_numpy(box))
    if box.size != 4:
        raise ValueError(
            f"image {index}: a query box must be 4 numbers [y0, x0, y1, x1) (one box per "
            f"image); got an array of shape {box.shape}.")
    return box.reshape(4)


def as_collection(X):
    """Return ``X`` as a :class:`MapCollection` (a list of maps is wrapped, not copied).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.collection import as_collection
    >>> X = as_collection([np.ones((2, 3, 4), np.float32), np.ones((5, 6, 4), np.float32)])
    >>> len(X), X.map_shape(1)
    (2, (5, 6, 4))
    >>> as_collection(X) is X
    True
    """
    if isinstance(X, MapCollection):
        return X
    if isinstance(X, MapFile):
        return MapCollection(X)
    if X is None:
        raise ValueError("X is None; expected a collection of (h, w, c) activation maps.")
    if isinstance(X, np.ndarray) and X.ndim != 4 and X.dtype != object:
        raise ValueError(
            "X must be a collection of 3-D activation maps (h, w, c), one per image; "
            f"got an array of shape {X.shape}. Wrap a single map as [A].")
    if isinstance(X, (str, bytes)):
        raise ValueError("X is a string; open a map folder with MapCollection.open(path).")
    if isinstance(X, Iterator):
        raise TypeError(
            f"X is an iterator ({type(X).__name__}), which can be read only once: fit would "
            "consume it and transform would then see no image. Pass a list (list(X)) or a "
            "MapCollection.")
    if isinstance(X, np.ndarray) and X.ndim == 4:
        return MapCollection(X)
    return MapCollection(X if isinstance(X, (list, tuple)) else list(X))
