"""Retrieval: exact and approximate k-NN search, and diffusion."""

from ._diffusion import Diffusion, item_diffusions
from ._graph import diffuse
from ._knn import KNNRetriever

__all__ = ["Diffusion", "KNNRetriever", "diffuse", "item_diffusions"]
