"""Model selection: retrieval-mAP scorers for grid searches over descriptor pipelines."""

from ._scorers import make_gnd_scorer, make_map_scorer

__all__ = ["make_gnd_scorer", "make_map_scorer"]
