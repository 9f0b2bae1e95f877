"""Each stage's two implementations on the CPU: ``device=None`` against ``device="cpu"``.

    python benchmarks/bench_devices.py              # 60 maps of each size
    python benchmarks/bench_devices.py --n-maps 200

Maps/second on one core (BLAS, numba and torch limited to one thread) of every stage
written twice: the per-image NumPy / numba path (``device=None``) and the torch
batches (``device="cpu"``, the GPU path run on the CPU), plus EGM's NumPy reference
steps (``engine="numpy"``). The variants of a stage run in interleaved passes, best
of three, so that a shared machine's load falls on all of them alike. Figures only:
nothing is asserted.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, MapCollection,  # noqa: E402
                            RegionAggregator, RegionMaxPooler, UniformRegionDetector,
                            egm_regions)
from sklearn_salreg.datasets import make_blob_maps  # noqa: E402

OS_EGM = dict(rho=2.0, tau=0.0, sigma=2.0)


def cases(X):
    """``{stage: [(variant, callable), ...]}`` on the collection ``X``."""
    Xf = FeatureSaliency().fit_transform(X)
    Xe = EGMRegionDetector().fit_transform(Xf)
    Xg = UniformRegionDetector().fit_transform(Xf)
    fs = Xf.field("saliency")
    both = lambda make, data: [("None", lambda: make().fit_transform(data)),  # noqa: E731
                               ("cpu", lambda: make(device="cpu").fit_transform(data))]
    egm = lambda **p: [  # noqa: E731
        ("numba", lambda: [egm_regions(F, **p) for F in fs]),
        ("numpy", lambda: [egm_regions(F, engine="numpy", **p) for F in fs]),
        ("cpu", lambda: EGMRegionDetector(device="cpu", **p).fit_transform(Xf))]
    return {
        "FeatureSaliency": both(FeatureSaliency, X),
        "EGM, FS.EGM settings": egm(),
        "EGM, OS.EGM settings": egm(**OS_EGM),
        "RegionMaxPooler (EGM boxes)": both(RegionMaxPooler, Xe),
        "RegionAggregator (R-MAC grid, max)": both(RegionAggregator, Xg),
        "RegionAggregator (grid, sum, exponent 1)": both(
            lambda **d: RegionAggregator(pooling="sum", saliency_exponent=1.0, **d), Xg),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-maps", type=int, default=60, help="maps of each size")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved passes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    for shape in ((24, 32), (48, 64)):
        X = MapCollection(make_blob_maps(args.n_maps, shape, 512, random_state=0))
        print(f"== {shape[1]}x{shape[0]}x512 maps, {args.n_maps} maps, maps/s on one core, "
              f"best of {args.repeat} interleaved passes")
        for name, variants in cases(X).items():
            for _, run in variants:
                run()  # warm up: numba compilation, torch start-up
            best = {variant: np.inf for variant, _ in variants}
            for _ in range(args.repeat):
                for variant, run in variants:
                    start = time.perf_counter()
                    run()
                    best[variant] = min(best[variant], time.perf_counter() - start)
            print(f"{name:42s} " + "  ".join(f"{v}={args.n_maps / t:7.0f}" for v, t in best.items()),
                  flush=True)


if __name__ == "__main__":
    main()
