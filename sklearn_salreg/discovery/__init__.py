"""Object discovery: the region graph of a database, its Katz centrality (paper 3.6-3.7)."""

from ._centrality import BRUTE_MAX_REGIONS, CentralityGraph
from ._graph import (katz_centrality, merge_neighbors, mutual_graph_from_neighbors,
                     mutual_knn_graph, normalize_graph)
from ._search import ExactIndex, NNDescentIndex, build_index

__all__ = [
    "BRUTE_MAX_REGIONS",
    "CentralityGraph",
    "ExactIndex",
    "NNDescentIndex",
    "build_index",
    "katz_centrality",
    "merge_neighbors",
    "mutual_graph_from_neighbors",
    "mutual_knn_graph",
    "normalize_graph",
]
