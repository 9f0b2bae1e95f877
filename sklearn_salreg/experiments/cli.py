"""Command line: ``python -m sklearn_salreg demo | table | report``.

demo
    Builds the built-in cluttered-instances benchmark, extracts activations with the
    embedded EfficientNet-Lite0, and prints Table 1 of the paper (MAC, Uniform,
    FS.EGM, OS.EGM, OS.EGM-4, each without and with diffusion), the saliency
    precision of FS and OS, and writes figures like Figures 3 and 9 of the paper.
table
    The same table on a real dataset folder (Oxford5k, Paris6k, revisited, INSTRE)
    with any backbone and weight file.
report
    The quality report: OS.EGM's levers tuned on half of the built-in benchmark's
    objects, the table reported on the other half (see sklearn_salreg.experiments.report).
"""

import argparse
import os
import sys
import time

__all__ = ["main"]


def _device(name):
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _configurations(args):
    from ..whitening import make_region_whitening

    region_whitening = make_region_whitening(n_components=args.region_dims,
                                             shrinkage=args.shrinkage)
    os_kwargs = dict(region_whitening=region_whitening, random_state=0)
    return {"MAC": {}, "Uniform": {}, "FS.EGM": {}, "OS.EGM": dict(os_kwargs),
            "OS.EGM-4": dict(os_kwargs), "OS.EGM-tuned": {}, "OS.EGM-4-tuned": {}}


def _extract(extractor, images, boxes=None, what="images"):
    start = time.perf_counter()
    X = extractor.transform(images, boxes=boxes)
    seconds = time.perf_counter() - start
    print(f"[extract] {len(images)} {what} in {seconds:.0f} s "
          f"({len(images) / seconds:.1f} images/s); maps {X.map_shape(0)}", file=sys.stderr)
    return X


def demo(args):
    import numpy as np

    from ..collection import MapCollection
    from ..datasets import make_cluttered_instances
    from .table1 import diffusion_for, evaluate_configurations, format_table, saliency_precisions
    from ..extraction import ActivationExtractor, box_to_activation

    os.makedirs(args.out, exist_ok=True)
    data = make_cluttered_instances(n_objects=args.n_objects, n_views=args.n_views,
                                    n_distractors=args.n_distractors, random_state=args.seed)
    print(f"[demo] built-in benchmark: {len(data.images)} images of "
          f"{data.images.shape[1]}x{data.images.shape[2]}, {args.n_objects} objects x "
          f"{args.n_views} views + {args.n_distractors} distractors; "
          f"{len(data.query_indices)} queries", file=sys.stderr)
    extractor = ActivationExtractor(max_side=args.max_side, device=_device(args.device),
                                    batch_size=8, verbose=args.verbose).fit()
    database = _extract(extractor, data.images, what="database images")
    # Queries are database images described from their box, which replaces detection
    queries = MapCollection(
        [database[int(i)] for i in data.query_indices],
        boxes=[box_to_activation(b, data.images.shape[1:3], database.map_shape(int(i))[:2])
               for b, i in zip(data.query_boxes, data.query_indices)])
    results = evaluate_configurations(database, queries, data.gnd, _configurations(args),
                                      diffusion=diffusion_for(len(database), args.diffusion_k),
                                      verbose=args.verbose)
    print()
    print(format_table(results, title=(
        f"Table 1 layout, built-in cluttered-instances benchmark (seed {args.seed}), "
        f"EfficientNet-Lite0 ImageNet, max side {args.max_side}, diffusion k = "
        f"{min(args.diffusion_k, len(database) - 1)}; mAP %")))

    # Saliency precision of FS and OS over the database images that show an object
    boxes = [np.zeros((0, 4), np.int64) if np.isnan(b).any() else
             box_to_activation(b, data.images.shape[1:3], database.map_shape(i)[:2])[None]
             for i, b in enumerate(data.boxes)]
    os_pipe = results["OS.EGM"]["pipeline"]
    X = os_pipe[:-1].transform(database)
    fs = saliency_precisions(X, boxes, "feature_saliency")
    os_ = saliency_precisions(X, boxes, "saliency")
    print(f"\nsaliency precision (mass inside the object box), {len(fs)} object images: "
          f"FS {100 * fs.mean():.1f} %, OS {100 * os_.mean():.1f} % "
          f"(OS higher on {100 * np.mean(os_ > fs):.0f} % of images)")

    try:
        from ..plotting import plot_egm_iterations, plot_saliency_examples
    except ImportError:  # pragma: no cover - matplotlib is an optional dependency
        print("matplotlib is not installed: no figures", file=sys.stderr)
        return
    Xf = os_pipe[:2].transform(database)  # FS and the FS.EGM regions
    shown = [int(i) for i in np.flatnonzero(data.labels >= 0)[:5]]
    fig9 = os.path.join(args.out, "figure9_saliency.png")
    plot_saliency_examples([data.images[i] for i in shown],
                           [Xf.field("feature_saliency")[i] for i in shown],
                           [Xf.field("regions")[i] for i in shown],
                           [X.field("saliency")[i] for i in shown],
                           [X.field("regions")[i] for i in shown], path=fig9,
                           true_boxes=[data.boxes[i] for i in shown])
    fig3 = os.path.join(args.out, "figure3_egm_iterations.png")
    plot_egm_iterations(data.images[shown[0]], Xf.field("feature_saliency")[shown[0]], path=fig3,
                        true_box=data.boxes[shown[0]], rho=5.0, tau=0.4, sigma=2.5)
    print(f"\nfigures: {fig9}, {fig3}")


def table(args):
    import numpy as np

    from ..datasets import load_retrieval_dataset
    from .table1 import diffusion_for, evaluate_configurations, format_table
    from ..extraction import ActivationExtractor

    data = load_retrieval_dataset(args.dataset, args.root, missing=args.missing)
    extractor = ActivationExtractor(backbone=args.backbone, layer=args.layer, weights=args.weights,
                                    max_side=args.max_side, device=_device(args.device),
                                    output=None if args.cache is None else
                                    os.path.join(args.cache, "database"),
                                    verbose=args.verbose).fit()
    database = _extract(extractor, data.images, what="database images")
    extractor.set_params(output=None if args.cache is None else os.path.join(args.cache, "queries"))
    queries = _extract(extractor, data.queries, boxes=np.asarray(data.query_boxes), what="queries")
    results = evaluate_configurations(database, queries, data.gnd, _configurations(args),
                                      diffusion=diffusion_for(len(database), args.diffusion_k),
                                      verbose=args.verbose)
    print(format_table(results, title=f"{args.dataset}, {args.backbone}; mAP %"))


def main(argv=None):
    """Parse ``argv`` (``sys.argv[1:]`` when None) and run the command it names.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after ``python -m sklearn_salreg``: ``demo``, ``table`` or
        ``report`` and their options (``--help`` lists them).
    """
    from ..whitening import REGION_WHITENING

    parser = argparse.ArgumentParser(prog="python -m sklearn_salreg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--max-side", type=int, default=512,
                        help="longer image side fed to the network (default 512)")
    common.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    common.add_argument("--region-dims", type=int, default=REGION_WHITENING["n_components"],
                        help="dimension of the whitened region descriptors of OS.EGM (64)")
    common.add_argument("--shrinkage", type=float, default=REGION_WHITENING["shrinkage"],
                        help="shrinkage of the region whitening (0.1)")
    common.add_argument("--diffusion-k", type=int, default=50,
                        help="neighbours per item in the diffusion graph (50, the paper's, "
                             "for databases of thousands; see the report for small ones)")
    common.add_argument("--verbose", type=int, default=1)

    d = sub.add_parser("demo", parents=[common], help="Table 1 on the built-in benchmark")
    d.add_argument("--out", default="salreg_demo", help="folder for the figures")
    # k = 5: the diffusion graph size the report chose on its training half (a few hundred
    # images with 6 views per object); the paper's 50 degenerates on such a small database
    d.set_defaults(func=demo, diffusion_k=5)

    t = sub.add_parser("table", parents=[common], help="Table 1 on a real dataset folder")
    t.add_argument("--dataset", required=True,
                   help="oxford5k, paris6k, roxford5k, rparis6k or instre")
    t.add_argument("--root", required=True, help="folder with <dataset>/gnd_<dataset>.pkl, jpg/")
    t.add_argument("--backbone", default="efficientnet-lite0")
    t.add_argument("--layer", default=None)
    t.add_argument("--weights", default=None, help="local weight file (state dict/checkpoint)")
    t.add_argument("--missing", default="raise", choices=["raise", "drop"])
    t.add_argument("--cache", default=None, help="folder to keep (and resume) extracted maps")
    t.set_defaults(func=table)

    r = sub.add_parser("report", parents=[common],
                       help="tune OS.EGM on half the objects, report on the other half")
    r.add_argument("--size", default="quick", choices=["quick", "instre"],
                   help="quick: 40 objects x 6 views + 80 distractors (default); instre: "
                        "50 objects x 50 views, 5 box queries per object out of the "
                        "database (chosen from INSTRE's statistics, see report.SIZES)")
    r.add_argument("--no-search", dest="search", action="store_false",
                   help="skip the lever searches: report the shipped configurations "
                        "(diffusion is still chosen on the training half)")
    r.add_argument("--multiscale", default=None, metavar="FOLDER",
                   help="also compare the shipped configurations described at scales 1, "
                        "1/sqrt(2), 1/2 (summed) with scale 1, on the held-out half; the "
                        "smaller scales' maps are kept in FOLDER")
    r.add_argument("--cache", default=None,
                   help="map folder to keep the extracted maps in (a rerun skips extraction)")
    r.set_defaults(func=_report)
    # the benchmark's size and seed (demo: its own defaults; report: override the size's)
    for p, defaults, what in ((d, (30, 6, 60), None), (r, (None,) * 3, "override the size's")):
        for option, default in zip(("--n-objects", "--n-views", "--n-distractors"), defaults):
            p.add_argument(option, type=int, default=default, help=what)
        p.add_argument("--seed", type=int, default=0)

    args = parser.parse_args(argv)
    args.func(args)


def _report(args):
    from .report import run_report

    run_report(args.size, seed=args.seed, max_side=args.max_side, cache=args.cache,
               device=_device(args.device), search=args.search, multiscale=args.multiscale,
               n_objects=args.n_objects, n_views=args.n_views, n_distractors=args.n_distractors,
               verbose=args.verbose)


if __name__ == "__main__":
    main()
