"""Throughput of activation extraction and of EGM, this tree against another, interleaved.

    git archive <base commit> sklearn_salreg | tar -x -C /tmp/before
    python benchmarks/bench_extraction_egm.py --before /tmp/before --rounds 2
    python benchmarks/bench_extraction_egm.py --quick            # this tree only, small

Each round runs one child process per tree, alternating (before, this tree, before,
...), so that a shared machine's load falls on both alike; the table gives each
tree's best round and the ratio. Figures only: nothing is asserted.

* EGM: ``egm_regions`` per map, one thread, on feature saliency maps of ReLU-sparse
  32x24x512 and 64x48x512 blob maps, with the FS.EGM and the OS.EGM settings.
* Extraction: ``ActivationExtractor`` (EfficientNet-Lite0, torch's default threads)
  over real photos of scikit-image and scikit-learn (eight sizes from 300x451 to
  872x1000), images in memory, at ``max_side`` 512 and 1024, batch 1 and 8; and the
  hand loop it is measured against: the network alone on images already resized
  and normalised, batch 1, channels-last, float32 and bfloat16 autocast.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLOCK = time.perf_counter  # --clock cpu: time.process_time, less sensitive to a loaded machine


def photos():
    from skimage import data
    from sklearn.datasets import load_sample_images

    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(),
            data.hubble_deep_field(), data.immunohistochemistry(), *load_sample_images().images]


def best_rate(func, n, repeat):
    best = np.inf
    for _ in range(repeat):
        start = CLOCK()
        func()
        best = min(best, CLOCK() - start)
    return n / best


def bench_egm(n_maps, repeat):
    import torch

    from sklearn_salreg import egm_regions, feature_saliency
    try:
        from sklearn_salreg.datasets import make_blob_maps
    except ImportError:  # older trees
        from sklearn_salreg.utils.synthetic import make_blob_maps

    torch.set_num_threads(1)
    out = {}
    egm_regions(np.random.default_rng(0).random((6, 7)))  # compile (or load the cache)
    for shape in ((24, 32), (48, 64)):
        fs = [feature_saliency(A) for A in make_blob_maps(n_maps, shape, 512, random_state=0)]
        for name, params in (("FS.EGM", {}), ("OS.EGM", dict(rho=2.0, tau=0.0, sigma=2.0))):
            out[f"EGM, {name} settings, {shape[1]}x{shape[0]} (maps/s)"] = best_rate(
                lambda: [egm_regions(F, **params) for F in fs], len(fs), repeat)
    return out


def bench_extraction(sides, repeat, threads=None):
    import torch

    from sklearn_salreg.extraction import ActivationExtractor

    if threads:
        torch.set_num_threads(threads)

    images = photos()
    out = {}
    for side in sides:
        for batch_size in (1, 8):
            for precision in ("float32", "bfloat16"):
                extractor = ActivationExtractor(max_side=side, batch_size=batch_size)
                if precision != "float32":
                    if "precision" not in extractor.get_params():
                        continue  # the tree before has no such option
                    extractor.set_params(precision=precision)
                extractor.fit()
                extractor.transform(images[:1])  # warm up
                out[f"extraction {side}, batch {batch_size}, {precision} (images/s)"] = best_rate(
                    lambda: extractor.transform(images), len(images), repeat)
        # the hand loop: the network alone, images already resized and normalised
        model = ActivationExtractor(max_side=side).fit().model_
        model = model.to(memory_format=torch.channels_last)
        tensors = [ActivationExtractor(max_side=side).fit()._prepare(rgb, 0, "")[1][None]
                   .contiguous(memory_format=torch.channels_last) for rgb in images]
        for precision, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
            def loop():
                with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16,
                                                            enabled=dtype is not None):
                    for x in tensors:
                        model.features(x)
            loop()
            out[f"hand loop {side}, batch 1, channels-last, {precision} (images/s)"] = best_rate(
                loop, len(tensors), repeat)
    return out


def child(args):
    result = {"tree": os.path.dirname(__import__("sklearn_salreg").__file__)}
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if not args.skip_egm:
        result.update(bench_egm(args.n_maps, args.repeat))
    result.update(bench_extraction(args.sides, args.repeat, args.threads))
    print(json.dumps(result))


def run_child(tree, args):
    env = dict(os.environ, PYTHONPATH=tree)
    command = [sys.executable, __file__, "--child", "--n-maps", str(args.n_maps),
               "--repeat", str(args.repeat), "--sides", *map(str, args.sides),
               "--clock", args.clock, "--threads", str(args.threads)]
    if args.skip_egm:
        command.append("--skip-egm")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="source folder holding the sklearn_salreg to compare")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n-maps", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: process time (with --threads 1, a loaded machine's fairer clock)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for extraction (0: torch's default)")
    parser.add_argument("--skip-egm", action="store_true", help="extraction only")
    parser.add_argument("--quick", action="store_true", help="this tree, few maps, 512 only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.n_maps, args.repeat, args.sides, args.rounds = 10, 1, [512], 1
    if args.child:
        return child(args)
    trees = {"after": os.path.dirname(HERE)}
    if args.before:
        trees = {"before": os.path.abspath(args.before), **trees}
    rows = {}
    for round_ in range(args.rounds):
        for label, tree in trees.items():
            for key, value in run_child(tree, args).items():
                if key != "tree":
                    rows.setdefault(key, {}).setdefault(label, []).append(value)
            print(f"round {round_ + 1}: {label} done", file=sys.stderr, flush=True)
    labels = list(trees)
    print("| what | " + " | ".join(labels) + (" | after / before |" if args.before else " |"))
    print("|---" * (len(labels) + 1 + bool(args.before)) + "|")
    for key, values in rows.items():
        cells = [f"{max(values[k]):,.1f}" if k in values else "" for k in labels]
        if args.before:
            ratio = (max(values["after"]) / max(values["before"])
                     if "before" in values and "after" in values else None)
            cells.append(f"{ratio:.2f}x" if ratio else "")
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
