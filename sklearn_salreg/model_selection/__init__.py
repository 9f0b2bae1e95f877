"""Model selection: retrieval-mAP scorers for grid searches over descriptor pipelines."""

from ._scorers import (QUERY_BOX_FIELD, box_queries, make_box_scorer, make_gnd_scorer,
                       make_map_scorer, refit_on_database, with_query_boxes)

__all__ = ["QUERY_BOX_FIELD", "box_queries", "make_box_scorer", "make_gnd_scorer",
           "make_map_scorer", "refit_on_database", "with_query_boxes"]
