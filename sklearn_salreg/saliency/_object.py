"""Object saliency (OS): how much each position looks like the objects that recur.

Paper section 3.8, equation (14)::

    S_p = F_p^Theta * sum_{i in N_p} s(v_i, u_p) f_i^theta g_i

where ``u_p`` is the whitened max-pooled descriptor of the square patch of side ``a``
centred on ``p``, ``N_p`` its ``k`` nearest region descriptors of the database,
``s(v, u) = max(v.u, 0)^beta``, ``f`` the regions' feature saliency and ``g`` their
centrality. Where feature saliency is zero the object saliency is exactly zero, and
those positions are never looked up.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._param_validation import (HasMethods, NonNegativeReal, PositiveInt, PositiveReal,
                                       StrOptions, UnitInterval, check_finite, check_params)
from .._base import DEVICE_PARAMETERS, MapTransformerMixin
from ..collection import check_map, check_saliency_map
from ..collection._validation import as_numpy, check_same_shape
from ..utils._parallel import group_by_shape
from ..neighbors import ExactIndex, IVFIndex, NNDescentIndex, build_index
from ..utils import bfloat16_is_fast, check_device
from ..utils import l2_normalize

__all__ = ["patch_descriptors", "patch_descriptors_batch", "neighbor_saliency",
           "object_saliency", "ObjectSaliency"]


#: Constraints of the parameters of :func:`object_saliency`, shared with
#: :class:`ObjectSaliency` (whose ``beta`` may also be None: the graph's).
OBJECT_SALIENCY_PARAMETERS = {
    "patch_size": [PositiveInt],
    "n_neighbors": [PositiveInt],
    "beta": [PositiveReal],
    "fs_exponent": [NonNegativeReal],
    "region_exponent": [NonNegativeReal],
    "min_saliency": [UnitInterval],
}

def _sliding_max(A, size, axis):
    """Max over a window of ``size`` cells centred on each cell along ``axis``, clipped."""
    before = (size - 1) // 2
    out = A.copy()
    n = A.shape[axis]
    for shift in range(-before, size - before):
        if shift == 0 or abs(shift) >= n:
            continue
        dst = [slice(None)] * A.ndim
        src = [slice(None)] * A.ndim
        if shift > 0:
            dst[axis], src[axis] = slice(0, n - shift), slice(shift, n)
        else:
            dst[axis], src[axis] = slice(-shift, n), slice(0, n + shift)
        np.maximum(out[tuple(dst)], A[tuple(src)], out=out[tuple(dst)])
    return out


def patch_descriptors(A, patch_size=3, mask=None):
    """Max-pooled, L2-normalised descriptor of the square patch around each position.

    Parameters
    ----------
    A : array-like of shape (h, w, c)
        Activation map.
    patch_size : int, default=3
        Side ``a`` of the square patch, in cells; patches are clipped at the border.
        For an even side the patch extends one cell further after the centre.
    mask : ndarray of bool, shape (h, w), default=None
        Positions to return (all when None).

    Returns
    -------
    U : ndarray of shape (n_positions, c), dtype float32
        Rows in row-major order of the (masked) positions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import patch_descriptors
    >>> A = np.zeros((3, 3, 2), np.float32); A[0, 0] = [3.0, 4.0]
    >>> patch_descriptors(A, 3)[[0, 4, 8]].astype(float).round(3).tolist()
    [[0.6, 0.8], [0.6, 0.8], [0.0, 0.0]]
    """
    return _patch_descriptors(check_map(A), patch_size, mask)


def _patch_descriptors(A, patch_size, mask):
    """:func:`patch_descriptors` of a map already validated (object saliency checks
    each map once, naming the image, and does not check it again here)."""
    # Separable: a max over rows, then over columns; cost a * h * w * c.
    pooled = _sliding_max(_sliding_max(A, patch_size, 0), patch_size, 1)
    U = pooled.reshape(-1, A.shape[2]) if mask is None else pooled[mask]
    return l2_normalize(U)


def _whitening_tensors(whitening, device):
    """``(mean, projection)`` float32 tensors of a fitted :class:`LearnedWhitening`
    (also inside a ``FrozenEstimator``), or None for any other transformer."""
    fitted = getattr(whitening, "estimator", whitening)
    if not all(hasattr(fitted, a) for a in ("mean_", "projection_", "n_components_")):
        return None
    projection = np.asarray(fitted.projection_)[: fitted.n_components_]
    return (torch.as_tensor(np.asarray(fitted.mean_, np.float32), device=device),
            torch.as_tensor(projection.T.astype(np.float32), device=device))


def _unit_rows(U):
    norms = torch.linalg.vector_norm(U, dim=1, keepdim=True)
    return torch.where(norms > 0, U / torch.where(norms > 0, norms, 1.0), 0.0)


def _patch_tensor(maps, patch_size, masks, whitening, device):
    """Patch descriptors of validated same-shape maps at their masked positions, whitened,
    as one float32 tensor on ``device`` (map 0's rows first)."""
    A = torch.as_tensor(np.stack(maps), device=device)  # (b, h, w, c)
    before = (patch_size - 1) // 2
    # Zero padding leaves the max of non-negative activations unchanged: the
    # clipped patches of the per-image version.
    A = torch.nn.functional.pad(A, (0, 0, before, patch_size - 1 - before,
                                    before, patch_size - 1 - before))
    h, w = maps[0].shape[:2]
    rows = A[:, :h].clone()
    for shift in range(1, patch_size):
        torch.maximum(rows, A[:, shift:shift + h], out=rows)
    pooled = rows[:, :, :w].clone()
    for shift in range(1, patch_size):
        torch.maximum(pooled, rows[:, :, shift:shift + w], out=pooled)
    U = _unit_rows(pooled[torch.as_tensor(np.stack(masks), device=device)])
    if whitening is None:
        return U
    tensors = _whitening_tensors(whitening, device)
    if tensors is None:  # any other transformer: through NumPy
        return torch.as_tensor(np.asarray(whitening.transform(U.cpu().numpy()), np.float32),
                               device=device)
    mean, weights = tensors
    return _unit_rows((U - mean) @ weights)


def patch_descriptors_batch(maps, patch_size=3, masks=None, whitening=None, device="cpu"):
    """:func:`patch_descriptors` of many maps of one shape at once in torch, whitened.

    Parameters
    ----------
    maps : sequence of array-like of shape (h, w, c)
        Activation maps, all of one shape.
    patch_size : int, default=3
    masks : sequence of bool arrays of shape (h, w), default=None
        Positions to return per map (all when None).
    whitening : transformer or None, default=None
        A fitted :class:`LearnedWhitening` is applied in torch on ``device``; any other
        transformer through its ``transform``.
    device : str or torch.device, default="cpu"

    Returns
    -------
    ndarray of shape (n_positions, d), dtype float32
        The rows of map 0's positions (row-major), then map 1's, and so on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import patch_descriptors, patch_descriptors_batch
    >>> rng = np.random.default_rng(0)
    >>> maps = [rng.random((5, 6, 4), dtype=np.float32) for _ in range(2)]
    >>> U = patch_descriptors_batch(maps)
    >>> np.allclose(U, np.concatenate([patch_descriptors(A) for A in maps]), atol=1e-6)
    True
    """
    maps = [check_map(A, index=i) for i, A in enumerate(maps)]
    if not maps:
        return np.zeros((0, 0), dtype=np.float32)
    check_same_shape(maps)
    h, w = maps[0].shape[:2]
    if masks is None:
        masks = [np.ones((h, w), dtype=bool)] * len(maps)
    masks = [np.asarray(m, dtype=bool) for m in masks]
    if len(masks) != len(maps) or any(m.shape != (h, w) for m in masks):
        raise ValueError(f"need one ({h}, {w}) mask per map.")
    device = check_device(device, "patch_descriptors_batch")
    return _patch_tensor(maps, patch_size, masks, whitening, device).cpu().numpy()


def neighbor_saliency(similarities, neighbors, region_saliency, centrality, *, beta=3.0,
                      region_exponent=3.0):
    """``sum_{i in N_p} max(v_i.u_p, 0)^beta f_i^theta g_i`` for many patches at once.

    Parameters
    ----------
    similarities : ndarray of shape (n, k)
        Dot products of each patch with its ``k`` nearest database regions.
    neighbors : ndarray of shape (n, k)
        Indices of those regions.
    region_saliency, centrality : ndarray of shape (n_regions,)
        ``f`` and ``g`` of the database regions.
    beta : float, default=3.0
    region_exponent : float, default=3.0
        ``theta``.

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import neighbor_saliency
    >>> similarities = np.array([[0.5, -0.2], [1.0, 0.5]])
    >>> neighbors = np.array([[0, 1], [1, 0]])
    >>> f, g = np.array([1.0, 0.5]), np.array([2.0, 1.0])
    >>> neighbor_saliency(similarities, neighbors, f, g, beta=1.0, region_exponent=1.0).tolist()
    [1.0, 1.5]
    """
    return _weighted_similarities(similarities, neighbors,
                                  _region_weights(region_saliency, centrality, region_exponent),
                                  beta)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _region_weights(region_saliency, centrality, region_exponent):
    """``f^theta g`` of every database region, computed once per transform."""
    return np.asarray(region_saliency, np.float64) ** region_exponent * np.asarray(
        centrality, np.float64)


def _weighted_similarities(similarities, neighbors, weight, beta):
    sims = np.maximum(np.asarray(similarities, np.float64), 0.0) ** beta
    return (sims * weight[neighbors]).sum(axis=1)


def _saliency_map(mask, fs, values, fs_exponent):
    """``F_p^Theta`` times the neighbour sum where ``mask``; exactly zero elsewhere.

    A map whose values float32 cannot hold (a feature saliency of 1e20, squared) is
    divided by its largest absolute value: the stages after it use its shape only
    (the detectors threshold it relative to its maximum, the aggregation weighs
    regions by their share of it)."""
    S = np.zeros(mask.shape, dtype=np.float32)
    fs = np.asarray(fs, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        v = fs**fs_exponent * values
    if not np.abs(v).max(initial=0.0) <= _FLOAT32_MAX:
        v = (fs / fs.max()) ** fs_exponent * values
        v /= np.abs(v).max()
    S[mask] = v
    return S


def object_saliency(A, F, descriptors, region_saliency, centrality, *, whitening=None,
                    patch_size=3, n_neighbors=10, beta=3.0, fs_exponent=2.0,
                    region_exponent=3.0, min_saliency=0.0, search=None):
    """The object saliency map of one image against a database of regions.

    :class:`ObjectSaliency` computes the same maps for a collection, the patches of a
    batch of images looked up together in the index it built in ``fit``.

    Parameters
    ----------
    A : array-like of shape (h, w, c)
        Activation map of the image.
    F : array-like of shape (h, w)
        Its feature saliency map.
    descriptors : ndarray of shape (n_regions, d)
        Database region descriptors ``V`` (whitened, L2-normalised).
    region_saliency : ndarray of shape (n_regions,)
        Their feature saliency ``f``.
    centrality : ndarray of shape (n_regions,)
        Their centrality ``g``.
    whitening : transformer or None, default=None
        Maps L2-normalised patch descriptors (n, c) to the space of ``descriptors``
        (the fitted region whitening); None when the regions were not whitened.
    patch_size : int >= 1, default=3
        Side ``a`` of the patch.
    n_neighbors : int >= 1, default=10
        ``k``.
    beta : float > 0, default=3.0
        Exponent of the similarity.
    fs_exponent : float >= 0, default=2.0
        ``Theta``, exponent of the image's own feature saliency.
    region_exponent : float >= 0, default=3.0
        ``theta``, exponent of the neighbours' feature saliency.
    min_saliency : float in [0, 1), default=0.0
        Share of the image's largest feature saliency at or below which a position
        is not looked up (its object saliency is zero). 0 looks up every position
        with ``F > 0``, as the paper does; since the map is weighted by
        ``F ** fs_exponent``, a small share (0.1-0.2) drops the faint background
        positions, which are most of the patches and carry little of the map.
    search : index or None, default=None
        An index built on ``descriptors`` (:func:`~sklearn_salreg.neighbors.build_index`:
        its ``query(U, k)`` returns ``(similarities, indices)``), e.g. an approximate
        one, or one built once for many images; None: an exact search.

    Returns
    -------
    S : ndarray of shape (h, w), dtype float32
        Zero wherever ``F`` is zero (at most ``min_saliency * F.max()``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_salreg.saliency import object_saliency
    >>> A = np.zeros((2, 2, 2), np.float32); A[0, 0] = [1, 0]; A[1, 1] = [0, 1]
    >>> F = np.array([[1.0, 0], [0, 0.5]], np.float32)
    >>> V = np.eye(2, dtype=np.float32)
    >>> object_saliency(A, F, V, np.ones(2), np.array([1.0, 2.0]), patch_size=1,
    ...                 n_neighbors=1)
    array([[1. , 0. ],
           [0. , 0.5]], dtype=float32)
    """
    check_params(OBJECT_SALIENCY_PARAMETERS, "object_saliency", patch_size=patch_size,
                 n_neighbors=n_neighbors, beta=beta, fs_exponent=fs_exponent,
                 region_exponent=region_exponent, min_saliency=min_saliency)
    A = check_map(A)
    F = check_saliency_map(F, shape=A.shape[:2])
    V = check_finite(descriptors, "descriptors", "object_saliency", ndim=2, allow_empty=False)
    for name, values, non_negative in (("region_saliency", region_saliency, True),
                                       ("centrality", centrality, False)):
        values = check_finite(values, name, "object_saliency", ndim=1, non_negative=non_negative)
        if values.shape != (len(V),):
            raise ValueError(
                f"{name} of object_saliency has shape {values.shape}; expected one value per "
                f"database region, ({len(V)},).")
    if search is None:
        search = ExactIndex(np.ascontiguousarray(V, dtype=np.float32))
    elif len(search.V) != len(V):
        raise ValueError(f"search of object_saliency holds {len(search.V)} regions; "
                         f"descriptors has {len(V)}.")
    return _saliency_maps([A], [F], search=_query_of(search), whitening=whitening,
                          n_dims=V.shape[1], k=min(n_neighbors, len(V)),
                          patch_size=patch_size,
                          weight=_region_weights(region_saliency, centrality, region_exponent),
                          beta=beta, fs_exponent=fs_exponent, min_saliency=min_saliency)[0]


def _query_of(index, epsilon=None):
    """``search(U, k) -> (sims, indices)`` of an index; pynndescent takes NumPy."""
    if isinstance(index, NNDescentIndex):
        return lambda U, k: index.query(as_numpy(U), k, epsilon=epsilon)
    if isinstance(index, IVFIndex):  # NumPy queries
        return lambda U, k: index.query(as_numpy(U), k)
    return index.query


#: Database regions from which ``algorithm='auto'`` searches an :class:`IVFIndex`
#: (below: the graph's own index, as ``'graph'``); measured on the docs' scaling page.
IVF_MIN_REGIONS = 20_000


def _check_dims(U, n_dims):
    if U.shape[1] != n_dims:
        raise ValueError(
            f"patch descriptors have dimension {U.shape[1]} (after whitening) but the "
            f"database's region descriptors have {n_dims}: the same whitening "
            "must map both (is a LearnedWhitening missing before the graph?).")


def _patch_rows(maps, masks, patch_size, whitening, device):
    """Whitened patch descriptors at the masked positions of validated maps, map 0's
    rows first: NumPy image by image (``device=None``: the faster on the CPU; only the
    short whitened vectors are stacked), or one torch batch of same-shape maps."""
    if device is not None:
        return _patch_tensor(maps, patch_size, masks, whitening, device)
    rows = []
    for A, mask in zip(maps, masks):
        if mask.any():
            U = _patch_descriptors(A, patch_size, mask)
            if whitening is not None:
                U = np.asarray(whitening.transform(U), dtype=np.float32)
            rows.append(U)
    return np.concatenate(rows)


def _looked_up(F, min_saliency):
    """The positions whose patch is looked up: ``F > min_saliency * max(F)``."""
    return F > (min_saliency * F.max() if min_saliency and F.size else 0)


def _saliency_maps(maps, features, *, search, whitening, n_dims, k, patch_size, weight, beta,
                   fs_exponent, min_saliency=0.0, device=None, rows=None):
    """Equation (14) for validated maps and feature saliency maps: the patches of every
    position with ``F > min_saliency * max(F)`` (of all the maps at once, or of each
    group of same-shape maps on a torch ``device``) looked up in one ``search``; zero
    elsewhere. ``rows`` (CPU only): each map's whitened patch rows, computed already
    (``maps`` unused)."""
    masks = [_looked_up(F, min_saliency) for F in features]
    groups = [range(len(features))] if device is None else group_by_shape(maps).values()
    out = [None] * len(features)
    for members in groups:
        counts = [int(masks[i].sum()) for i in members]
        values = np.zeros(0)
        if sum(counts):
            U = (np.concatenate([rows[i] for i in members if rows[i] is not None])
                 if rows is not None else
                 _patch_rows([maps[i] for i in members], [masks[i] for i in members],
                             patch_size, whitening, device))
            _check_dims(U, n_dims)
            sims, indices = search(U, k)
            values = _weighted_similarities(sims, indices, weight, beta)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for j, i in enumerate(members):
            out[i] = _saliency_map(masks[i], features[i][masks[i]],
                                   values[offsets[j]:offsets[j + 1]], fs_exponent)
    return out


def _batch_saliency(X, first, *, n_channels, **kwargs):
    """Object saliency maps of the images of the chunk ``X`` (image ``first`` onwards)."""
    maps, features, rows = [], [], []
    on_cpu = kwargs.get("device") is None
    for i in range(len(X)):
        A = check_map(X[i], index=first + i, n_channels=n_channels)
        F = check_saliency_map(X.field("feature_saliency")[i], index=first + i, shape=A.shape[:2])
        features.append(F)
        if on_cpu:
            # Keep the image's whitened patch rows, not its map: the maps of a batch
            # are hundreds of MB (a torch device needs a group's maps together).
            mask = _looked_up(F, kwargs["min_saliency"])
            rows.append(_patch_rows([A], [mask], kwargs["patch_size"], kwargs["whitening"],
                                    None) if mask.any() else None)
        else:
            maps.append(A)
    return _saliency_maps(maps, features, rows=rows if on_cpu else None, **kwargs)


class ObjectSaliency(MapTransformerMixin, BaseEstimator):
    """Object saliency map of every image from the discovered region graph (stage 6).

    Reads the activation maps, the field ``feature_saliency`` and, from the
    collection's context, the fitted ``graph`` (a :class:`CentralityGraph`, put there
    by its ``transform``) and the region ``whitening`` (a fitted
    :class:`LearnedWhitening`, if the pipeline has one). Writes the field
    ``saliency`` so that the next :class:`EGMRegionDetector` detects on it. Patch
    descriptors of ``batch_size`` images are whitened and looked up together in the
    index built by ``fit``; each map is the one :func:`object_saliency` gives with that
    index as its ``search``.

    Parameters
    ----------
    patch_size : int, default=3
        Side ``a`` of the square patch around each position (not given in the paper).
    n_neighbors : int, default=10
        ``k`` nearest database regions per patch (not given in the paper).
    fs_exponent : float, default=2.0
        ``Theta``, exponent of the image's feature saliency.
    region_exponent : float, default=3.0
        ``theta``, exponent of the neighbours' feature saliency.
    beta : float or None, default=None
        Similarity exponent; None uses the graph's ``beta``.
    min_saliency : float in [0, 1), default=0.0
        Share of each image's largest feature saliency at or below which a position
        is not looked up (its object saliency is zero); 0: every position with
        feature saliency above zero, as in the paper. The search costs one lookup per
        position, so on large collections a share of 0.1-0.2 is the cheapest lever:
        its effect on the mAP is on the docs' scaling page.
    graph : CentralityGraph or None, default=None
        A fitted graph to use instead of the one in the collection's context.
    batch_size : int, default=256
        Images whose patches are searched together (fewer, larger calls, each
        allocating the search's similarity buffer).
    algorithm : {'auto', 'graph', 'brute', 'nndescent', 'ivf'}, default='auto'
        Search of the ``k`` nearest regions. ``'auto'`` is ``'ivf'`` from
        ``IVF_MIN_REGIONS`` database regions on, ``'graph'`` below. ``'ivf'`` is
        approximate: an :class:`~sklearn_salreg.neighbors.IVFIndex` (k-means lists, a
        few probed per patch) built in ``fit``; its error on the OS maps and the mAP
        are on the docs' scaling page. ``'graph'`` uses the graph's own index
        (exact if the graph used the exact search, NN-descent otherwise); ``'brute'``
        is always exact (blocked products and top-k, see ``precision``); ``'nndescent'`` is
        approximate: the graph's NN-descent index, or one built in ``fit`` (with a
        one-off numba compilation per process). The exact search costs
        ``n_regions * d`` per patch and every position of every image is a patch, so
        large databases need it; its speed and the error of the OS maps it gives are
        on the docs' benchmarks page. The bfloat16-screened exact search
        (``precision``) has no error and stays the default.
    epsilon : float, default=0.1
        Search breadth of NN-descent queries (larger: slower, more accurate).
    index_params : dict or None, default=None
        Parameters of the inverted file, used where the search is ``'ivf'`` (also
        where ``'auto'`` chooses it): ``n_lists`` (default
        ``round(2 * sqrt(n_regions))``) and ``n_probe`` (default 16), the lists probed
        per patch: fewer is faster and less accurate (the docs' scaling page
        measures both).
    precision : {'auto', 'float32', 'bfloat16'}, default='auto'
        Arithmetic of the exact search. ``'bfloat16'`` screens the products in
        bfloat16 and re-ranks the candidates in float32 with a margin that covers the
        rounding: the same neighbours as ``'float32'``, the maps equal within float32
        rounding; several times faster on CPUs with AVX512-BF16 (docs' benchmarks
        page), also faster on GPUs, but slower where bfloat16 is emulated. ``'auto'`` takes bfloat16 where it is native
        (:func:`~sklearn_salreg.utils.bfloat16_is_fast`).
    device : None, str or torch.device, default=None
        None: the CPU, the patch descriptors computed image by image with NumPy (the
        faster there) and the exact search in torch. A device (``'cpu'``, ``'cuda'``,
        ``'cuda:1'``): the exact search, the patch descriptors and their whitening run
        in torch there, the maps of a batch of one shape together
        (:func:`patch_descriptors_batch`). Maps and fitted attributes stay on the CPU.
    random_state : int, RandomState instance or None, default=None
        Seed of an NN-descent index built by ``fit``.
    n_jobs : int, default=None
        Joblib workers, threads by default, each taking batches of ``batch_size``
        images (reading, patch descriptors, whitening and search); numpy and torch
        release the GIL. The search itself already uses torch's or numba's threads.
    verbose : int, default=0
        Progress messages.

    Attributes
    ----------
    n_channels_ : int
        Channels of the maps seen in ``fit``.
    index_ : ExactIndex, NNDescentIndex or IVFIndex
        The search over the graph's region descriptors, built by ``fit`` (the graph's
        own NN-descent index where it has one; an inverted file for ``'ivf'``, which
        ``'auto'`` chooses from ``IVF_MIN_REGIONS`` regions). Should the graph have
        grown since (:meth:`CentralityGraph.partial_fit`), ``transform`` searches a new
        index of its regions.

    See Also
    --------
    object_saliency : the map of one image, by exact search.

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn_salreg import (CentralityGraph, EGMRegionDetector, FeatureSaliency,
    ...                             ObjectSaliency, RegionMaxPooler)
    >>> from sklearn_salreg.datasets import make_maps
    >>> maps = make_maps(6, n_channels=16)
    >>> X = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector()),
    ...               ("pool", RegionMaxPooler()),
    ...               ("graph", CentralityGraph(n_neighbors=3))]).fit_transform(maps)
    >>> S = ObjectSaliency(n_neighbors=4).fit_transform(X).field("saliency")
    >>> len(S), S[0].shape, S[0].dtype
    (6, (12, 11), dtype('float32'))
    >>> bool(((S[0] > 0) <= (X.field("feature_saliency")[0] > 0)).all())
    True
    """

    _required_fields = ("feature_saliency", "graph")
    _reads_maps = True

    _parameter_constraints = {
        **OBJECT_SALIENCY_PARAMETERS,
        "beta": [PositiveReal, None],
        "graph": [HasMethods(["query"]), None],
        "algorithm": [StrOptions({"auto", "graph", "brute", "nndescent", "ivf"})],
        "epsilon": [NonNegativeReal],
        "index_params": [dict, None],  # keys checked in fit
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "random_state": ["random_state"],
        **DEVICE_PARAMETERS,
    }

    def __init__(self, patch_size=3, n_neighbors=10, fs_exponent=2.0, region_exponent=3.0,
                 beta=None, min_saliency=0.0, graph=None, batch_size=256, algorithm="auto",
                 epsilon=0.1, index_params=None, precision="auto", device=None,
                 random_state=None, n_jobs=None, verbose=0):
        self.patch_size = patch_size
        self.n_neighbors = n_neighbors
        self.fs_exponent = fs_exponent
        self.region_exponent = region_exponent
        self.beta = beta
        self.min_saliency = min_saliency
        self.graph = graph
        self.batch_size = batch_size
        self.algorithm = algorithm
        self.epsilon = epsilon
        self.index_params = index_params
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X, y=None):
        """Build the search over the graph's region descriptors (``index_``); the
        discovery itself was fitted by :class:`CentralityGraph`.

        Parameters
        ----------
        X : MapCollection
            With the field ``feature_saliency`` and a ``graph`` in its context (or
            ``graph`` given as a parameter).
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        self._device()
        unknown = set(self.index_params or {}) - {"n_lists", "n_probe"}
        if unknown:
            raise ValueError(f"index_params of ObjectSaliency takes 'n_lists' and 'n_probe'; "
                             f"got {sorted(unknown)}.")
        X = self._validate_collection(X, reset=True)
        self.index_ = self._build_index(self._graph_of(X))
        return self

    def _algorithm(self, graph):
        """The algorithm, with ``'auto'`` resolved for this graph's database."""
        if self.algorithm != "auto":
            return self.algorithm
        return "ivf" if len(graph.descriptors_) >= IVF_MIN_REGIONS else "graph"

    def _build_index(self, graph):
        """The search over ``graph.descriptors_`` for the chosen algorithm (the graph's
        own NN-descent index where it has one), made by :func:`build_index`."""
        own = graph.index_
        algorithm = self._algorithm(graph)
        if isinstance(own, NNDescentIndex) and algorithm in ("graph", "nndescent"):
            return own
        if algorithm == "graph":
            algorithm = "brute"
        params = {"epsilon": self.epsilon} if algorithm == "nndescent" else {}
        if algorithm == "ivf":
            params = dict(self.index_params or {})
        if algorithm == "brute":
            device = self._device()
            precision = self.precision
            if precision == "auto":
                precision = "bfloat16" if bfloat16_is_fast(device or "cpu") else "float32"
            params = {"precision": precision, "device": device}
        index = build_index(graph.descriptors_, algorithm, self.n_neighbors,
                            random_state=check_random_state(self.random_state),
                            verbose=self.verbose, **params)
        if hasattr(index, "prepare"):  # build the search structures now, not in transform
            index.prepare()
        return index

    def _search(self, graph):
        """``search(U, k) -> (sims, indices)`` of the fitted index (a new one if the
        graph has grown since ``fit``)."""
        index = self.index_
        if index.V is not graph.descriptors_:
            index = self._build_index(graph)
        return _query_of(index, self.epsilon)

    def _graph_of(self, X):
        graph = self.graph if self.graph is not None else X.context.get("graph")
        if graph is None:
            raise ValueError(
                "ObjectSaliency needs a fitted CentralityGraph: put one before it in the "
                "pipeline (its transform adds it to the collection's context) or pass graph=.")
        check_is_fitted(graph)
        return graph

    def transform(self, X):
        """Object saliency map of every image.

        Parameters
        ----------
        X : MapCollection

        Returns
        -------
        MapCollection
            ``X`` with the field ``saliency`` replaced by the object saliency maps.
        """
        check_is_fitted(self)
        X = self._validate_collection(X, reset=False)
        X.field("feature_saliency")
        graph = self._graph_of(X)
        whitening = X.context.get("whitening")
        beta = graph.beta if self.beta is None else self.beta
        k = min(self.n_neighbors, len(graph.descriptors_))
        weight = _region_weights(graph.region_saliency_, graph.centrality_, self.region_exponent)
        kwargs = dict(search=self._search(graph), whitening=whitening, device=self._device(),
                      n_dims=graph.descriptors_.shape[1], k=k, n_channels=self.n_channels_,
                      patch_size=self.patch_size, weight=weight, beta=beta,
                      fs_exponent=self.fs_exponent, min_saliency=self.min_saliency)
        # threads: the batches share the search index (its searches release the GIL)
        return X.with_fields(saliency=self._map_batches(_batch_saliency, X, prefer="threads",
                                                        **kwargs))
