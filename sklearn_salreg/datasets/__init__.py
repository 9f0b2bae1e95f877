"""Benchmarks: published instance retrieval datasets read from disk, and a built-in one.

:func:`load_retrieval_dataset` reads Oxford5k, Paris6k, their revisited versions and
INSTRE from a local folder; :func:`make_cluttered_instances` builds a small benchmark
of objects in clutter from photos that scikit-image and scikit-learn ship, with nothing
to download.
"""

from ._cluttered import make_cluttered_instances
from ._retrieval import RETRIEVAL_DATASETS, load_retrieval_dataset

__all__ = ["RETRIEVAL_DATASETS", "load_retrieval_dataset", "make_cluttered_instances"]
