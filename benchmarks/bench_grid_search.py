"""Grid search over the detector parameters of OS.EGM, with and without Pipeline memory.

    python benchmarks/bench_grid_search.py

A cached pipeline recomputes only the steps whose parameters (or input) changed:
tuning the final detector reuses feature saliency, the first detection, pooling,
whitening, the region graph and the object saliency maps. Prints the wall time of the
same GridSearchCV with and without ``memory=``, and checks that both (and n_jobs=2)
give the same cv_results_. Figures only.
"""

import argparse
import tempfile
import time
import warnings

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklearn_salreg import MapCollection
from sklearn_salreg.model_selection import make_map_scorer
from sklearn_salreg.pipelines import make_os_egm
from sklearn_salreg.datasets import make_object_maps
from sklearn_salreg.whitening import LearnedWhitening


def search(memory, n_jobs, maps, labels, grid):
    pipe = make_os_egm(memory=memory, region_whitening=LearnedWhitening(n_components=32,
                                                                        shrinkage=0.1))
    start = time.perf_counter()
    gs = GridSearchCV(pipe, grid, scoring=make_map_scorer(), cv=StratifiedKFold(2),
                      n_jobs=n_jobs).fit(maps, labels)
    return time.perf_counter() - start, gs


def refits(memory, maps, grid):
    """Fit the pipeline once per candidate, as a grid search's fits do (no scoring)."""
    pipe = make_os_egm(memory=memory, region_whitening=LearnedWhitening(n_components=32,
                                                                        shrinkage=0.1))
    start = time.perf_counter()
    for rho in grid["egm__rho"]:
        for tau in grid["egm__tau"]:
            pipe.set_params(egm__rho=rho, egm__tau=tau).fit(maps)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-objects", type=int, default=16)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    maps, labels, _ = make_object_maps(n_objects=args.n_objects, n_views=6, n_distractors=0,
                                       random_state=0)
    folder = tempfile.TemporaryDirectory()
    # a disk-backed collection pickles as a path: cheap to hash and to cache
    on_disk = MapCollection(maps).save(f"{folder.name}/maps")
    grid = {"egm__rho": [1.0, 2.0, 5.0], "egm__tau": [0.0, 0.3]}
    print(f"{len(maps)} maps 24x32x128, grid of {3 * 2} candidates x 2 folds, OS.EGM")
    plain, gs_plain = search(None, 1, on_disk, labels, grid)
    with tempfile.TemporaryDirectory() as cache:
        cached, gs_cached = search(cache, 1, on_disk, labels, grid)
    with tempfile.TemporaryDirectory() as cache:
        parallel, gs_parallel = search(cache, 2, on_disk, labels, grid)
    same = all(np.allclose(gs_plain.cv_results_[k], other.cv_results_[k])
               for other in (gs_cached, gs_parallel)
               for k in ("mean_test_score", "split0_test_score", "split1_test_score"))
    for what, data in (("in-memory list", maps), ("disk-backed collection", on_disk)):
        fit_plain = refits(None, data, grid)
        with tempfile.TemporaryDirectory() as cache:
            fit_cached = refits(cache, data, grid)
        print(f"six fits, {what}: no memory {fit_plain:.1f} s, memory= {fit_cached:.1f} s, "
              f"speed-up {fit_plain / fit_cached:.1f}x")
    print("GridSearchCV on the disk-backed collection (fits + scoring; scoring transforms the "
          "held-out fold through every step, which Pipeline memory does not cache):")
    print(f"{'no memory':24s} {plain:7.1f} s")
    print(f"{'memory=':24s} {cached:7.1f} s   speed-up {plain / cached:.1f}x")
    print(f"{'memory=, n_jobs=2':24s} {parallel:7.1f} s")
    print(f"identical cv_results_: {same}; best {gs_plain.best_params_} "
          f"mAP {100 * gs_plain.best_score_:.1f} %")


if __name__ == "__main__":
    main()
