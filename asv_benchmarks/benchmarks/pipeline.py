"""A whole OS.EGM fit (and transform) on a small database whose objects recur."""

from sklearn_salreg import MapCollection
from sklearn_salreg.pipelines import make_os_egm

from .common import object_maps, one_thread, quiet


class OSEGMSuite:
    timeout = 300  # seconds, setup included: the machine may be shared

    def setup(self):
        one_thread()
        maps, _ = object_maps()
        self.X = MapCollection(maps)
        quiet(make_os_egm().fit, self.X)  # compiles and warms up

    def time_fit_transform(self):
        quiet(make_os_egm().fit_transform, self.X)

    def peakmem_fit_transform(self):
        quiet(make_os_egm().fit_transform, self.X)
