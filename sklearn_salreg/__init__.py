"""sklearn_salreg: clutter-robust global descriptors for instance retrieval.

Salient regions are detected on CNN activation maps (feature saliency + Expanding
Gaussian Mixtures), objects that recur across the database are discovered through
the Katz centrality of a region k-NN graph, and regions detected on the resulting
object saliency maps are pooled into one compact descriptor per image
(Simeoni, Iscen, Tolias, Avrithis, Chum: "Unsupervised object discovery for instance
recognition", WACV 2018).
"""

__version__ = "0.1.0.dev0"

from .collection import FIELDS, MapCollection, MapFile, MapWriter, write_maps
from .detection import (EGMRegionDetector, EmptySaliencyWarning, UniformRegionDetector,
                        WholeMapDetector, add_subregions, egm_regions, uniform_regions)
from .pooling import (RegionAggregator, RegionMaxPooler, aggregate_regions, region_max_pool,
                      region_mean)
from .saliency import FeatureSaliency, feature_saliency

__all__ = [
    # data model
    "FIELDS",
    "MapCollection",
    "MapFile",
    "MapWriter",
    "write_maps",
    # stage 1: feature saliency
    "FeatureSaliency",
    "feature_saliency",
    # stage 2: region detection
    "EGMRegionDetector",
    "EmptySaliencyWarning",
    "UniformRegionDetector",
    "WholeMapDetector",
    "add_subregions",
    "egm_regions",
    "uniform_regions",
    # stage 3 and the last stage: pooling and aggregation
    "RegionAggregator",
    "RegionMaxPooler",
    "aggregate_regions",
    "region_max_pool",
    "region_mean",
]
