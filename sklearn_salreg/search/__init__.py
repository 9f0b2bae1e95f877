"""Retrieval: exact and approximate k-NN search, and query-side diffusion."""

from ._diffusion import Diffusion
from ._graph import diffuse, mutual_knn_graph, symmetric_normalize
from ._knn import KNNRetriever

__all__ = [
    "Diffusion",
    "KNNRetriever",
    "diffuse",
    "mutual_knn_graph",
    "symmetric_normalize",
]
