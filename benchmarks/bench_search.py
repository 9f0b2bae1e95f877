"""Query latency, throughput, recall and offline cost of the retrieval stage.

    python benchmarks/bench_search.py --sizes 10000
    python benchmarks/bench_search.py --sizes 10000 100000 --no-full-diffusion

Synthetic database: ``--clusters`` objects, each a noisy curve on the sphere (an
object seen under changing viewpoints), L2-normalised float32 descriptors of
dimension ``--dim``; the queries are fresh points of the same curves. For each
database size it measures

* exact k-NN (``KNNRetriever(algorithm='brute')``): top-10 per query, batched and one
  query at a time; mAP@1000 of same-cluster retrieval;
* approximate k-NN (``algorithm='nndescent'``): index build, top-10 latency, recall@10
  against the exact top-10 (pynndescent's one-off numba compilation is timed apart,
  on a tiny index);
* diffusion (``Diffusion``, k=50, kq=10, alpha 0.99, gamma 3, 20 CG iterations,
  truncated to the top ``--truncate`` of the k-NN ranking, and without truncation
  when ``--full-diffusion`` allows): offline ``fit`` time and peak memory, latency of
  a ranking of depth 1000 batched and one query at a time, mAP@1000.

Peak memory is the growth of the resident set during ``fit`` (the kernel's
high-water mark, reset before the step). Peers' figures (fyang93/diffusion and an
exact k-NN, 100,000 x 512, measured on the 2-core development machine; docs/benchmarks.rst
lists them) are printed alongside.
Figures only: nothing is asserted. Timings on a shared machine are noisy.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import status_kib  # noqa: E402

from sklearn_salreg.metrics import label_average_precisions  # noqa: E402
from sklearn_salreg.search import Diffusion, KNNRetriever  # noqa: E402

PEERS = {  # the 2-core development machine, 100,000 database descriptors of dimension 512
    "exact k-NN": {"batched_ms": 0.64},
    "diffusion T=1000": {"fit_s": 247.0, "peak_mb": 3.8 * 1024, "batched_ms": 0.65,
                         "single_ms": 10.8, "map_knn": 0.43, "map": 0.81},
}


class PeakMemory:
    """Growth of the resident set's high-water mark while the block runs (MiB)."""

    def __enter__(self):
        try:  # "5" resets the high-water mark to the current resident set.
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.base = status_kib("VmRSS:")
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        peak = status_kib("VmHWM:")
        self.extra_mb = (peak - self.base) / 1024 if self.reset else float("nan")


def curve_bases(args):
    """Two orthonormal-ish directions per cluster: cluster c is the arc
    cos(t) a_c + sin(t) b_c, t in [0, 2] (seeded, the same for database and queries)."""
    basis = np.random.default_rng(0).standard_normal((args.clusters, 2, args.dim),
                                                     dtype=np.float32)
    return basis / np.linalg.norm(basis, axis=2, keepdims=True)


def points_on(labels, args, rng):
    """Noisy L2-normalised points of the given clusters' arcs."""
    basis = curve_bases(args)
    t = rng.uniform(0, 2.0, labels.size).astype(np.float32)[:, None]
    X = np.cos(t) * basis[labels, 0] + np.sin(t) * basis[labels, 1]
    X += args.noise * rng.standard_normal(X.shape, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def curves(n, args, rng):
    labels = rng.integers(0, args.clusters, n)
    return points_on(labels, args, rng), labels


def per_query_ms(func, Q, n_single):
    start = time.perf_counter()
    func(Q)
    batched = (time.perf_counter() - start) / len(Q) * 1e3
    start = time.perf_counter()
    for q in Q[:n_single]:
        func(q[None])
    single = (time.perf_counter() - start) / n_single * 1e3
    return batched, single


def label_map(ranks, db_labels, q_labels):
    return float(np.nanmean(label_average_precisions(ranks, db_labels, q_labels)))


def bench_size(n, args, rows):
    rows = _Rows(rows)
    X, labels = curves(n, args, np.random.default_rng(n))
    q_labels = np.random.default_rng(1).integers(0, args.clusters, args.queries)
    Q = points_on(q_labels, args, np.random.default_rng(2))
    depth = 1000

    with PeakMemory() as mem:
        exact = KNNRetriever(n_neighbors=10, algorithm="brute").fit(X)
    batched, single = per_query_ms(exact.rank, Q, args.single)
    truth = exact.rank(Q)
    m_knn = label_map(exact.rank(Q, n_results=depth), labels, q_labels)
    rows.append((n, "exact k-NN", mem.seconds, mem.extra_mb, batched, single, None, m_knn))

    if args.nndescent:
        with PeakMemory() as mem:
            approx = KNNRetriever(n_neighbors=10, algorithm="nndescent", random_state=0,
                                  n_jobs=args.jobs).fit(X)
        batched, single = per_query_ms(approx.rank, Q, args.single)
        found = approx.rank(Q)
        recall = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(found, truth)])
        rows.append((n, "approx k-NN (nndescent)", mem.seconds, mem.extra_mb, batched, single,
                     recall, None))

    settings = [("diffusion T=%d" % args.truncate, args.truncate)]
    if n <= args.full_diffusion:
        settings.append(("diffusion, no truncation", None))
    for name, truncate in settings:
        with PeakMemory() as mem:
            diffusion = Diffusion(truncate=truncate, n_results=depth).fit(X)
        batched, single = per_query_ms(diffusion.rank, Q, args.single)
        m = label_map(diffusion.rank(Q), labels, q_labels)
        rows.append((n, name, mem.seconds, mem.extra_mb, batched, single, None, m))


class _Rows(list):
    """Rows of the table, each also printed as soon as it is measured."""

    def __init__(self, shared):
        super().__init__()
        self.shared = shared

    def append(self, row):
        self.shared.append(row)
        print("  measured:", _format_row(row), flush=True)


def _fmt(value, spec):
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else \
        format(value, spec)


def _format_row(row):
    n, name, fit_s, mb, batched, single, recall, m = row
    return (f"{n:>7}  {name:<26} {_fmt(fit_s, '8.2f')} {_fmt(mb, '8.0f')} "
            f"{_fmt(batched, '10.3f')} {_fmt(single, '9.2f')} {_fmt(recall, '9.3f')} "
            f"{_fmt(m, '8.3f')}")


def print_table(rows, args):
    head = (f"{'n_db':>7}  {'method':<26} {'fit s':>8} {'fit MiB':>8} {'batch ms/q':>10} "
            f"{'single ms':>9} {'recall@10':>9} {'mAP@1000':>8}")
    print("\n" + head + "\n" + "-" * len(head))
    for row in rows:
        print(_format_row(row))
    print("\npeers (development machine, n_db = 100,000, d = 512):")
    print(f"{100000:>7}  {'fyang93 exact top-10':<26} {'-':>8} {'-':>8} "
          f"{PEERS['exact k-NN']['batched_ms']:>10.3f} {'-':>9} {'-':>9} "
          f"{PEERS['diffusion T=1000']['map_knn']:>8.3f}")
    p = PEERS["diffusion T=1000"]
    print(f"{100000:>7}  {'fyang93 diffusion T=1000':<26} {p['fit_s']:>8.2f} "
          f"{p['peak_mb']:>8.0f} {p['batched_ms']:>10.3f} {p['single_ms']:>9.2f} {'-':>9} "
          f"{p['map']:>8.3f}")
    print("(peer mAP figures come from the peer's own synthetic clusters, not these curves)",
          flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.04,
                        help="standard deviation of the noise per dimension")
    parser.add_argument("--queries", type=int, default=1000, help="queries in the batch")
    parser.add_argument("--single", type=int, default=50, help="queries sent one at a time")
    parser.add_argument("--truncate", type=int, default=1000)
    parser.add_argument("--full-diffusion", type=int, default=20_000,
                        help="also diffuse without truncation up to this database size")
    parser.add_argument("--no-nndescent", dest="nndescent", action="store_false")
    parser.add_argument("--jobs", type=int, default=None, help="threads of pynndescent")
    args = parser.parse_args(argv)

    if args.nndescent:
        start = time.perf_counter()
        tiny = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
        KNNRetriever(algorithm="nndescent", random_state=0).fit(tiny).rank(tiny[:2], 10)
        print(f"pynndescent warm-up (numba compilation): {time.perf_counter() - start:.1f} s")
    rows = []
    for n in args.sizes:
        bench_size(n, args, rows)
    print_table(rows, args)


if __name__ == "__main__":
    main()
