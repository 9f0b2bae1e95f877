"""Retrieval: k-NN ranking and diffusion's online stage (the graph built in setup)."""

from sklearn_salreg.search import Diffusion, KNNRetriever

from .common import descriptors, one_thread


class KNNSuite:
    timeout = 300  # seconds, setup included: the machine may be shared

    def setup(self):
        one_thread()
        self.database, self.queries = descriptors()
        self.knn = KNNRetriever().fit(self.database)

    def time_rank_top100(self):
        self.knn.rank(self.queries, n_results=100)


class DiffusionOnlineSuite:
    """Queries diffused on the truncated graph of a 10,000-item database."""

    timeout = 300  # seconds, setup included: the machine may be shared

    params = [1, 100]
    param_names = ["queries"]

    def setup(self, queries):
        one_thread()
        self.database, self.queries = descriptors()
        self.diffusion = Diffusion(n_neighbors=20, truncate=500, n_results=100).fit(self.database)
        self.queries = self.queries[:queries]

    def time_rank(self, queries):
        self.diffusion.rank(self.queries)
