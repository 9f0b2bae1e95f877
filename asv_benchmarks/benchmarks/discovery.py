"""Object discovery: the region k-NN graph with its Katz centrality (the search among
all regions of the database), and object saliency."""

from sklearn.base import clone

from sklearn_salreg import MapCollection
from sklearn_salreg.neighbors import ExactIndex
from sklearn_salreg.pipelines import make_os_egm

from .common import descriptors, object_maps, one_thread, quiet


class ObjectSaliencySuite:
    """The steps ``graph`` and ``os`` of OS.EGM, on the regions of a small database."""

    timeout = 300  # seconds, setup included: the machine may be shared

    def setup(self):
        one_thread()
        maps, _ = object_maps()
        pipeline = make_os_egm()
        X = MapCollection(maps)
        # the collection as the graph step receives it, and as object saliency does
        self.regions = quiet(pipeline[:4].fit_transform, X)
        self.graph = pipeline.named_steps["graph"]
        self.linked = quiet(clone(self.graph).fit_transform, self.regions)
        self.os = pipeline.named_steps["os"]
        quiet(clone(self.os).fit_transform, self.linked)  # compiles

    def time_region_graph(self):
        quiet(clone(self.graph).fit_transform, self.regions)

    def time_object_saliency(self):
        quiet(clone(self.os).fit_transform, self.linked)


class ExactSearchSuite:
    """Exact top-10 by dot product over 10,000 x 128 float32 vectors."""

    timeout = 300  # seconds, setup included: the machine may be shared

    def setup(self):
        one_thread()
        self.database, self.queries = descriptors()
        self.index = ExactIndex(self.database)
        self.index.query(self.queries[:2], 10)

    def time_batch(self):
        self.index.query(self.queries, 10)

    def time_one_query(self):
        self.index.query(self.queries[:1], 10)
