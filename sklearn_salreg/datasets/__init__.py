"""Benchmarks: published instance retrieval datasets read from disk, and a built-in one.

:func:`load_retrieval_dataset` reads Oxford5k, Paris6k, their revisited versions and
INSTRE from a local folder; :func:`make_cluttered_instances` builds a small benchmark
of objects in clutter from photos that scikit-image and scikit-learn ship, with nothing
to download, in a quick six-view size (the default) and an INSTRE-like size
(:data:`INSTRE_LIKE`, chosen from INSTRE's published statistics).
:func:`make_blob_maps`, :func:`make_object_maps` and :func:`make_maps` make synthetic
activation maps for tests, examples and benchmarks.
"""

from ._cluttered import INSTRE_LIKE, INSTRE_STATISTICS, make_cluttered_instances
from ._retrieval import RETRIEVAL_DATASETS, load_retrieval_dataset
from ._synthetic import make_blob_maps, make_maps, make_object_maps

__all__ = ["INSTRE_LIKE", "INSTRE_STATISTICS", "RETRIEVAL_DATASETS", "load_retrieval_dataset",
           "make_blob_maps", "make_cluttered_instances", "make_maps", "make_object_maps"]
