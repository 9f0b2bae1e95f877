"""Instance retrieval benchmarks read from a local folder in their published layout.

The layout is the one of cnnimageretrieval-pytorch and revisitop::

    <root>/<name>/gnd_<name>.pkl     imlist, qimlist, gnd (per query: bbx and labels)
    <root>/<name>/jpg/<image>.jpg    the images (imlist / qimlist names + ".jpg")

Oxford5k and Paris6k label each query's images ``ok`` / ``junk``; the revisited
versions (roxford5k, rparis6k) label them ``easy`` / ``hard`` / ``junk``. ``bbx`` is
the query box ``[x1, y1, x2, y2]`` in pixels of the full query image.
"""

import os
import pickle
import warnings

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_retrieval_dataset", "RETRIEVAL_DATASETS"]

#: Names understood by :func:`load_retrieval_dataset`.
RETRIEVAL_DATASETS = ("oxford5k", "paris6k", "roxford5k", "rparis6k", "instre")

# Per-query entries of gnd that list database indices.
_LABEL_KEYS = ("ok", "good", "easy", "hard", "junk")


def _image_path(folder, name):
    # INSTRE-style lists already name sub-folders and extensions; Oxford / Paris do not.
    return os.path.join(folder, name if os.path.splitext(name)[1] else name + ".jpg")


def _dataset_folder(name, root):
    """``root`` may be the dataset folder itself or the folder holding it."""
    root = os.fspath(root)
    for folder in (os.path.join(root, name), root):
        if os.path.isfile(os.path.join(folder, f"gnd_{name}.pkl")):
            return folder
    raise FileNotFoundError(
        f"no ground truth for {name!r}: expected {os.path.join(root, name, f'gnd_{name}.pkl')!r} "
        f"(or gnd_{name}.pkl directly in {root!r}). Get it with the images from the "
        "dataset's page, in the cnnimageretrieval-pytorch / revisitop layout.")


def load_retrieval_dataset(name, root, *, missing="raise"):
    """Load an instance retrieval benchmark from a local folder.

    Parameters
    ----------
    name : {"oxford5k", "paris6k", "roxford5k", "rparis6k", "instre"}
        The benchmark.
    root : str or path-like
        Folder holding ``<name>/gnd_<name>.pkl`` and ``<name>/jpg/`` (the ``datasets``
        folder of cnnimageretrieval-pytorch), or the ``<name>`` folder itself.
    missing : {"raise", "drop", "ignore"}, default="raise"
        What to do about image files that are not there. "raise": a
        ``FileNotFoundError`` saying how many are missing and which. "drop": keep
        only the images present (warning how many were dropped); queries whose image
        is missing are dropped with their ground truth, and the database indices in
        ``gnd`` are renumbered to the images kept. "ignore": return every path
        without looking at the disk.

    Returns
    -------
    data : Bunch
        images : list of str
            Paths of the database images.
        queries : list of str
            Paths of the query images (full images: crop them to ``query_boxes`` or
            pass the boxes to the extractor, as the protocol requires).
        query_boxes : ndarray of shape (n_queries, 4), float64
            ``[x1, y1, x2, y2]`` in pixels of each query image.
        gnd : list of dict
            Per query, int arrays of database indices: ``ok`` and ``junk``
            (Oxford5k, Paris6k), ``easy``, ``hard`` and ``junk`` (revisited).
        query_index : ndarray of shape (n_queries,), int
            Position of each query image in ``images``, -1 when it is not part of
            the database.
        names, query_names : list of str
            The image names of the ground truth file, for the images returned.
        name, folder : str
            The benchmark and the folder it was read from.
        DESCR : str
            A description of the dataset.

    Examples
    --------
    >>> from sklearn_salreg.datasets import load_retrieval_dataset
    >>> data = load_retrieval_dataset("oxford5k", "/data/datasets")  # doctest: +SKIP
    >>> len(data.images), len(data.queries), data.gnd[0].keys()  # doctest: +SKIP
    (5063, 55, dict_keys(['ok', 'junk']))
    """
    if name not in RETRIEVAL_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {RETRIEVAL_DATASETS}.")
    if missing not in ("raise", "drop", "ignore"):
        raise ValueError(f"missing must be 'raise', 'drop' or 'ignore'; got {missing!r}.")
    folder = _dataset_folder(name, root)
    with open(os.path.join(folder, f"gnd_{name}.pkl"), "rb") as f:
        cfg = pickle.load(f)
    names, query_names = list(cfg["imlist"]), list(cfg["qimlist"])
    images_dir = os.path.join(folder, "jpg")
    images = [_image_path(images_dir, n) for n in names]
    queries = [_image_path(images_dir, n) for n in query_names]
    gnd = [
        {key: np.asarray(g[key], dtype=np.int64).reshape(-1) for key in _LABEL_KEYS if key in g}
        for g in cfg["gnd"]
    ]
    boxes = np.array([np.asarray(g.get("bbx", [np.nan] * 4), dtype=np.float64).reshape(4)
                      for g in cfg["gnd"]]).reshape(-1, 4)
    position = {n: i for i, n in enumerate(names)}
    query_index = np.array([position.get(n, -1) for n in query_names], dtype=np.int64)

    keep_db = np.ones(len(images), bool)
    keep_q = np.ones(len(queries), bool)
    if missing != "ignore":
        keep_db = np.array([os.path.isfile(p) for p in images], dtype=bool)
        keep_q = np.array([os.path.isfile(p) for p in queries], dtype=bool)
        absent = [p for p, ok in zip(images, keep_db) if not ok]
        absent += [p for p, ok in zip(queries, keep_q) if not ok and p not in set(absent)]
        if absent and missing == "raise":
            raise FileNotFoundError(
                f"{len(absent)} image files of {name!r} are missing from {images_dir!r}, e.g. "
                f"{absent[:3]}. Pass missing='drop' to load only the images present.")
        if absent:
            warnings.warn(
                f"{name}: {len(absent)} missing images dropped; kept {keep_db.sum()} of "
                f"{len(images)} database images and {keep_q.sum()} of {len(queries)} queries.",
                UserWarning, stacklevel=2)
    # Renumber database indices to the images kept; labels of dropped images go.
    new_index = np.cumsum(keep_db) - 1
    new_index[~keep_db] = -1
    gnd = [{key: new_index[v][new_index[v] >= 0] for key, v in g.items()}
           for g, k in zip(gnd, keep_q) if k]
    query_index = query_index[keep_q]
    query_index = np.where(query_index >= 0, new_index[np.maximum(query_index, 0)], -1)
    return Bunch(
        images=[p for p, k in zip(images, keep_db) if k],
        queries=[p for p, k in zip(queries, keep_q) if k],
        query_boxes=boxes[keep_q],
        gnd=gnd,
        query_index=query_index,
        names=[n for n, k in zip(names, keep_db) if k],
        query_names=[n for n, k in zip(query_names, keep_q) if k],
        name=name,
        folder=folder,
        DESCR=(
            f"{name}: {int(keep_db.sum())} database images and {int(keep_q.sum())} queries "
            f"read from {folder!r}."
        ),
    )
