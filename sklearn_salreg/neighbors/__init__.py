"""Nearest neighbours by dot product: the search indexes, the (mutual) k-NN graph, its
normalisation, and the linear solver of ``(I - alpha W) x = b`` on it.

The one home of neighbour search and graphs: object discovery, object saliency and
retrieval use it and nothing else for them. Every index and function returns
``(similarities, indices)``, both of shape (n_queries, k): similarities float32 by
decreasing value (ties by increasing index), indices int64; where an index finds
fewer than ``k`` neighbours, the row ends with index -1 and similarity -inf.

An index is built on the database rows, ``index = build_index(V, algorithm, k)``, and
answers ``index.query(U, k)`` and ``index.neighbor_graph(k)`` (each row's own index
excluded).
"""

from ._exact import ExactIndex, exact_top_k, row_similarities, similarities
from ._ivf import IVFIndex, spherical_kmeans
from ._graph import (GRAPH_PARAMETERS, SOLVER_PARAMETERS, check_graph, extend_neighbor_graph,
                     merge_neighbors, mutual_graph_from_neighbors, mutual_knn_graph,
                     normalize_graph)
from ._nndescent import NNDescentIndex, build_index, nndescent_degree
from ._solver import solve_graph_system
from ._threads import blas_threads, on_threads
from ._topk import top_k_rows


def __getattr__(name):
    # The numba kernel is compiled (or loaded from its cache) on first use only.
    if name == "top_k_rows_float32":
        from ._kernels import top_k_rows_float32

        return top_k_rows_float32
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ExactIndex", "GRAPH_PARAMETERS", "IVFIndex", "NNDescentIndex", "SOLVER_PARAMETERS",
           "blas_threads", "build_index", "check_graph", "exact_top_k", "extend_neighbor_graph",
           "merge_neighbors", "mutual_graph_from_neighbors", "mutual_knn_graph", "nndescent_degree",
           "normalize_graph", "on_threads", "row_similarities", "similarities",
           "solve_graph_system", "spherical_kmeans", "top_k_rows", "top_k_rows_float32"]
