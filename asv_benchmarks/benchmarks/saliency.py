"""Feature saliency: per map, and the estimator on a collection."""

from sklearn_salreg import FeatureSaliency, MapCollection, feature_saliency

from .common import blob_maps, one_thread


class FeatureSaliencySuite:
    timeout = 300  # seconds, setup included: the machine may be shared

    params = [24, 48]
    param_names = ["height"]

    def setup(self, height):
        one_thread()
        self.maps, _ = blob_maps((height, height * 4 // 3))
        self.X = MapCollection(self.maps)

    def time_feature_saliency(self, height):
        for A in self.maps:
            feature_saliency(A)

    def time_estimator(self, height):
        FeatureSaliency().fit_transform(self.X)
