"""Nearest-neighbour search by dot product over a database of descriptors.

:class:`IVFIndex`, an inverted file of spherical k-means lists: a query scores the
members of its ``n_probe`` nearest lists only (exact when every list is probed).
"""

from ._ivf import IVFIndex, spherical_kmeans

__all__ = ["IVFIndex", "spherical_kmeans"]
