"""Our map checks and scikit-learn's data-free checks on every map-based estimator."""

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, RegionAggregator,
                            RegionMaxPooler, UniformRegionDetector, WholeMapDetector)
from sklearn_salreg.detection import BoxQueryEGMDetector
from sklearn_salreg.saliency import ObjectSaliency
from sklearn_salreg.utils.estimator_checks import parametrize_with_checks

MAP_ESTIMATORS = [
    FeatureSaliency(),
    FeatureSaliency(device="cpu", batch_size=2),
    EGMRegionDetector(),
    EGMRegionDetector(device="cpu", batch_size=2),
    EGMRegionDetector(rho=2.0, tau=0.0, sigma=2.0, sub_levels=2),
    BoxQueryEGMDetector(query_regions="box+detect"),
    BoxQueryEGMDetector(query_regions="grid", sub_levels=1),
    UniformRegionDetector(),
    WholeMapDetector(),
    RegionMaxPooler(),
    RegionMaxPooler(device="cpu", batch_size=2),
    RegionAggregator(),
    RegionAggregator(pooling="sum", saliency_exponent=1.0, device="cpu", batch_size=2),
    ObjectSaliency(n_neighbors=3),
]


@parametrize_with_checks(MAP_ESTIMATORS)
def test_map_estimator(estimator, check):
    check(estimator)
