"""Growing a database: ``pipelines.add_images`` against refitting, on recurring objects.

    python benchmarks/bench_growth.py --size 10000 --add 100

Fits the tuned OS.EGM on ``--size`` recurring-object maps made on access (the maps of
``bench_os_search.py``), then adds ``--add`` more images with
:func:`~sklearn_salreg.pipelines.add_images`, and compares with refitting the steps
up to the graph on all the images with the same (frozen) region whitening: seconds,
CG iterations, and the agreement of the two graphs (k-NN lists, centrality).
Figures only: nothing is asserted.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_os_search import ObjectMaps  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--add", type=int, default=100)
    args = parser.parse_args()
    from sklearn.frozen import FrozenEstimator

    from sklearn_salreg import MapCollection
    from sklearn_salreg.pipelines import add_images, make_os_egm_tuned

    maps = ObjectMaps(args.size + args.add)
    old = MapCollection(maps)[: args.size]
    new = MapCollection(maps)[args.size:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_os_egm_tuned()
        front = pipe[:5]
        start = time.perf_counter()
        front.fit(old)
        fit_s = time.perf_counter() - start
        graph = pipe.named_steps["graph"]
        print(f"fit up to the graph on {args.size} images ({len(graph.descriptors_)} regions): "
              f"{fit_s:.1f} s, {graph.n_iter_} CG iterations", flush=True)
        start = time.perf_counter()
        add_images(pipe, new)
        add_s = time.perf_counter() - start
        print(f"add_images of {args.add} images: {add_s:.2f} s, {graph.n_iter_} CG iterations "
              f"({add_s / fit_s:.1%} of the fit)", flush=True)
        refit = make_os_egm_tuned(region_whitening=FrozenEstimator(pipe.named_steps["whiten"]))
        start = time.perf_counter()
        refit[:5].fit(MapCollection(maps))
        refit_s = time.perf_counter() - start
    other = refit.named_steps["graph"]
    same = np.mean(np.all(graph.neighbors_ == other.neighbors_, axis=1))
    rel = np.abs(graph.centrality_ - other.centrality_) / np.abs(other.centrality_)
    print(f"refit up to the graph on {args.size + args.add} images (same whitening): "
          f"{refit_s:.1f} s, {other.n_iter_} CG iterations; add_images is "
          f"{add_s / refit_s:.1%} of it")
    print(f"k-NN lists equal for {same:.2%} of regions; centrality max relative difference "
          f"{rel.max():.2e}")


if __name__ == "__main__":
    main()
