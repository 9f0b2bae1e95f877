"""The OS.EGM fit on a dask cluster of one worker against two, and without dask.

    python benchmarks/bench_dask.py --size 2000 --rounds 2

Writes ``--size`` recurring-object maps (32x24x512, as ``bench_os_search.py`` makes
them) once into a float16 map folder, then fits the tuned OS.EGM on the disk-backed
collection (which travels to the workers as a path and an index) in three ways,
alternating round by round: sequentially (no dask), and with
``joblib.parallel_config(backend="dask")`` on a ``distributed.LocalCluster`` of one
and of two worker processes (one thread each), every step with ``n_jobs=-1``: the
per-image stages send chunks of images, the region graph row blocks and object
saliency batches of images to the workers. The descriptors of the cluster runs are
compared with the sequential ones. Each cluster is started before its timing.

Figures only: nothing is asserted. On a machine of two cores two workers can at best
halve the time; what they gain on a real cluster depends on its network and disks.
"""

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def write_folder(folder, n):
    from bench_os_search import ObjectMaps

    from sklearn_salreg import MapWriter

    source = ObjectMaps(n)
    with MapWriter(folder, dtype="float16", flush_every=512) as writer:
        for i in range(n):
            writer.append(source[i])
    return source.labels


def fit(X, backend):
    from joblib import parallel_config

    from sklearn_salreg.pipelines import make_os_egm_tuned

    pipe = make_os_egm_tuned(n_jobs=-1, object_saliency=dict(n_jobs=-1),
                             graph=dict(n_jobs=-1))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backend is None:
            D = pipe.fit_transform(X)
        else:
            with parallel_config(backend=backend):
                D = pipe.fit_transform(X)
    return time.perf_counter() - start, np.asarray(D)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    import distributed

    from bench_os_search import label_map

    from sklearn_salreg import MapCollection

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        labels = write_folder(Path(tmp) / "maps", args.size)
        print(f"wrote {args.size} float16 maps in {time.perf_counter() - start:.0f} s")
        X = MapCollection.open(Path(tmp) / "maps")
        times = {"sequential": [], "1 worker": [], "2 workers": []}
        reference = None
        for _ in range(args.rounds):
            seconds, reference = fit(X, None)
            times["sequential"].append(seconds)
            for workers in (1, 2):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cluster = distributed.LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=None)
                    client = distributed.Client(cluster)
                    client.run(lambda: __import__("sklearn_salreg.pipelines"))  # imports apart
                    seconds, D = fit(X, "dask")
                    client.close()
                    cluster.close()
                name = f"{workers} worker" + ("s" if workers > 1 else "")
                times[name].append(seconds)
                diff = float(np.abs(D - reference).max())
                print(f"  {name}: {seconds:.1f} s, largest difference from sequential {diff:.1e}")
        print(f"mAP (label protocol) {label_map(reference, labels):.2f}")
        best = {k: min(v) for k, v in times.items()}
        print(f"{'run':12s} {'best s':>8s}  rounds")
        for name, seconds in best.items():
            print(f"{name:12s} {seconds:8.1f}  " + " ".join(f"{t:.1f}" for t in times[name]))
        print(f"two workers against one: x{best['1 worker'] / best['2 workers']:.2f} faster")


if __name__ == "__main__":
    main()
