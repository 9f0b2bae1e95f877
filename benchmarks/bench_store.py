"""Throughput of a map folder: writing, reading, and pooling while reading.

    python benchmarks/bench_store.py                 # 200 maps of 32x24x512
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_store.py   # compare

Prints maps/second on one core (BLAS and torch limited to one thread) for float32
folders and, where the package has them, float16 folders and checksum verification.
Maps are read from the page cache (the folder was just written): these are the CPU
costs of the store, not the disk's. Figures only: nothing is asserted.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sklearn_salreg  # noqa: E402
from sklearn_salreg import MapCollection, MapFile, MapWriter, region_max_pool  # noqa: E402
from sklearn_salreg.pipelines import make_fs_egm  # noqa: E402
from sklearn_salreg.datasets import make_blob_maps  # noqa: E402


def best_rate(func, n, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return n / best


def bench(maps, workdir, dtype, repeat):
    folder = os.path.join(workdir, dtype)
    kwargs = {} if dtype == "float32" else {"dtype": dtype}

    def write():
        for name in os.listdir(folder) if os.path.exists(folder) else []:
            os.unlink(os.path.join(folder, name))
        with MapWriter(folder, flush_every=64, **kwargs) as writer:
            for k, A in enumerate(maps):
                writer.append(A, name=f"image-{k}")

    out = {"write": best_rate(write, len(maps), repeat)}
    X = MapCollection.open(folder)
    grid = np.array([[0, 0, 12, 16], [12, 16, 24, 32], [0, 0, 24, 32]])

    def each(func):  # one map at a time, dropped before the next is read (as stages do)
        return lambda: [func(X[i]) for i in range(len(X))]

    out["read"] = best_rate(each(lambda A: None), len(X), repeat)
    out["read + MAC"] = best_rate(each(lambda A: A.max(axis=(0, 1))), len(X), repeat)
    out["read + 3-region max pool"] = best_rate(
        each(lambda A: region_max_pool(A, grid)), len(X), repeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["FS.EGM fit_transform"] = best_rate(
            lambda: make_fs_egm().fit_transform(X), len(X), 1)
    if hasattr(MapFile, "verify"):
        out["verify (CRC32 of every map)"] = best_rate(MapFile(folder).verify, len(X), repeat)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-maps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    maps = make_blob_maps(args.n_maps, (24, 32), 512, random_state=0)
    dtypes = ["float32"]
    if "dtype" in inspect.signature(MapWriter).parameters:
        dtypes.append("float16")
    print(f"package: {os.path.dirname(sklearn_salreg.__file__)}")
    with tempfile.TemporaryDirectory() as workdir:
        for dtype in dtypes:
            rows = bench(maps, workdir, dtype, args.repeat)
            for name, value in rows.items():
                print(f"{dtype:8s} {name:32s} {value:9.0f} maps/s")


if __name__ == "__main__":
    main()
