"""The library's search and diffusion against peers, side by side, with ratios.

    python benchmarks/bench_peers.py --sizes 10000
    python benchmarks/bench_peers.py --sizes 10000 100000 --peer-diffusion PATH

Synthetic clustered descriptors (the noisy curves of ``bench_search.py``: 1,000
objects, dimension 512, L2-normalised float32), 1,000 queries of the same curves.
Every measured step runs ``--repeats`` times, the library and its peers in
alternation, and the best time of each is kept, so that a shared machine's load
hits all of them alike. Rows:

* exact top-10: ``KNNRetriever(algorithm='brute')`` against faiss ``IndexFlatIP``
  (when ``faiss-cpu`` is installed: ``pip install faiss-cpu``) and a plain NumPy
  baseline (matrix product, ``argpartition``, sort of the top 10), batched and one
  query at a time;
* diffusion (graph k = 50, query k = 10, gamma 3, alpha 0.99, 20 CG iterations,
  truncation ``--truncate``): ``Diffusion`` (the default query-time method and
  ``method='decoupled'``) against fyang93/diffusion (Yang et al., AAAI 2019), whose
  code is not installed with this package: pass the folder of a checkout of
  https://github.com/fyang93/diffusion as ``--peer-diffusion`` (it needs faiss; the
  script provides the ``np.int`` and the ``cg(tol=)`` it still uses, and a silent
  ``tqdm`` if missing).
  Offline: ``fit`` against the peer's ``get_offline_results`` (which also writes its
  result to a temporary cache folder, as it always does), time and peak memory;
  online: ranking of depth ``--truncate``, batched and one query at a time, and
  mAP@1000 of same-curve retrieval. ``--peer-offline library`` skips the peer's
  offline stage (minutes at 100,000 items) and times its online stage on the
  library's item diffusions instead (a sparse matrix of the same shape and
  sparsity as its own: the same online work; its offline figures and its mAP are
  then not its own). ``--methods`` picks the library's methods.

    python benchmarks/bench_peers.py --skip exact --sizes 10000 --peer-diffusion PATH
    python benchmarks/bench_peers.py --skip exact --sizes 100000 --peer-diffusion PATH \
        --peer-offline library --single 20 --repeats 2

``--repo`` imports ``sklearn_salreg`` from another checkout (e.g. an older commit
unpacked with ``git archive``), so that before/after figures come from the same
script; run the two in alternation. Figures only: nothing is asserted.
"""

import argparse
import importlib
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent


def best_of(repeats, funcs):
    """Run each function ``repeats`` times in alternation; best seconds of each."""
    best = {name: np.inf for name in funcs}
    results = {}
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            results[name] = func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def one_at_a_time(func, Q):
    return [func(q[None]) for q in Q]


def numpy_top_k(Q, X, k, block=256):
    """The plain baseline: a float32 product, argpartition, then a sort of the top k."""
    out = np.empty((len(Q), k), dtype=np.intp)
    for lo in range(0, len(Q), block):
        S = Q[lo : lo + block] @ X.T
        part = np.argpartition(-S, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(S, part, axis=1), axis=1)
        out[lo : lo + block] = np.take_along_axis(part, order, axis=1)
    return out


def load_faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def load_peer(folder):
    """Import fyang93/diffusion's modules from ``folder`` (never installed)."""
    if folder is None:
        return None
    if "tqdm" not in sys.modules:
        try:
            import tqdm  # noqa: F401
        except ImportError:  # the peer only draws progress bars with it
            stub = types.ModuleType("tqdm")
            stub.tqdm = lambda iterable=None, **kw: iterable
            sys.modules["tqdm"] = stub
    if not hasattr(np, "int"):
        np.int = int  # removed from NumPy 1.24; the peer's ranking still uses it
    sys.path.insert(0, str(Path(folder).resolve()))
    rank = importlib.import_module("rank")
    # SciPy 1.14 renamed cg's ``tol`` (relative) to ``rtol``: give the peer its old name.
    import scipy.sparse.linalg

    def cg(A, b, tol=1e-5, **kw):
        return scipy.sparse.linalg.cg(A, b, rtol=tol, **kw)

    sys.modules["diffusion"].linalg = types.SimpleNamespace(cg=cg)
    return rank


def peer_online(rank_module, diffusion, offline, Q, truncate):
    """The peer's own online stage (``rank.search_old``), its ranking captured."""
    captured = {}
    rank_module.queries, rank_module.gallery = Q, None
    rank_module.args = argparse.Namespace(cache_dir=None, truncation_size=truncate, kq=10,
                                          kd=50)
    rank_module.evaluate = lambda ranks: captured.setdefault("ranks", ranks)
    rank_module.Diffusion = lambda *a, **kw: diffusion
    diffusion.get_offline_results = lambda *a, **kw: offline
    quiet = _Quiet()
    with quiet:
        rank_module.search_old()
    return captured["ranks"]


class _Quiet:
    """Silence the peer's prints."""

    def __enter__(self):
        import io

        self.saved, sys.stdout = sys.stdout, io.StringIO()

    def __exit__(self, *exc):
        sys.stdout = self.saved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.04)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=50, help="queries sent one at a time")
    parser.add_argument("--truncate", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-diffusion", default=None,
                        help="folder of a checkout of github.com/fyang93/diffusion")
    parser.add_argument("--repo", default=str(HERE.parent),
                        help="checkout to import sklearn_salreg from")
    parser.add_argument("--skip", nargs="*", default=[], choices=["exact", "diffusion"])
    parser.add_argument("--peer-offline", choices=["own", "library"], default="own",
                        help="the peer's online stage on its own offline result, or on the "
                        "library's item diffusions (its offline stage skipped)")
    parser.add_argument("--methods", nargs="+", default=["query", "decoupled"],
                        choices=["query", "decoupled"], help="the library's diffusion methods")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="n_jobs of the library's decoupled offline stage")
    args = parser.parse_args(argv)

    sys.path.insert(0, args.repo)
    import sklearn_salreg  # first, so that bench_search's import finds this one

    sys.path.insert(1, str(HERE))
    from bench_search import PeakMemory, curves, points_on
    from sklearn_salreg.metrics import label_average_precisions
    from sklearn_salreg.search import Diffusion, KNNRetriever

    print(f"sklearn_salreg from {Path(sklearn_salreg.__file__).parent}")
    faiss = load_faiss()
    peer = load_peer(args.peer_diffusion)
    decoupled = "method" in Diffusion().get_params()
    table = []

    def row(n, what, ours, theirs, peer_name, unit):
        ratio = ours / theirs if theirs else float("nan")
        table.append((n, what, ours, theirs, peer_name, ratio, unit))
        print(f"  {n:>7} {what:<44} {ours:10.3f} {theirs:10.3f} {unit:<9} x{ratio:5.2f}  "
              f"vs {peer_name}", flush=True)

    def label_map(ranks, db_labels, q_labels):
        return float(np.nanmean(label_average_precisions(np.asarray(ranks), db_labels, q_labels)))

    for n in args.sizes:
        X, labels = curves(n, args, np.random.default_rng(n))
        q_labels = np.random.default_rng(1).integers(0, args.clusters, args.queries)
        Q = points_on(q_labels, args, np.random.default_rng(2))
        Qs = Q[: args.single]
        ms_b, ms_s = 1e3 / len(Q), 1e3 / len(Qs)

        if "exact" not in args.skip:
            knn = KNNRetriever(n_neighbors=10, algorithm="brute").fit(X)
            funcs = {"library": lambda: knn.rank(Q),
                     "numpy": lambda: numpy_top_k(Q, X, 10)}
            single = {"library": lambda: one_at_a_time(knn.rank, Qs),
                      "numpy": lambda: one_at_a_time(lambda q: numpy_top_k(q, X, 10), Qs)}
            if faiss is not None:
                index = faiss.IndexFlatIP(X.shape[1])
                index.add(X)
                funcs["faiss"] = lambda: index.search(Q, 10)[1]
                single["faiss"] = lambda: one_at_a_time(lambda q: index.search(q, 10)[1], Qs)
            knn.rank(Qs[:2]), knn.rank(Qs[:1])  # compile / load the kernels
            batched, res = best_of(args.repeats, funcs)
            one, _ = best_of(args.repeats, single)
            for peer_name in ("faiss", "numpy"):
                if peer_name in batched:
                    row(n, "exact top-10, batched", batched["library"] * ms_b,
                        batched[peer_name] * ms_b, peer_name, "ms/query")
                    row(n, "exact top-10, one at a time", one["library"] * ms_s,
                        one[peer_name] * ms_s, peer_name, "ms/query")
            same = np.mean(res["library"] == res["numpy"])
            print(f"  {n:>7} exact top-10: library equals NumPy's on {same:.4f} of the entries")

        if "diffusion" not in args.skip:
            T = args.truncate
            settings = dict(n_neighbors=50, n_query_neighbors=10, gamma=3.0, alpha=0.99,
                            max_iter=20, truncate=T, n_results=1000, algorithm="brute")
            fits = {}
            if "query" in args.methods:
                fits["query"] = lambda: Diffusion(**settings).fit(X)
            if decoupled and "decoupled" in args.methods:
                fits["decoupled"] = lambda: Diffusion(method="decoupled", n_jobs=args.jobs,
                                                      **settings).fit(X)
            fitted, fit_s, peak = {}, {}, {}
            for name, fit in fits.items():
                with PeakMemory() as mem:
                    fitted[name] = fit()
                fit_s[name], peak[name] = mem.seconds, mem.extra_mb
            if peer is not None and args.peer_offline == "library":
                if "decoupled" not in fitted:
                    parser.error("--peer-offline library needs the decoupled method")
                # Its search index only (the approximate one is for its offline stage).
                sys.modules["diffusion"].ANN = lambda *a, **kw: None
                with _Quiet():
                    peer_diffusion = peer.Diffusion(X, None)
                offline = sp.csr_matrix(fitted["decoupled"].item_diffusions_)
                fit_s["peer"] = peak["peer"] = np.nan
            elif peer is not None:
                with tempfile.TemporaryDirectory() as cache, PeakMemory() as mem, _Quiet():
                    peer_diffusion = peer.Diffusion(X, cache)
                    offline = peer_diffusion.get_offline_results(T, 50)
                fit_s["peer"], peak["peer"] = mem.seconds, mem.extra_mb
            knn_map = label_map(KNNRetriever(n_neighbors=1000, algorithm="brute").fit(X)
                                .rank(Q), labels, q_labels)
            online = {name: (lambda est=est: est.rank(Q)) for name, est in fitted.items()}
            single = {name: (lambda est=est: one_at_a_time(est.rank, Qs))
                      for name, est in fitted.items()}
            if peer is not None:
                online["peer"] = lambda: peer_online(peer, peer_diffusion, offline, Q, T)
                single["peer"] = lambda: one_at_a_time(
                    lambda q: peer_online(peer, peer_diffusion, offline, q, T), Qs)
            for est in fitted.values():
                est.rank(Qs[:2]), est.rank(Qs[:1])
            batched, ranks = best_of(args.repeats, online)
            one, one_ranks = best_of(args.repeats, single)
            maps = {name: label_map(r, labels, q_labels) for name, r in ranks.items()}
            if args.peer_offline == "library" and "peer" in maps:
                maps["peer (online only, on the library's offline)"] = maps.pop("peer")
            print(f"  {n:>7} mAP@1000: exact k-NN {knn_map:.3f}, "
                  + ", ".join(f"{name} {m:.3f}" for name, m in maps.items()))
            for name in fitted:
                same = np.array_equal(np.concatenate(one_ranks[name]), ranks[name][:len(Qs)])
                print(f"  {n:>7} {name}: one at a time == batched: {same}")
            ref = "peer" if peer is not None else None
            for name in fitted:
                what = f"diffusion ({name}) T={T}"
                theirs = (lambda d: d.get(ref, np.nan)) if ref else (lambda d: np.nan)
                row(n, what + ", offline", fit_s[name], theirs(fit_s), "fyang93", "s")
                row(n, what + ", offline peak", peak[name], theirs(peak), "fyang93", "MiB")
                row(n, what + ", online batched", batched[name] * ms_b, theirs(batched) * ms_b,
                    "fyang93", "ms/query")
                row(n, what + ", online one at a time", one[name] * ms_s,
                    theirs(one) * ms_s, "fyang93", "ms/query")
                row(n, what + ", mAP@1000", maps[name], theirs(maps), "fyang93", "")

    print("\n  n_db    what                                         library       peer"
          " unit      ratio")
    for n, what, ours, theirs, peer_name, ratio, unit in table:
        print(f"  {n:>7} {what:<44} {ours:10.3f} {theirs:10.3f} {unit:<9} x{ratio:5.2f}  "
              f"vs {peer_name}")


if __name__ == "__main__":
    main()
