"""EGM region detection, with the FS.EGM and the OS.EGM settings (every position of
the map a sample), compiled iterations and the NumPy reference."""

import inspect

from sklearn_salreg import egm_regions

from .common import blob_maps, one_thread

SETTINGS = {"FS.EGM": dict(rho=5.0, tau=0.4, sigma=2.5), "OS.EGM": dict(rho=2.0, tau=0.0, sigma=2.0)}


class EGMSuite:
    timeout = 300  # seconds, setup included: the machine may be shared

    params = [list(SETTINGS), [24, 48]]
    param_names = ["settings", "height"]

    def setup(self, settings, height):
        one_thread()
        _, self.saliency = blob_maps((height, height * 4 // 3))
        self.params = SETTINGS[settings]
        egm_regions(self.saliency[0], **self.params)  # compiled once (or read from the cache)

    def time_egm_regions(self, settings, height):
        for S in self.saliency:
            egm_regions(S, **self.params)

    def track_mean_boxes(self, settings, height):
        return sum(len(egm_regions(S, **self.params)) for S in self.saliency) / len(self.saliency)


class EGMReferenceSuite:
    """The NumPy reference of the same iterations (10 maps)."""

    timeout = 300  # seconds, setup included: the machine may be shared

    params = EGMSuite.params
    param_names = EGMSuite.param_names

    def setup(self, settings, height):
        if "engine" not in inspect.signature(egm_regions).parameters:
            raise NotImplementedError  # a version before the compiled iterations: skipped
        one_thread()
        self.saliency = blob_maps((height, height * 4 // 3))[1][:10]
        self.params = SETTINGS[settings]

    def time_egm_regions_numpy(self, settings, height):
        for S in self.saliency:
            egm_regions(S, engine="numpy", **self.params)
