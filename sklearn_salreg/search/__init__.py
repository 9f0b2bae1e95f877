"""Retrieval: exact and approximate k-NN search, and query-side diffusion."""

from ._diffusion import Diffusion
from ._graph import diffuse
from ._knn import KNNRetriever

__all__ = [
    "Diffusion",
    "KNNRetriever",
    "diffuse",
]
