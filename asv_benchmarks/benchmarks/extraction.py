"""Activation extraction with the built-in EfficientNet-Lite0, on two real photos at
a small size (float32 and bfloat16, batch 1 and 2)."""

import numpy as np

from .common import one_thread


class ExtractionSuite:
    timeout = 300  # seconds, setup included: the machine may be shared

    params = [["float32", "bfloat16"], [1, 2]]
    param_names = ["precision", "batch_size"]

    def setup(self, precision, batch_size):
        from skimage import data

        from sklearn_salreg.extraction import ActivationExtractor

        one_thread()
        self.images = [data.chelsea(), data.coffee()]
        params = dict(max_side=256, batch_size=batch_size)
        extractor = ActivationExtractor(**params)
        if "precision" in extractor.get_params():
            extractor.set_params(precision=precision)
        elif precision != "float32":
            raise NotImplementedError  # asv skips: this version has no such option
        self.extractor = extractor.fit()
        self.extractor.transform(self.images[:1])

    def time_transform(self, precision, batch_size):
        self.extractor.transform(self.images)

    def track_map_cells(self, precision, batch_size):
        return int(np.sum([A.shape[0] * A.shape[1] for A in self.extractor.transform(self.images)]))
