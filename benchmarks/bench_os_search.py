"""Object saliency's exact search against an approximate one, on recurring objects.

    python benchmarks/bench_os_search.py --sizes 2000 10000
    python benchmarks/bench_os_search.py --sizes 10000 --epsilon 0.1 0.3
    python benchmarks/bench_os_search.py --sizes 10000 --algorithm ivf --n-probe 8 16 32
    python benchmarks/bench_os_search.py --builtin MAPS --algorithm ivf --n-probe 4 8 16
    python benchmarks/bench_os_search.py --sizes 2000 --algorithm ivf --min-saliency 0 0.2

``--builtin MAPS`` runs the same comparison on the built-in benchmark (quick size,
seed 0) whose maps were extracted into the folder MAPS (``python -m sklearn_salreg
report --cache MAPS`` leaves them there), every image a query of the label protocol,
instead of the synthetic sizes.

The maps look like a collection: 32x24x512 ReLU-sparse clutter that does not recur,
and in every other image one view of an object that does (about ten views per
object: ``n / 20`` objects). They are made on access (:class:`ObjectMaps`), so
large sizes need no disk. The tuned OS.EGM (``make_os_egm_tuned``) is fitted once up
to the graph; then object saliency, the final detector and the aggregation run once
with ``ObjectSaliency(algorithm='brute')`` (exact) and once per ``--epsilon`` with
``algorithm='nndescent'`` (its one-off numba compilation is timed apart), or with
``--algorithm ivf`` once per ``--n-probe`` with ``algorithm='ivf'`` (the
:class:`IVFIndex` built once, its build time in the first row). Printed per size and search: seconds of the object
saliency stage and of the whole fit, the OS maps' mean relative L1 error against the
exact maps, and the mAP of the object images as queries against the whole database
(label protocol: every other view of the same object is a positive), with its
difference from the exact search. ``--min-saliency`` repeats the approximate runs
with that floor on the positions looked up (``ObjectSaliency(min_saliency=)``), and
runs the exact search with each floor too, so that the two errors show apart; the
reference stays the exact search at every position.

Figures only: nothing is asserted. The machine may be shared: say so with the figures.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAP_SHAPE, N_CHANNELS = (24, 32), 512


class ObjectMaps:
    """``n`` maps made on access: clutter from a bank of ``bank`` maps (channels permuted
    per pass over the bank, so no map repeats), and in every even-numbered image one
    noisy view of object ``(i // 2) % n_objects`` pasted at a random place."""

    def __init__(self, n, n_objects=None, bank=500, random_state=0):
        from sklearn_salreg.datasets import make_object_maps
        from sklearn_salreg.datasets._synthetic import _pattern

        self.n = n
        self.n_objects = n_objects or max(n // 20, 2)
        rng = np.random.default_rng(random_state)
        self.objects = [_pattern(rng, int(rng.integers(4, 6)), N_CHANNELS, 0.15)
                        for _ in range(self.n_objects)]
        self.bank = make_object_maps(n_objects=0, n_views=0, n_distractors=min(bank, n),
                                     shape=MAP_SHAPE, n_channels=N_CHANNELS,
                                     random_state=random_state)[0]
        self.labels = np.where(np.arange(n) % 2 == 0, (np.arange(n) // 2) % self.n_objects, -1)

    def __len__(self):
        return self.n

    def shape_of(self, i):  # MapCollection asks this instead of making map i
        return (*MAP_SHAPE, N_CHANNELS)

    def __getitem__(self, i):
        i = int(i)
        group, base = divmod(i, len(self.bank))
        A = self.bank[base]
        A = (A[:, :, np.random.default_rng(group).permutation(N_CHANNELS)] if group
             else A.copy())
        label = self.labels[i]
        if label >= 0:
            rng = np.random.default_rng(10**9 + i)
            obj = self.objects[label]
            P = obj * rng.lognormal(0.0, 0.15, obj.shape).astype(np.float32)
            s = P.shape[0]
            y, x = rng.integers(0, MAP_SHAPE[0] - s + 1), rng.integers(0, MAP_SHAPE[1] - s + 1)
            A[y:y + s, x:x + s] = P + 0.1 * A[y:y + s, x:x + s]
        return A


def label_map(D, labels, n_queries=500):
    from sklearn_salreg.metrics import label_gnd, mean_average_precision

    queries = np.flatnonzero(labels >= 0)[:n_queries]
    ranks = np.argsort(-(D[queries] @ D.T), axis=1, kind="stable")
    return 100 * mean_average_precision(ranks, label_gnd(labels, queries))


def run_size(n, epsilons, n_components, algorithm="nndescent", n_probes=(16,), floors=(0.0,)):
    from sklearn.base import clone
    from sklearn_salreg import MapCollection
    from sklearn_salreg.whitening import make_region_whitening
    from sklearn_salreg.pipelines import make_os_egm_tuned

    # pynndescent's numba compilation, once per process, timed apart
    if algorithm == "nndescent" and epsilons:
        from pynndescent import NNDescent

        start = time.perf_counter()
        V = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
        NNDescent(V, metric="dot", n_neighbors=10, random_state=0).query(V[:5], k=5)
        print(f"numba compilation of NN-descent: {time.perf_counter() - start:.1f} s")

    if isinstance(n, str):  # the built-in benchmark's maps, extracted into folder n
        from sklearn_salreg.datasets import make_cluttered_instances
        from sklearn_salreg.experiments.report import SIZES

        X = MapCollection.open(n)
        data = make_cluttered_instances(**SIZES["quick"], random_state=0)
        if len(X) != len(data.labels):
            raise ValueError(f"{n} holds {len(X)} maps, not the quick benchmark's "
                             f"{len(data.labels)}.")
        labels = np.asarray(data.labels)
        n = "built-in"
    else:
        maps = ObjectMaps(n)
        X = MapCollection(maps)
        labels = maps.labels
    pipe = make_os_egm_tuned(region_whitening=make_region_whitening(
        supervised=False, n_components=n_components))
    front, back = pipe[:5], pipe[5:]
    start = time.perf_counter()
    Xg = front.fit_transform(X)
    front_s = time.perf_counter() - start
    n_regions = len(pipe.named_steps["graph"].descriptors_)
    print(f"n={n}: {n_regions} regions, front (fs .. graph) {front_s:.1f} s", flush=True)
    exact_maps = None
    rows = []
    runs = [("brute", None, 0.0, "brute")]
    runs += [("brute", None, f, f"brute, min_saliency {f}") for f in floors if f]
    for f in floors:
        floor = f", min_saliency {f}" if f else ""
        if algorithm == "nndescent":
            runs += [("nndescent", e, f, f"nndescent, epsilon {e}{floor}") for e in epsilons]
        else:
            runs += [("ivf", p, f, f"ivf, n_probe {p}{floor}") for p in n_probes]
    ivf_index = None
    for name, param, floor, label in runs:
        stages = clone(back)
        stages.set_params(os__algorithm=name, os__min_saliency=floor,
                          **({"os__epsilon": param} if name == "nndescent" else {}))
        start = time.perf_counter()
        if name == "ivf":
            if ivf_index is None:  # built once, reused for the other n_probe
                ivf_est = stages[0].fit(Xg)
                ivf_index = ivf_est.index_
                print(f"IVF index: {ivf_index.n_lists} lists, built in "
                      f"{time.perf_counter() - start:.1f} s", flush=True)
            ivf_index.n_probe = param
            Xo = ivf_est.set_params(min_saliency=floor).transform(Xg)
        else:
            Xo = stages[0].fit_transform(Xg)
        os_s = time.perf_counter() - start
        D = stages[1:].fit_transform(Xo)
        back_s = time.perf_counter() - start
        S = [np.asarray(s, np.float64) for s in Xo.field("saliency")]
        if exact_maps is None:
            exact_maps, err = S, 0.0
        else:
            err = float(np.mean([np.abs(a - b).sum() / max(np.abs(b).sum(), 1e-12)
                                 for a, b in zip(S, exact_maps)]))
        rows.append((label, os_s,
                     front_s + back_s, err, label_map(np.asarray(D), labels)))
    exact_map = rows[0][4]
    print(f"{'search':26s} {'OS s':>8s} {'fit s':>8s} {'OS L1 err':>10s} {'mAP':>6s} {'diff':>6s}")
    for name, os_s, fit_s, err, m in rows:
        print(f"{name:26s} {os_s:8.1f} {fit_s:8.1f} {err:10.4f} {m:6.2f} {m - exact_map:+6.2f}",
              flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--epsilon", type=float, nargs="*", default=[0.1])
    parser.add_argument("--n-components", type=int, default=64)
    parser.add_argument("--algorithm", default="nndescent", choices=["nndescent", "ivf"],
                        help="the approximate search compared with the exact one")
    parser.add_argument("--builtin", metavar="MAPS",
                        help="the built-in benchmark's map folder instead of --sizes")
    parser.add_argument("--n-probe", type=int, nargs="*", default=[16],
                        help="IVF lists probed per patch (--algorithm ivf)")
    parser.add_argument("--min-saliency", type=float, nargs="*", default=[0.0],
                        help="ObjectSaliency(min_saliency=...) of the approximate runs (and "
                             "of an exact run each, apart): positions looked up")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in [args.builtin] if args.builtin else args.sizes:
            run_size(n, args.epsilon, args.n_components, args.algorithm, args.n_probe,
                     args.min_saliency)


if __name__ == "__main__":
    main()
