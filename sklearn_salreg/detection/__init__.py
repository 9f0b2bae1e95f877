"""Stage 2: where the regions are (EGM on a saliency map, the R-MAC grid, the whole map)."""

from ._detectors import (EGMRegionDetector, EmptySaliencyWarning, UniformRegionDetector,
                         WholeMapDetector, add_subregions)
from ._egm import egm_regions, mixture_boxes, prepare_saliency
from ._egm_batch import egm_regions_batch
from ._grid import uniform_regions, whole_map_region
from ._query_box import QUERY_REGIONS, BoxQueryEGMDetector, query_box_regions

__all__ = ["BoxQueryEGMDetector", "EGMRegionDetector", "EmptySaliencyWarning", "QUERY_REGIONS",
           "UniformRegionDetector", "WholeMapDetector", "add_subregions", "egm_regions",
           "egm_regions_batch", "mixture_boxes", "prepare_saliency", "query_box_regions",
           "uniform_regions", "whole_map_region"]
