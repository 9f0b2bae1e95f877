"""Time and peak memory of a whole OS.EGM fit, stage by stage, streaming maps from disk.

    python benchmarks/bench_discovery.py                         # 2,000 / 10,000 / 50,000
    python benchmarks/bench_discovery.py --sizes 500 2000 --n-components 64
    python benchmarks/bench_discovery.py --sizes 2000 --os-algorithm nndescent --accuracy 200
    python benchmarks/bench_discovery.py --stream-sizes 1000 4000 10000   # flat memory
    python benchmarks/bench_discovery.py --sizes 10000 30000 100000 --lazy --device cuda
    python benchmarks/bench_discovery.py --maps objects --tuned --sizes 10000 20000 50000 \
        --os-algorithm ivf

Synthetic ReLU-sparse 32x24x512 float32 maps (``make_blob_maps``) are written once with
:class:`MapWriter` into a temporary folder (``--workdir`` keeps them between runs);
every size then runs in a fresh process on the first ``n`` maps of that folder, as a
disk-backed :class:`MapCollection`, through the steps of
``make_os_egm(region_whitening=LearnedWhitening(n_components=...))`` with the FS
defaults. Each step is timed by itself (``fit_transform`` in pipeline order, which is
what ``Pipeline.fit`` does; the aggregator's ``fit_transform`` also returns the
descriptors), the graph is split into k-NN / graph / CG, and the peak resident memory
of each step is the high-water mark of the process reset before the step (the
``peak`` column of the whole fit is the process's ``ru_maxrss``). pynndescent's numba
compilation (once per process) is timed apart, on a tiny index, when NN-descent is
used (a graph too large for the exact search, or ``--os-algorithm nndescent``).

The growth exponent is the slope of log(time) against log(n) over the sizes run:
1 is linear, n log n between 1,000 and 50,000 reads as about 1.1-1.2, and the exact
object-saliency search, a (patches x regions) product, tends to 2.

``--accuracy M`` recomputes the object saliency of the first M images with the exact
search and reports the error of the chosen (approximate) search. ``--stream-sizes``
runs FS.EGM and OS.EGM ``fit`` then ``transform`` on collections of those sizes and
reports peak RSS against the size of the data on disk.

``--device cuda`` puts every stage with a ``device`` on the GPU
(:func:`~sklearn_salreg.pipelines.on_device`); ``--lazy`` makes the maps on access
(:class:`SyntheticMaps`) for sizes whose maps do not fit on disk, and reports the
time to make them all once (``make_maps_s``: every stage that reads maps pays it).

``--maps objects`` makes recurring-object maps on access instead (``ObjectMaps`` of
``bench_os_search.py``: objects that recur across images among clutter that does not,
no disk) and adds the mAP of the descriptors under the label protocol (``mAP`` in the
table), so that two runs with ``--os-algorithm brute`` and ``ivf`` give the mAP
difference of the approximate object-saliency search.

Figures only: nothing is asserted. The machine is shared: timings are noisy.
"""

import argparse
import contextlib
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import status_kib  # noqa: E402

STAGES = ["fs", "fs_egm", "pool", "whiten", "graph", "os", "egm", "agg"]
LABELS = {
    "fs": "FS (feature saliency)", "fs_egm": "FS.EGM (detect on FS)", "pool": "pooling",
    "whiten": "whitening (fit)", "graph": "graph (total)", "graph.knn": "  graph: k-NN",
    "graph.graph": "  graph: mutual graph", "graph.cg": "  graph: CG",
    "os": "object saliency", "egm": "OS.EGM (detect on OS)", "agg": "aggregation",
    "total": "whole OS.EGM fit", "numba": "numba compile (apart)",
}
MAP_SHAPE, N_CHANNELS = (24, 32), 512


def _reset_peak():
    """Reset the kernel's resident high-water mark; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mib():
    return status_kib("VmHWM:") / 1024


def write_maps_folder(folder, n, n_blobs, verbose=True):
    """Write ``n`` blob maps to ``folder`` (reused when it already holds ``n`` or more)."""
    from sklearn_salreg import MapCollection, MapWriter
    from sklearn_salreg.datasets import make_blob_maps

    if os.path.exists(os.path.join(folder, "index.npy")):
        have = len(MapCollection.open(folder))
        if have >= n:
            return
        shutil.rmtree(folder)
    need = n * MAP_SHAPE[0] * MAP_SHAPE[1] * N_CHANNELS * 4
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(folder))).free
    if need > 0.9 * free:
        raise OSError(f"{n} maps need {need / 2**30:.1f} GiB on disk; {free / 2**30:.1f} GiB free.")
    start = time.perf_counter()
    with MapWriter(folder, flush_every=512) as writer:
        for lo in range(0, n, 100):
            for A in make_blob_maps(min(100, n - lo), MAP_SHAPE, N_CHANNELS, n_blobs=n_blobs,
                                    random_state=lo):
                writer.append(A)
            if verbose and (lo // 100) % 20 == 19:
                print(f"  wrote {lo + 100}/{n} maps", file=sys.stderr, flush=True)
    if verbose:
        print(f"  wrote {n} maps in {time.perf_counter() - start:.0f} s "
              f"({need / 2**30:.1f} GiB)", file=sys.stderr, flush=True)


def _numba_compile_seconds():
    from pynndescent import NNDescent

    rng = np.random.default_rng(0)
    V = rng.standard_normal((300, 8)).astype(np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    start = time.perf_counter()
    nnd = NNDescent(V, metric="dot", n_neighbors=10, random_state=0)
    nnd.prepare()
    nnd.query(V[:5], k=5)
    return time.perf_counter() - start


def make_pipeline(args):
    from sklearn_salreg import LearnedWhitening
    from sklearn_salreg.pipelines import make_os_egm, make_os_egm_tuned, on_device
    from sklearn_salreg.whitening import REGION_WHITENING

    whitening = {**(REGION_WHITENING if getattr(args, "tuned", False) else {}),
                 "n_components": args.n_components}
    pipe = (make_os_egm_tuned if getattr(args, "tuned", False) else make_os_egm)(
        region_whitening=LearnedWhitening(**whitening),
        graph=dict(verbose=1, algorithm=args.graph_algorithm),
        object_saliency=dict(algorithm=args.os_algorithm, epsilon=args.epsilon,
                             precision=args.os_precision, n_jobs=args.os_jobs,
                             min_saliency=args.os_min_saliency, random_state=0,
                             index_params={k: v for k, v in (("n_probe", args.os_n_probe),
                                                            ("n_lists", args.os_n_lists)) if v}),
        n_jobs=args.n_jobs, random_state=0)
    # On a GPU every stage with a device goes there; on the CPU the per-image stages
    # keep their NumPy loops (device=None) and the searches run on "cpu".
    return on_device(pipe, args.device) if args.device != "cpu" else pipe


class SyntheticMaps:
    """``n`` maps made on access from a bank of blob maps: map ``i`` is bank map
    ``i % size`` with its channels permuted by a permutation drawn for ``i // size``.

    For sizes whose maps do not fit on disk (100,000 maps are 157 GB): every map is
    distinct and none is a copy of another (no exact-duplicate regions, which would
    make every patch a near-tie of the exact search). Making a map costs about as much
    as reading one from the page cache; ``--lazy`` reports that cost apart.
    """

    def __init__(self, n, n_blobs, size=1000):
        from sklearn_salreg.datasets import make_blob_maps

        self.n = n
        self.bank = make_blob_maps(min(size, n), MAP_SHAPE, N_CHANNELS, n_blobs=n_blobs,
                                   random_state=0)
        self.perms = {}

    def __len__(self):
        return self.n

    def shape_of(self, i):  # MapCollection asks this instead of making map i
        return (*MAP_SHAPE, N_CHANNELS)

    def __getitem__(self, i):
        group, base = divmod(int(i), len(self.bank))
        if group == 0:
            return self.bank[base]
        if group not in self.perms:
            self.perms[group] = np.random.default_rng(group).permutation(N_CHANNELS)
        return self.bank[base][:, :, self.perms[group]]


def open_maps(args):
    """The first ``n`` maps: from the folder, or made on access with ``--lazy``."""
    from sklearn_salreg import MapCollection

    if getattr(args, "maps", "blobs") == "objects":
        from bench_os_search import ObjectMaps

        return MapCollection(ObjectMaps(args.n))
    if args.lazy:
        return MapCollection(SyntheticMaps(args.n, tuple(args.n_blobs)))
    return MapCollection.open(args.folder)[: args.n]


def child_fit(args):
    """In a fresh process: the OS.EGM fit of the first ``n`` maps, step by step."""
    import torch

    from sklearn_salreg.discovery._centrality import _auto_algorithm

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    X = open_maps(args)
    pipe = make_pipeline(args)
    out = {"n": len(X), "seconds": {}, "peak_mib": {}}
    # the cost of making (reading) every map once, apart
    if args.lazy or getattr(args, "maps", "blobs") == "objects":
        start = time.perf_counter()
        for i in range(len(X)):
            X[i]
        out["make_maps_s"] = time.perf_counter() - start
    total = 0.0
    inputs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, step in pipe.steps:
            if name == "graph":
                n_regions = sum(len(z) for z in X.field("region_descriptors"))
                out["n_regions"] = n_regions
                auto = _auto_algorithm(n_regions, args.n_components)
                uses_nnd = (args.os_algorithm == "nndescent" or args.graph_algorithm == "nndescent"
                            or (args.graph_algorithm == "auto" and auto == "nndescent"))
                if uses_nnd:
                    out["seconds"]["numba"] = _numba_compile_seconds()
            inputs[name] = X
            _reset_peak()
            err = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stderr(err):
                X = step.fit_transform(X)
            seconds = time.perf_counter() - start
            total += seconds
            out["seconds"][name] = seconds
            out["peak_mib"][name] = _peak_mib()
            if name == "graph":
                log = err.getvalue()
                for key, pattern in (("graph.knn", r"k-NN: ([\d.]+)"),
                                     ("graph.graph", r"graph: ([\d.]+)"),
                                     ("graph.cg", r"CG \((\d+) iterations\): ([\d.]+)")):
                    m = re.search(pattern, log)
                    if m:
                        out["seconds"][key] = float(m.groups()[-1])
                out["graph_algorithm"] = step.algorithm_
                out["cg_iterations"] = int(step.n_iter_)
            else:
                sys.stderr.write(err.getvalue())
            print(f"  n={args.n} {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    out["seconds"]["total"] = total
    # clear_refs also resets ru_maxrss: the whole fit's peak is the largest stage peak.
    out["peak_mib"]["total"] = max(out["peak_mib"].values())
    out["n_positions"] = int(sum(int((np.asarray(F) > 0).sum())
                                 for F in inputs["os"].field("feature_saliency")))
    out["descriptor_shape"] = list(np.shape(X))
    if getattr(args, "maps", "blobs") == "objects":
        from bench_os_search import label_map

        out["map"] = label_map(np.asarray(X), open_maps_labels(args))
    if args.accuracy:
        out["accuracy"] = os_accuracy(pipe, inputs["os"], args)
    print("RESULT " + json.dumps(out))


def open_maps_labels(args):
    from bench_os_search import ObjectMaps

    return ObjectMaps(args.n).labels


def os_accuracy(pipe, X, args):
    """Error of the chosen OS search against the exact one, on the first images."""
    from sklearn.base import clone

    m = min(args.accuracy, len(X))
    Xs = X[:m]
    chosen = pipe.named_steps["os"]
    exact = clone(chosen).set_params(algorithm="brute", n_jobs=None)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        A = chosen.transform(Xs).field("saliency")
        t_chosen = time.perf_counter() - start
        start = time.perf_counter()
        B = exact.fit(Xs).transform(Xs).field("saliency")
        t_exact = time.perf_counter() - start
        # the paper's map (every position looked up, exact search), where a floor is set
        P = (exact.set_params(min_saliency=0.0).transform(Xs).field("saliency")
             if chosen.min_saliency else None)
    a = np.concatenate([np.ravel(s) for s in A]).astype(np.float64)
    b = np.concatenate([np.ravel(s) for s in B]).astype(np.float64)
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-12)
    out = {"images": m, "median_rel_error": float(np.median(rel)),
           "p99_rel_error": float(np.percentile(rel, 99)),
           "mean_l1_map_error": _mean_l1(A, B),
           "pearson": float(np.corrcoef(a, b)[0, 1]),
           "argmax_agree": float(np.mean([np.argmax(x) == np.argmax(y) for x, y in zip(A, B)])),
           "seconds_chosen": t_chosen, "seconds_exact": t_exact}
    if P is not None:
        out["mean_l1_map_error_vs_every_position"] = _mean_l1(A, P)
    return out


def _mean_l1(A, B):
    """Mean over images of |A - B|_1 / |B|_1."""
    return float(np.mean([np.abs(np.ravel(x) - np.ravel(y)).sum() / max(np.abs(y).sum(), 1e-12)
                          for x, y in zip(A, B)]))


def child_stream(args):
    """In a fresh process: FS.EGM or OS.EGM fit, then transform, of the first n maps."""
    from sklearn_salreg.pipelines import make_fs_egm

    X = open_maps(args)
    pipe = make_fs_egm() if args.stream_child == "fs" else make_pipeline(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(io.StringIO()):
            start = time.perf_counter()
            pipe.fit(X)
            fit_s = time.perf_counter() - start
            fit_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            _reset_peak()
            start = time.perf_counter()
            D = pipe.transform(X)
            transform_s = time.perf_counter() - start
    print("RESULT " + json.dumps({
        "n": len(X), "fit_s": fit_s, "transform_s": transform_s, "fit_peak_mib": fit_peak,
        "transform_peak_mib": _peak_mib(), "shape": list(np.shape(D))}))


def run_child(args, n, extra=()):
    cmd = [sys.executable, __file__, "--child", "--folder", args.folder, "--n", str(n),
           "--n-components", str(args.n_components), "--os-algorithm", args.os_algorithm,
           "--graph-algorithm", args.graph_algorithm, "--epsilon", str(args.epsilon),
           "--os-precision", args.os_precision, "--device", args.device,
           "--os-min-saliency", str(args.os_min_saliency),
           "--os-n-probe", str(args.os_n_probe), "--os-n-lists", str(args.os_n_lists),
           "--accuracy", str(args.accuracy), "--torch-threads", str(args.torch_threads),
           "--n-blobs", *map(str, args.n_blobs), *(["--lazy"] if args.lazy else []),
           "--maps", getattr(args, "maps", "blobs"),
           *(["--tuned"] if getattr(args, "tuned", False) else []),
           *(["--n-jobs", str(args.n_jobs)] if args.n_jobs is not None else []),
           *(["--os-jobs", str(args.os_jobs)] if args.os_jobs is not None else []), *extra]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"n={n}: the child failed (exit {proc.returncode})", file=sys.stderr)
        return None
    return json.loads(lines[-1][len("RESULT "):])


def growth_exponent(ns, seconds):
    """Slope of log(seconds) against log(n); nan with fewer than two sizes."""
    ns, seconds = np.asarray(ns, float), np.asarray(seconds, float)
    ok = seconds > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[ok]), np.log(seconds[ok]), 1)[0])


def print_fit_table(rows, title=""):
    rows = [r for r in rows if r]
    if not rows:
        return
    ns = [r["n"] for r in rows]
    print(f"\n== OS.EGM fit, stage by stage{title} ==")
    for r in rows:
        acc = r.get("accuracy")
        if "map" in r:
            print(f"n={r['n']}: mAP of the descriptors (label protocol) {r['map']:.2f}")
        print(f"n={r['n']}: {r['n_regions']} regions ({r['n_regions'] / r['n']:.1f} per image), "
              f"{r['n_positions'] / r['n']:.0f} OS positions per image, graph search "
              f"{r['graph_algorithm']}, {r['cg_iterations']} CG iterations, descriptors "
              f"{tuple(r['descriptor_shape'])}")
        if "make_maps_s" in r:
            print(f"  maps made on access: {r['make_maps_s']:.1f} s for one pass over all "
                  "(paid by every stage that reads maps)")
        if acc:
            print(f"   OS search vs exact on {acc['images']} images: median rel. error "
                  f"{acc['median_rel_error']:.2g}, p99 {acc['p99_rel_error']:.2g}, mean L1 map "
                  f"error {acc['mean_l1_map_error']:.2g}, Pearson {acc['pearson']:.5f}, argmax agree "
                  f"{acc['argmax_agree']:.3f}; {acc['seconds_chosen']:.1f} s vs exact "
                  f"{acc['seconds_exact']:.1f} s")
            if "mean_l1_map_error_vs_every_position" in acc:
                print(f"   ... against the exact maps of every position (min_saliency 0): mean L1 "
                      f"map error {acc['mean_l1_map_error_vs_every_position']:.2g}")
    head = f"{'stage':26s}" + "".join(f" {'n=' + str(n):>24s}" for n in ns) + f" {'slope':>6s}"
    print(head)
    print(f"{'':26s}" + "".join(f" {'s':>8s} {'maps/s':>7s} {'MiB':>7s}" for _ in ns))
    keys = [k for k in ["numba", *STAGES[:5], "graph.knn", "graph.graph", "graph.cg",
                        *STAGES[5:], "total"] if any(k in r["seconds"] for r in rows)]
    order = []
    for k in keys:
        if k.startswith("graph."):
            continue
        order.append(k)
        if k == "graph":
            order += [g for g in ("graph.knn", "graph.graph", "graph.cg") if g in keys]
    for k in order:
        line = f"{LABELS.get(k, k):26s}"
        for r in rows:
            s = r["seconds"].get(k, float("nan"))
            mib = r["peak_mib"].get(k)
            line += f" {s:8.1f} {r['n'] / s if s > 0 else float('nan'):7.0f} " + (
                f"{mib:7.0f}" if mib is not None else f"{'':7s}")
        slope = growth_exponent(ns, [r["seconds"].get(k, np.nan) for r in rows])
        line += f" {slope:6.2f}" if k != "numba" else ""
        print(line)
    print("(MiB: peak resident memory during the stage; for the whole fit, of the process. "
          "slope: d log t / d log n)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000, 10000, 50000])
    parser.add_argument("--n-components", type=int, default=64,
                        help="dimension of the whitened region descriptors")
    parser.add_argument("--os-algorithm", default="graph",
                        choices=["auto", "graph", "brute", "nndescent", "ivf"],
                        help="ObjectSaliency(algorithm=...)")
    parser.add_argument("--os-precision", default="auto", choices=["auto", "float32", "bfloat16"],
                        help="ObjectSaliency(precision=...)")
    parser.add_argument("--os-min-saliency", type=float, default=0.0,
                        help="ObjectSaliency(min_saliency=...): share of the largest feature "
                             "saliency at or below which a position is not looked up")
    parser.add_argument("--os-n-probe", type=int, default=0,
                        help="IVF lists probed per patch (0: the default)")
    parser.add_argument("--os-n-lists", type=int, default=0,
                        help="IVF lists (0: the default)")
    parser.add_argument("--device", default="cpu",
                        help="'cuda': every stage with a device runs there (pipelines.on_device)")
    parser.add_argument("--lazy", action="store_true",
                        help="make the maps on access instead of writing them to disk")
    parser.add_argument("--maps", default="blobs", choices=["blobs", "objects"],
                        help="objects: recurring-object maps made on access, with the mAP")
    parser.add_argument("--tuned", action="store_true",
                        help="the tuned OS.EGM (pipelines.make_os_egm_tuned)")
    parser.add_argument("--graph-algorithm", default="auto", choices=["auto", "brute", "nndescent"])
    parser.add_argument("--epsilon", type=float, default=0.1, help="NN-descent query breadth")
    parser.add_argument("--n-jobs", type=int, default=None, help="n_jobs of the pipeline")
    parser.add_argument("--os-jobs", type=int, default=None, help="n_jobs of ObjectSaliency")
    parser.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--accuracy", type=int, default=0,
                        help="images on which to compare the OS search with the exact one")
    parser.add_argument("--n-blobs", type=int, nargs=2, default=[3, 8])
    parser.add_argument("--stream-sizes", type=int, nargs="*", default=[],
                        help="sizes for the streaming (flat memory) report")
    parser.add_argument("--stream-pipelines", nargs="*", default=["fs", "os"],
                        choices=["fs", "os"], help="pipelines of the streaming report")
    parser.add_argument("--workdir", help="folder for the maps (kept); a temporary one if not set")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stream-child", choices=["fs", "os"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_stream(args) if args.stream_child else child_fit(args)
    results = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def run(args):
    """Write the maps, run every size (and the streaming report); print and return."""
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_discovery_")
    args.folder = os.path.join(workdir, "maps")
    largest = max([*args.sizes, *args.stream_sizes])
    results = {"fit": [], "stream": [], "args": {k: v for k, v in vars(args).items()}}
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
          "(shared: timings are noisy)")
    try:
        try:
            if not args.lazy and getattr(args, "maps", "blobs") == "blobs":
                write_maps_folder(args.folder, largest, tuple(args.n_blobs))
        except OSError as exc:
            fits = [n for n in args.sizes
                    if n * MAP_SHAPE[0] * MAP_SHAPE[1] * N_CHANNELS * 4
                    < 0.9 * shutil.disk_usage(workdir).free]
            print(f"skipping sizes that do not fit on disk: {exc}")
            args.sizes = fits
            args.stream_sizes = [n for n in args.stream_sizes if n <= max(fits or [0])]
            if not fits:
                return results
            write_maps_folder(args.folder, max([*fits, *args.stream_sizes]), tuple(args.n_blobs))
        for n in args.sizes:
            results["fit"].append(run_child(args, n))
        print_fit_table(results["fit"], f", whitening to {args.n_components} dimensions, OS search "
                        f"'{args.os_algorithm}'")
        for kind in getattr(args, "stream_pipelines", ["fs", "os"]) if args.stream_sizes else ():
            for n in args.stream_sizes:
                r = run_child(args, n, ["--stream-child", kind])
                if r:
                    r["kind"] = kind
                    r["data_mib"] = n * MAP_SHAPE[0] * MAP_SHAPE[1] * N_CHANNELS * 4 / 2**20
                    results["stream"].append(r)
        print_stream_table(results["stream"])
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def print_stream_table(rows):
    if not rows:
        return
    print("\n== streaming: fit then transform of a disk-backed collection (fresh process each) ==")
    print(f"{'pipeline':9s} {'maps':>6s} {'data MiB':>9s} {'fit s':>7s} {'fit peak':>9s} "
          f"{'transform s':>12s} {'transform peak':>15s} {'data/peak':>10s}")
    for r in rows:
        peak = max(r["fit_peak_mib"], r["transform_peak_mib"])
        print(f"{'FS.EGM' if r['kind'] == 'fs' else 'OS.EGM':9s} {r['n']:6d} {r['data_mib']:9.0f} "
              f"{r['fit_s']:7.1f} {r['fit_peak_mib']:9.0f} {r['transform_s']:12.1f} "
              f"{r['transform_peak_mib']:15.0f} {r['data_mib'] / peak:10.1f}")
    print("(peaks in MiB of resident memory: fit = whole process so far, transform = reset "
          "before it)")


if __name__ == "__main__":
    main()
