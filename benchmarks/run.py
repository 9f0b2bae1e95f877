"""One report over the benchmarks, at three sizes per scale, with a plot of time vs size.

    python benchmarks/run.py --scale small            # a few minutes on 2 cores
    python benchmarks/run.py --scale medium --out report/
    python benchmarks/run.py --scale large            # hours on 2 cores; 50,000 maps = 79 GB
    python benchmarks/run.py --scale large --skip per_image search gpu --maps objects --tuned \
        --os-algorithm ivf                            # recurring objects, no disk

Sections:

* per-image stages (functions of ``bench_per_image.py``): maps/s of every stage on one
  core, for 32x24x512 maps, at three numbers of maps;
* discovery (``bench_discovery.py``): the whole OS.EGM fit stage by stage, streaming
  from a disk-backed collection, each size in a fresh process: seconds, maps/s, peak
  memory, and the growth exponent (slope of log time vs log n); plus the streaming
  report (peak memory of fit and transform at 1x, 4x, 10x the smallest size);
* search (``bench_search.py``, when present): exact and approximate k-NN and diffusion
  at three database sizes;
* GPU: when ``torch.cuda.is_available()``, the library's exact top-k of patch
  descriptors against the database regions on the device, float32 and bfloat16
  (queries/s), next to the CPU figure; the batched per-image stages (feature
  saliency, EGM, aggregation) on the device next to their NumPy loops; and the whole
  OS.EGM fit with every stage on the GPU at three sizes (``bench_discovery.py --lazy
  --device cuda``: maps made on access, since 100,000 maps are 157 GB); skipped
  otherwise.

Writes ``report.json`` and ``time_vs_size.png`` into ``--out``. Nothing is asserted.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SCALES = {
    "small": {"per_image": [20, 50, 100], "discovery": [200, 500, 1000], "stream": [100, 400, 1000],
              "search": [2000, 5000, 10000], "gpu_regions": [10_000, 30_000, 100_000],
              "gpu_fit": [2000, 5000, 10000]},
    "medium": {"per_image": [50, 200, 500], "discovery": [1000, 2000, 5000],
               "stream": [200, 800, 2000], "search": [10000, 30000, 100000],
               "gpu_regions": [30_000, 100_000, 300_000], "gpu_fit": [5000, 10000, 30000]},
    "large": {"per_image": [200, 500, 2000], "discovery": [2000, 10000, 50000],
              "stream": [1000, 4000, 10000], "search": [30000, 100000, 300000],
              "gpu_regions": [100_000, 300_000, 1_000_000], "gpu_fit": [10000, 30000, 100000]},
}


def growth(ns, ts):
    ns, ts = np.asarray(ns, float), np.asarray(ts, float)
    ok = np.isfinite(ts) & (ts > 0)
    return float(np.polyfit(np.log(ns[ok]), np.log(ts[ok]), 1)[0]) if ok.sum() >= 2 else np.nan


def per_image_section(sizes):
    """maps/s of every per-image stage (one core), at each number of maps."""
    import bench_per_image as bpi
    from sklearn_salreg.datasets import make_blob_maps

    print("\n== per-image stages, 32x24x512 maps, one core (maps/s) ==", flush=True)
    results = {}
    for n in sizes:
        maps = make_blob_maps(n, (24, 32), 512, random_state=0)
        functions, n_egm, _ = bpi.bench_functions(maps)
        estimators = bpi.bench_estimators(maps)
        results[n] = {**functions, **estimators, "egm_regions_per_map": n_egm}
    names = [k for k in results[sizes[0]] if k != "egm_regions_per_map"]
    print(f"{'stage':44s}" + "".join(f" {'n=' + str(n):>9s}" for n in sizes) + "  slope")
    for name in names:
        rates = [results[n][name] for n in sizes]
        seconds = [n / r for n, r in zip(sizes, rates)]
        print(f"{name:44s}" + "".join(f" {r:9.0f}" for r in rates) +
              f"  {growth(sizes, seconds):5.2f}")
    print(f"EGM regions per map (FS defaults): {results[sizes[0]]['egm_regions_per_map']:.1f}")
    print("peers (cnnimageretrieval-pytorch, same machine): " +
          ", ".join(f"{k} {v:,}" for k, v in bpi.PEERS[(24, 32)].items()))
    return results


def discovery_section(sizes, stream, args):
    import bench_discovery as bd

    parser_args = argparse.Namespace(
        sizes=sizes, stream_sizes=stream, stream_pipelines=["fs", "os"],
        n_components=args.n_components,
        os_algorithm=args.os_algorithm, graph_algorithm="auto", epsilon=args.epsilon,
        os_precision="auto", device="cpu", lazy=False, maps=args.maps, tuned=args.tuned,
        n_jobs=None, os_jobs=None, torch_threads=0, accuracy=args.accuracy, n_blobs=[3, 8],
        workdir=args.workdir, json=None)
    return bd.run(parser_args)


def search_section(sizes):
    try:
        import bench_search
    except ImportError:
        print("\n(benchmarks/bench_search.py not present: search section skipped)")
        return None
    print("\n== search (bench_search.py) ==", flush=True)
    captured = {}
    original = bench_search.print_table

    def capture(rows, a):
        captured["rows"] = [list(r) for r in rows]
        original(rows, a)

    bench_search.print_table = capture
    try:
        bench_search.main(["--sizes", *map(str, sizes), "--full-diffusion", str(min(sizes))])
    finally:
        bench_search.print_table = original
    rows = captured.get("rows", [])
    methods = sorted({r[1] for r in rows})
    for m in methods:
        pts = [(r[0], r[2]) for r in rows if r[1] == m and r[2] is not None]
        if len(pts) >= 2:
            print(f"growth of the fit time of {m}: slope {growth(*zip(*pts)):.2f}")
    return rows


def gpu_section(region_sizes, fit_sizes, args, dim=64, n_queries=200_000, k=10):
    """The library's exact search (``ExactIndex(device="cuda")``, float32 and the
    bfloat16 screen), the batched per-image stages on the GPU next to the CPU, and the
    whole OS.EGM fit with every stage on the GPU (maps made on access)."""
    import numpy as np
    import torch

    if not torch.cuda.is_available():
        print("\n== GPU: skipped (torch.cuda.is_available() is False) ==")
        return None
    from sklearn_salreg import FeatureSaliency
    from sklearn_salreg.neighbors import ExactIndex

    print(f"\n== GPU ({torch.cuda.get_device_name()}): exact top-{k} of {n_queries} patch "
          f"descriptors, d={dim}, from and to host memory ==", flush=True)
    out = {"search": {}}
    rng = np.random.default_rng(0)

    def unit(n):
        X = rng.normal(size=(n, dim)).astype(np.float32)
        return X / np.linalg.norm(X, axis=1, keepdims=True)

    U = unit(n_queries)
    for n in region_sizes:
        V = unit(n)
        row = {}
        for precision in ("float32", "bfloat16"):
            index = ExactIndex(V, precision, device="cuda")
            index.query(U[:1000], k)  # warm-up: kernels, allocator
            torch.cuda.synchronize()
            start = time.perf_counter()
            index.query(U, k)
            torch.cuda.synchronize()
            row[f"gpu_{precision}_qps"] = n_queries / (time.perf_counter() - start)
        start = time.perf_counter()
        ExactIndex(V, "bfloat16").query(U[:20_000], k)
        row["cpu_qps"] = 20_000 / (time.perf_counter() - start)
        out["search"][n] = row
        print(f"{n:>9d} regions: GPU float32 {row['gpu_float32_qps']:12,.0f}  bfloat16 "
              f"{row['gpu_bfloat16_qps']:12,.0f} queries/s   CPU {row['cpu_qps']:10,.0f}")
    from sklearn_salreg import EGMRegionDetector, RegionAggregator
    from sklearn_salreg.datasets import make_blob_maps

    maps = make_blob_maps(2000, (24, 32), 512, random_state=0)
    X = FeatureSaliency().fit_transform(maps)
    Xe = EGMRegionDetector().fit_transform(X)
    stages = {
        "feature saliency": (lambda d: FeatureSaliency(device=d), maps),
        "EGM, FS defaults": (lambda d: EGMRegionDetector(device=d), X),
        "EGM, OS defaults": (lambda d: EGMRegionDetector(rho=2.0, tau=0.0, sigma=2.0, device=d), X),
        "aggregation (tuned levers)": (lambda d: RegionAggregator(
            device=d, pooling="sum", weighting="mass", saliency_exponent=2.0), Xe),
    }
    for name, (make, data) in stages.items():
        for device in (None, "cuda"):
            stage = make(device).fit(data[:10])
            stage.transform(data[:300])  # warm-up
            start = time.perf_counter()
            stage.transform(data)
            rate = len(data) / (time.perf_counter() - start)
            out[f"{name}, {device or 'numpy'} maps/s"] = rate
            print(f"{name}, {'numpy (one core)' if device is None else device}: "
                  f"{rate:,.0f} maps/s", flush=True)
    import bench_discovery as bd

    out["fit"] = bd.run(argparse.Namespace(
        sizes=fit_sizes, stream_sizes=[], stream_pipelines=[], n_components=args.n_components,
        os_algorithm="graph", graph_algorithm="brute", epsilon=args.epsilon,
        os_precision="auto", device="cuda", lazy=True, n_jobs=None, os_jobs=None,
        torch_threads=0, accuracy=0, n_blobs=[3, 8], workdir=None, json=None))
    return out


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    fits = [r for r in (report.get("discovery") or {}).get("fit", []) if r]
    if fits:
        ns = [r["n"] for r in fits]
        for key in ("fs", "fs_egm", "pool", "whiten", "graph", "os", "egm", "agg", "total"):
            ts = [r["seconds"].get(key, np.nan) for r in fits]
            ax.loglog(ns, ts, "o-", lw=2.5 if key == "total" else 1.2,
                      label=f"{key} (slope {growth(ns, ts):.2f})")
        ref = np.array(ns, float)
        t0 = fits[0]["seconds"]["total"]
        ax.loglog(ref, t0 * ref / ref[0], "k:", lw=0.8, label="linear")
        ax.loglog(ref, t0 * ref * np.log(ref) / (ref[0] * np.log(ref[0])), "k--", lw=0.8,
                  label="n log n")
    ax.set_xlabel("images")
    ax.set_ylabel("seconds")
    ax.set_title("OS.EGM fit by stage (disk-backed)")
    ax.legend(fontsize=7)
    ax = axes[1]
    rows = report.get("search") or []
    for m in sorted({r[1] for r in rows}):
        pts = [(r[0], r[2]) for r in rows if r[1] == m and r[2]]
        if pts:
            ax.loglog(*zip(*pts), "o-", label=m)
    per_image = report.get("per_image") or {}
    if per_image:
        ns = sorted(int(n) for n in per_image)
        ts = [n / per_image[n]["FS.EGM pipeline"] for n in ns]
        ax.loglog(ns, ts, "s-", label="FS.EGM pipeline (in memory)")
    ax.set_xlabel("database size / maps")
    ax.set_ylabel("seconds")
    ax.set_title("search fit and per-image pipeline")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--out", default="benchmark_report", help="folder for json and png")
    parser.add_argument("--workdir", help="keep the written maps here (reused between runs)")
    parser.add_argument("--n-components", type=int, default=64)
    parser.add_argument("--os-algorithm", default="graph",
                        choices=["auto", "graph", "brute", "nndescent", "ivf"])
    parser.add_argument("--maps", default="blobs", choices=["blobs", "objects"],
                        help="discovery on recurring-object maps made on access (with the mAP)")
    parser.add_argument("--tuned", action="store_true",
                        help="discovery with the tuned OS.EGM (pipelines.make_os_egm_tuned)")
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--accuracy", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["per_image", "discovery", "search", "gpu"])
    args = parser.parse_args()
    scale = SCALES[args.scale]
    os.makedirs(args.out, exist_ok=True)
    report = {"scale": args.scale, "cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0]}
    print(f"scale {args.scale}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} "
          "(a shared machine: timings are noisy)", flush=True)
    if "per_image" not in args.skip:
        report["per_image"] = per_image_section(scale["per_image"])
    if "discovery" not in args.skip:
        report["discovery"] = discovery_section(scale["discovery"], scale["stream"], args)
    if "search" not in args.skip:
        report["search"] = search_section(scale["search"])
    if "gpu" not in args.skip:
        report["gpu"] = gpu_section(scale["gpu_regions"], scale["gpu_fit"], args)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    png = os.path.join(args.out, "time_vs_size.png")
    with contextlib.redirect_stderr(io.StringIO()):
        plot(report, png)
    print(f"\nwrote {os.path.join(args.out, 'report.json')} and {png}")


if __name__ == "__main__":
    main()
