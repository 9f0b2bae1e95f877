"""Model selection: retrieval-mAP scorers for grid searches over descriptor pipelines."""

from ._scorers import make_gnd_scorer, make_map_scorer, refit_on_database

__all__ = ["make_gnd_scorer", "make_map_scorer", "refit_on_database"]
