"""Region max pooling (EGM boxes, R-MAC grid) and aggregation into one vector."""

import numpy as np

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, MapCollection, RegionAggregator,
                            RegionMaxPooler, egm_regions, region_max_pool, uniform_regions)

from .common import blob_maps, one_thread, quiet


class PoolingSuite:
    timeout = 300  # seconds, setup included: the machine may be shared

    params = [24, 48]
    param_names = ["height"]

    def setup(self, height):
        one_thread()
        self.maps, saliency = blob_maps((height, height * 4 // 3))
        self.boxes = [egm_regions(S) for S in saliency]
        self.grid = uniform_regions(*self.maps[0].shape[:2])
        X = FeatureSaliency().fit_transform(MapCollection(self.maps))
        self.detected = quiet(EGMRegionDetector().fit_transform, X)
        self.pooled = RegionMaxPooler().fit_transform(self.detected)

    def time_region_max_pool_egm(self, height):
        for A, boxes in zip(self.maps, self.boxes):
            region_max_pool(A, boxes)

    def time_region_max_pool_rmac(self, height):
        for A in self.maps:
            region_max_pool(A, self.grid)

    def time_mac(self, height):
        for A in self.maps:
            np.max(A, axis=(0, 1))

    def time_pooler(self, height):
        RegionMaxPooler().fit_transform(self.detected)

    def time_aggregator(self, height):
        RegionAggregator().fit_transform(self.pooled)
