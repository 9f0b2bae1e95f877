"""Time and peak memory of the region graph: CentralityGraph.fit and batched query.

    python benchmarks/bench_graph.py --sizes 20000 --algorithms brute nndescent
    python benchmarks/bench_graph.py --sizes 20000 100000 500000 --algorithms nndescent

For each database size and search algorithm, in a fresh process: synthetic clustered
L2-normalised descriptors (dimension 512, like whitened region descriptors), then
``CentralityGraph.fit`` split into its steps (k-NN search, graph build, CG), and a
batched ``query`` of patch-like descriptors. Peak memory is the resident set above
the level before the step (sampled every 5 ms), so it counts BLAS and numba
allocations too. Pynndescent's one-off numba compilation is timed separately, on a
tiny warm-up index. Figures only: nothing is asserted.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakMemory:
    """Peak resident memory above the starting level while the block runs."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        self.start = time.perf_counter()
        return self

    def _poll(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())
        self.extra_mb = (self.peak - self.base) / 2**20


def clustered_descriptors(n, d, n_clusters, seed, spread=0.6, chunk=50_000):
    """Views of ``n_clusters`` objects plus noise, L2-normalised float32, made in chunks."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d), dtype=np.float32)
    X = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        X[lo : lo + m] = centres[rng.integers(0, n_clusters, m)]
        X[lo : lo + m] += spread * rng.standard_normal((m, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def run_one(n, algorithm, d, k, n_queries, query_k, seed):
    """Measure one configuration in this process; return a dict of figures."""
    from sklearn_salreg.discovery import CentralityGraph
    from sklearn_salreg.discovery import _centrality

    out = {"n": n, "algorithm": algorithm}
    if algorithm == "nndescent":
        with PeakMemory() as m:
            CentralityGraph(n_neighbors=5, algorithm="nndescent", random_state=0).fit(
                clustered_descriptors(500, d, 10, seed)
            )
        out["jit_s"] = m.seconds

    V = clustered_descriptors(n, d, max(10, n // 50), seed)
    U = clustered_descriptors(n_queries, d, max(10, n // 50), seed)  # same clusters
    steps = {}

    def timed(name, func):
        def wrapper(*args, **kwargs):
            with PeakMemory() as m:
                result = func(*args, **kwargs)
            steps[name] = steps.get(name, 0.0) + m.seconds
            steps[name + "_mb"] = max(steps.get(name + "_mb", 0.0), m.extra_mb)
            return result
        return wrapper

    # The k-NN step is the index build plus its self-graph; wrap both.
    original_build = _centrality.build_index

    def build_and_time(*args, **kwargs):
        index = timed("knn", original_build)(*args, **kwargs)
        index.neighbor_graph = timed("knn", index.neighbor_graph)
        return index

    _centrality.build_index = build_and_time
    from sklearn_salreg.neighbors import _graph as neighbors_graph  # mutual_knn_graph's steps

    mutual = neighbors_graph.mutual_graph_from_neighbors
    neighbors_graph.mutual_graph_from_neighbors = timed("graph", mutual)
    _centrality.normalize_graph = timed("graph", _centrality.normalize_graph)
    _centrality.katz_centrality = timed("cg", _centrality.katz_centrality)

    graph = CentralityGraph(n_neighbors=k, algorithm=algorithm, random_state=0)
    with PeakMemory() as m:
        graph.fit(V)
    out.update(steps, fit_s=m.seconds, fit_mb=m.extra_mb, cg_iter=graph.n_iter_,
               edges=graph.graph_.nnz // 2)
    if algorithm == "nndescent":
        with PeakMemory() as m:
            graph.index_.prepare()
        out["prepare_s"] = m.seconds
    with PeakMemory() as m:
        graph.query(U, query_k)
    out.update(query_s=m.seconds, query_mb=m.extra_mb, queries=n_queries)
    return out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 500_000])
    parser.add_argument("--algorithms", nargs="+", default=["brute", "nndescent"],
                        choices=["brute", "nndescent"])
    parser.add_argument("--max-brute", type=int, default=100_000,
                        help="skip the exact search above this size (its cost grows as n^2)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=20, help="n_neighbors of the graph")
    parser.add_argument("--queries", type=int, default=20_000, help="patch descriptors per batch")
    parser.add_argument("--query-k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one config, print JSON
    args = parser.parse_args()

    if args.one:
        n, algorithm = args.one.split(":")
        figures = run_one(int(n), algorithm, args.dim, args.k, args.queries, args.query_k,
                          args.seed)
        print(json.dumps(figures))
        return

    header = (f"{'n':>8} {'search':>9} | {'k-NN s':>7} {'MB':>6} | {'graph s':>7} {'MB':>5} | "
              f"{'CG s':>6} {'it':>3} | {'fit s':>7} {'MB':>6} | {'query us/q':>10} {'MB':>5} | "
              f"{'JIT s':>5} {'prep s':>6}")
    print(f"d={args.dim}, k={args.k}, {args.queries} queries of k={args.query_k}; MB = peak "
          "resident memory above the step's start")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        for algorithm in args.algorithms:
            if algorithm == "brute" and n > args.max_brute:
                print(f"{n:>8} {algorithm:>9} | skipped (above --max-brute={args.max_brute})")
                continue
            cmd = [sys.executable, __file__, "--one", f"{n}:{algorithm}", "--dim", str(args.dim),
                   "--k", str(args.k), "--queries", str(args.queries),
                   "--query-k", str(args.query_k),
                   "--seed", str(args.seed)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{n:>8} {algorithm:>9} | failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{n:>8} {algorithm:>9} | {r['knn']:7.1f} {r['knn_mb']:6.0f} | {r['graph']:7.2f} "
                  f"{r['graph_mb']:5.0f} | {r['cg']:6.2f} {r['cg_iter']:3d} | {r['fit_s']:7.1f} "
                  f"{r['fit_mb']:6.0f} | {1e6 * r['query_s'] / r['queries']:10.1f} "
                  f"{r['query_mb']:5.0f} | "
                  f"{r.get('jit_s', 0):5.0f} {r.get('prepare_s', 0):6.1f}", flush=True)


if __name__ == "__main__":
    main()
