"""Throughput of the per-image stages, and peak memory when streaming from disk.

    python benchmarks/bench_per_image.py            # both map sizes, 2,000 streamed maps
    python benchmarks/bench_per_image.py --quick    # a smoke run

Prints maps/second of each stage on one core (BLAS and torch limited to one thread)
for ReLU-sparse 32x24x512 and 64x48x512 float32 maps with blob structure, next to
the cost of merely reading each map once, and the peak resident memory of an FS.EGM
pipeline streaming 200 and 2,000 maps from a disk-backed collection (each in a fresh
process). Figures only: nothing is asserted.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, MapCollection,  # noqa: E402
                            RegionAggregator, RegionMaxPooler, UniformRegionDetector,
                            WholeMapDetector, egm_regions, feature_saliency, region_max_pool,
                            region_mean, uniform_regions)
from sklearn_salreg.pipelines import make_fs_egm  # noqa: E402
from sklearn_salreg.datasets import make_blob_maps  # noqa: E402

# Peers (cnnimageretrieval-pytorch's pooling) measured on the 2-core development machine,
# maps/s on one core; docs/benchmarks.rst lists them beside ours.
PEERS = {
    (24, 32): {"read": 19_700, "MAC": 5_320, "R-MAC": 112, "regional": 386},
    (48, 64): {"MAC": 1_501, "R-MAC": 31, "regional": 139},
}


def rate(func, items, repeat=1):
    """Items per second of ``func`` over ``items`` (best of ``repeat`` passes)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            func(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def bench_functions(maps):
    """Stages as pure functions on one map at a time."""
    fs = [feature_saliency(A) for A in maps]
    boxes = [egm_regions(F) for F in fs]
    grids = [uniform_regions(*A.shape[:2]) for A in maps]
    copy = np.empty_like(maps[0])
    out = {
        "read once (copy)": rate(lambda A: np.copyto(copy, A), maps, 3),
        "feature_saliency": rate(feature_saliency, maps, 3),
        "egm_regions (FS.EGM defaults)": rate(egm_regions, fs, 3),
        "egm_regions (OS.EGM defaults)": rate(
            lambda F: egm_regions(F, rho=2.0, tau=0.0, sigma=2.0), fs, 3),
        "region_max_pool + region_mean (EGM boxes)": rate(
            lambda k: (region_max_pool(maps[k], boxes[k]), region_mean(fs[k], boxes[k])),
            range(len(maps)), 3),
        "region_max_pool (R-MAC grid)": rate(lambda k: region_max_pool(maps[k], grids[k]),
                                             range(len(maps)), 3),
        "MAC (global max)": rate(lambda A: A.max(axis=(0, 1)), maps, 3),
    }
    return out, float(np.mean([len(b) for b in boxes])), float(np.mean([len(g) for g in grids]))


def bench_estimators(maps):
    """The same stages as estimators on a whole collection (what a pipeline does)."""
    X = MapCollection(maps)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        Xf = FeatureSaliency().fit_transform(X)
        out["FeatureSaliency"] = len(X) / (time.perf_counter() - start)
        start = time.perf_counter()
        FeatureSaliency(device="cpu").fit_transform(X)
        out["FeatureSaliency(device='cpu'), torch batches"] = len(X) / (time.perf_counter() - start)
        start = time.perf_counter()
        Xe = EGMRegionDetector().fit_transform(Xf)
        out["EGMRegionDetector"] = len(X) / (time.perf_counter() - start)
        for name, params in (("FS defaults", {}),
                             ("OS defaults", dict(rho=2.0, tau=0.0, sigma=2.0))):
            start = time.perf_counter()
            EGMRegionDetector(device="cpu", **params).fit_transform(Xf)
            out[f"EGMRegionDetector(device='cpu'), {name}"] = (
                len(X) / (time.perf_counter() - start))
        start = time.perf_counter()
        RegionMaxPooler().fit_transform(Xe)
        out["RegionMaxPooler"] = len(X) / (time.perf_counter() - start)
        start = time.perf_counter()
        RegionMaxPooler(device="cpu").fit_transform(Xe)
        out["RegionMaxPooler(device='cpu'), torch batches"] = len(X) / (time.perf_counter() - start)
        for name, detector in (("MAC pipeline", WholeMapDetector()),
                               ("R-MAC pipeline", UniformRegionDetector())):
            start = time.perf_counter()
            RegionAggregator().fit_transform(detector.fit_transform(X))
            out[name] = len(X) / (time.perf_counter() - start)
        start = time.perf_counter()
        make_fs_egm().fit_transform(X)
        out["FS.EGM pipeline"] = len(X) / (time.perf_counter() - start)
    return out


def stream_child(folder):
    """Run in a fresh process: stream an FS.EGM fit_transform over a map folder."""
    from _memory import peak_rss_mib

    X = MapCollection.open(folder)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = make_fs_egm().fit_transform(X)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()  # not ru_maxrss, which keeps the parent's size from before exec
    print(json.dumps({"n": len(X), "seconds": seconds, "peak_mib": peak, "shape": D.shape}))


def bench_streaming(sizes, shape, n_channels, workdir):
    rows = []
    for n in sizes:
        folder = os.path.join(workdir, f"maps_{n}")
        from sklearn_salreg import MapWriter

        with MapWriter(folder, flush_every=256) as writer:
            for start in range(0, n, 100):
                for A in make_blob_maps(min(100, n - start), shape, n_channels,
                                        random_state=start):
                    writer.append(A)
        size_mib = os.path.getsize(os.path.join(folder, "data.f32")) / 2**20
        result = subprocess.run([sys.executable, __file__, "--stream-child", folder],
                                capture_output=True, text=True, check=True)
        info = json.loads(result.stdout.strip().splitlines()[-1])
        info["data_mib"] = size_mib
        rows.append(info)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few maps, small streaming run")
    parser.add_argument("--n-maps", type=int, default=300, help="maps per throughput test")
    parser.add_argument("--stream-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_child:
        stream_child(args.stream_child)
        return
    n_maps = 30 if args.quick else args.n_maps
    for h, w in ((24, 32), (48, 64)):
        maps = make_blob_maps(n_maps, (h, w), 512, random_state=0)
        nonzero = np.mean([np.count_nonzero(A) / A.size for A in maps])
        functions, n_egm, n_grid = bench_functions(maps)
        estimators = bench_estimators(maps)
        print(f"\n== maps {w}x{h}x512 (w x h x c), {n_maps} maps, {100 * nonzero:.0f}% non-zero, "
              f"{n_egm:.1f} EGM regions and {n_grid:.0f} R-MAC regions per map; one core ==")
        print(f"{'stage':48s} {'maps/s':>10s}")
        for name, value in {**functions, **estimators}.items():
            print(f"{name:48s} {value:10.0f}")
        peers = PEERS.get((h, w), {})
        if peers:
            print("peers (cnnimageretrieval-pytorch, same machine): " +
                  ", ".join(f"{k} {v:,}" for k, v in peers.items()))
    sizes = (50, 200) if args.quick else (200, 2000)
    with tempfile.TemporaryDirectory() as workdir:
        rows = bench_streaming(sizes, (24, 32), 512, workdir)
    print("\n== FS.EGM fit_transform streaming from a disk-backed collection (fresh process) ==")
    print(f"{'maps':>6s} {'data MiB':>9s} {'seconds':>8s} {'maps/s':>7s} {'peak RSS MiB':>13s}")
    for r in rows:
        print(f"{r['n']:6d} {r['data_mib']:9.0f} {r['seconds']:8.1f} {r['n'] / r['seconds']:7.0f} "
              f"{r['peak_mib']:13.0f}")


if __name__ == "__main__":
    main()
