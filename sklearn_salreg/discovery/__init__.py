"""Object discovery: the region graph of a database, its Katz centrality (paper 3.6-3.7).

The neighbour search and the graph itself come from :mod:`sklearn_salreg.neighbors`.
"""

from ._centrality import BRUTE_MAX_REGIONS, CentralityGraph
from ._graph import katz_centrality

__all__ = ["BRUTE_MAX_REGIONS", "CentralityGraph", "katz_centrality"]
