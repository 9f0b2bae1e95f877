"""sklearn_salreg: clutter-robust global descriptors for instance retrieval.

Salient regions are detected on CNN activation maps (feature saliency + Expanding
Gaussian Mixtures), objects that recur across the database are discovered through
the Katz centrality of a region k-NN graph, and regions detected on the resulting
object saliency maps are pooled into one compact descriptor per image
(Simeoni, Iscen, Tolias, Avrithis, Chum: "Unsupervised object discovery for instance
recognition", WACV 2018).
"""

__version__ = "0.1.0.dev0"

from .collection import (FIELDS, CorruptStoreError, MapCollection, MapFile, MapWriter,
                         StaleStoreError, StoreLockedError, write_maps)
from .detection import (EGMRegionDetector, EmptySaliencyWarning, UniformRegionDetector,
                        WholeMapDetector, add_subregions, egm_regions, uniform_regions)
from .pooling import (RegionAggregator, RegionMaxPooler, aggregate_regions, region_max_pool,
                      region_mean)
from .discovery import CentralityGraph, katz_centrality
from .neighbors import mutual_knn_graph, normalize_graph
from .saliency import FeatureSaliency, ObjectSaliency, feature_saliency, object_saliency
from .whitening import LearnedWhitening, apply_whitening, learn_whitening, pca_whitening

__all__ = [
    # data model
    "FIELDS", "MapCollection", "MapFile", "MapWriter", "write_maps", "CorruptStoreError",
    "StaleStoreError", "StoreLockedError",
    # stage 1: feature saliency
    "FeatureSaliency", "feature_saliency",
    # stage 2: region detection
    "EGMRegionDetector", "EmptySaliencyWarning", "UniformRegionDetector", "WholeMapDetector",
    "add_subregions", "egm_regions", "uniform_regions",
    # stage 3 and the last stage: pooling and aggregation
    "RegionAggregator", "RegionMaxPooler", "aggregate_regions", "region_max_pool", "region_mean",
    # stage 4: whitening
    "LearnedWhitening", "apply_whitening", "learn_whitening", "pca_whitening",
    # stage 5: the region graph and its centrality
    "CentralityGraph", "katz_centrality", "mutual_knn_graph", "normalize_graph",
    # stage 6: object saliency
    "ObjectSaliency", "object_saliency",
]

# Heavier subpackages stay behind their own names (imported on first use):
# sklearn_salreg.extraction (torch, torchvision), sklearn_salreg.datasets,
# sklearn_salreg.search, sklearn_salreg.metrics, sklearn_salreg.model_selection,
# sklearn_salreg.pipelines, sklearn_salreg.plotting. The experiments (report, Table 1,
# command line) live in sklearn_salreg.experiments, which the library never imports.
