"""Object saliency (OS): how much each position looks like the objects that recur.

Paper section 3.8, equation (14)::

    S_p = F_p^Theta * sum_{i in N_p} s(v_i, u_p) f_i^theta g_i

where ``u_p`` is the whitened max-pooled descriptor of the square patch of side ``a``
centred on ``p``, ``N_p`` its ``k`` nearest region descriptors of the database,
``s(v, u) = max(v.u, 0)^beta``, ``f`` the regions' feature saliency and ``g`` their
centrality. Where feature saliency is zero the object saliency is exactly zero, and
those positions are never looked up.
"""

from functools import partial
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._param_validation import (HasMethods, NonNegativeReal, PositiveInt, PositiveReal,
                                       StrOptions, check_finite, check_params)
from .._base import MapTransformerMixin
from ..collection import check_map, check_saliency_map
from ..collection._validation import as_numpy, check_same_shape
from ..utils._parallel import group_by_shape
from ..discovery._search import ExactIndex, NNDescentIndex
from ..neighbors import IVFIndex
from ..utils import bfloat16_is_fast, check_device
from ..pooling import l2_normalize

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
    """
    return _weighted_similarities(similarities, neighbors,
                                  _region_weights(region_saliency, centrality, region_exponent),
                                  beta)


def _region_weights(region_saliency, centrality, region_exponent):
    """``f^theta g`` of every database region, computed once per transform."""
    return np.asarray(region_saliency, np.float64) ** region_exponent * np.asarray(
        centrality, np.float64)


def _weighted_similarities(similarities, neighbors, weight, beta):
    sims = np.maximum(np.asarray(similarities, np.float64), 0.0) ** beta
    return (sims * weight[neighbors]).sum(axis=1)


def _saliency_map(mask, fs, values, fs_exponent):
    """``F_p^Theta`` times the neighbour sum where ``mask``; exactly zero elsewhere."""
    S = np.zeros(mask.shape, dtype=np.float32)
    S[mask] = np.asarray(fs, np.float64) ** fs_exponent * values
    return S


def object_saliency(A, F, descriptors, region_saliency, centrality, *, whitening=None,
                    patch_size=3, n_neighbors=10, beta=3.0, fs_exponent=2.0,
                    region_exponent=3.0):
    """The object saliency map of one image against a database of regions.

    A plain exact search over ``descriptors``; :class:`ObjectSaliency` does the same
    for many images at once through the fitted index of a :class:`CentralityGraph`.

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

    Returns
    -------
    S : ndarray of shape (h, w), dtype float32
        Zero wherever ``F`` is zero.
    """
    check_params(OBJECT_SALIENCY_PARAMETERS, "object_saliency", patch_size=patch_size,
                 n_neighbors=n_neighbors, beta=beta, fs_exponent=fs_exponent,
                 region_exponent=region_exponent)
    A = check_map(A)
    F = check_saliency_map(F, shape=A.shape[:2])
    V = check_finite(descriptors, "descriptors", "object_saliency", ndim=2, allow_empty=False)
    for name, values, non_negative in (("region_saliency", region_saliency, True),
                                       ("centrality", centrality, False)):
        values = check_finite(values, name, "object_saliency", ndim=1, non_negative=non_negative)
        if values.shape != (len(V),):
            raise ValueError(
                f"{name} of object_saliency has shape {values.shape}; expected one value per "
                f"database region, ({len(V)},)."
            )
    mask = F > 0
    if not mask.any():
        return np.zeros(F.shape, dtype=np.float32)
    U = _patch_descriptors(A, patch_size, mask)
    if whitening is not None:
        U = np.asarray(whitening.transform(U), dtype=np.float32)
    if U.shape[1] != V.shape[1]:
        raise ValueError(
            f"object_saliency: the patch descriptors have {U.shape[1]} dimensions (after "
            f"whitening) but descriptors has {V.shape[1]}."
        )
    V = np.ascontiguousarray(V, dtype=np.float32)
    idx, sims = ExactIndex(V).query(U, min(n_neighbors, len(V)))
    values = neighbor_saliency(sims, idx, region_saliency, centrality, beta=beta,
                               region_exponent=region_exponent)
    return _saliency_map(mask, F[mask], values, fs_exponent)


def _image_patches(X, i, index, *, n_channels, patch_size, whitening=None):
    A = check_map(X[i], index=index, n_channels=n_channels)
    F = check_saliency_map(X.field("feature_saliency")[i], index=index, shape=A.shape[:2])
    mask = F > 0
    U = _patch_descriptors(A, patch_size, mask)
    if whitening is not None and len(U):
        # Whitened image by image: only the short whitened vectors of a batch are
        # ever stacked (a batch of raw patch descriptors is 100 MB of fresh pages).
        U = np.asarray(whitening.transform(U), dtype=np.float32)
    return mask, F[mask], U


def _patch_device(device):
    """Where the patch descriptors are computed: on a GPU in torch batches; None (NumPy,
    image by image) on the CPU, where the torch batches were slower."""
    return None if device.type == "cpu" else device


def _nndescent_query(index, U, k, epsilon):
    return index.query(as_numpy(U), k, epsilon=epsilon)  # pynndescent takes NumPy


def _ivf_query(index, U, k):
    sims, idx = index.query(as_numpy(U), k)
    return idx, sims


#: Database regions from which ``algorithm='auto'`` searches an :class:`IVFIndex`
#: (below: the graph's own index, as ``'graph'``); measured on the docs' scaling page.
IVF_MIN_REGIONS = 20_000


def _check_dims(U, n_dims):
    if U.shape[1] != n_dims:
        raise ValueError(
            f"patch descriptors have dimension {U.shape[1]} but the graph's region "
            f"descriptors have {n_dims}: the same whitening "
            "must map both (is a LearnedWhitening missing before the graph?)."
        )


def _batch_saliency(X, first, *, search, whitening, n_dims, k, n_channels, patch_size,
                    weight, beta, fs_exponent, patch_device=None):
    """Object saliency maps of the images of the chunk ``X`` (image ``first`` onwards):
    patch descriptors of all its images whitened and looked up in one batch. With a
    ``patch_device``, the patch descriptors and their whitening are computed there in
    torch, maps of one shape together, and handed to the search without a copy back."""
    if patch_device is not None:
        return _batch_saliency_torch(X, first, search=search, whitening=whitening,
                                     n_dims=n_dims, k=k, n_channels=n_channels,
                                     patch_size=patch_size, weight=weight, beta=beta,
                                     fs_exponent=fs_exponent, device=patch_device)
    patches = [_image_patches(X, i, first + i, n_channels=n_channels, patch_size=patch_size,
                              whitening=whitening)
               for i in range(len(X))]
    values = np.zeros(0)
    if sum(len(p[1]) for p in patches):
        U = np.concatenate([p[2] for p in patches if len(p[1])])
        _check_dims(U, n_dims)
        idx, sims = search(U, k)
        values = _weighted_similarities(sims, idx, weight, beta)
    maps, offset = [], 0
    for mask, fs, _ in patches:
        maps.append(_saliency_map(mask, fs, values[offset:offset + len(fs)], fs_exponent))
        offset += len(fs)
    return maps


def _batch_saliency_torch(X, first, *, search, whitening, n_dims, k, n_channels, patch_size,
                          weight, beta, fs_exponent, device):
    maps, features = [], []
    for i in range(len(X)):
        A = check_map(X[i], index=first + i, n_channels=n_channels)
        maps.append(A)
        features.append(check_saliency_map(X.field("feature_saliency")[i], index=first + i,
                                           shape=A.shape[:2]))
    out = [None] * len(maps)
    for members in group_by_shape(maps).values():
        masks = [features[i] > 0 for i in members]
        counts = [int(m.sum()) for m in masks]
        values = np.zeros(0)
        if sum(counts):
            U = _patch_tensor([maps[i] for i in members], patch_size, masks, whitening, device)
            _check_dims(U, n_dims)
            idx, sims = search(U, k)
            values = _weighted_similarities(sims, idx, weight, beta)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for j, i in enumerate(members):
            out[i] = _saliency_map(masks[j], features[i][masks[j]],
                                   values[offsets[j]:offsets[j + 1]], fs_exponent)
    return out


class ObjectSaliency(MapTransformerMixin, BaseEstimator):
    """Object saliency map of every image from the discovered region graph (stage 6).

    Reads the activation maps, the field ``feature_saliency`` and, from the
    collection's context, the fitted ``graph`` (a :class:`CentralityGraph`, put there
    by its ``transform``) and the region ``whitening`` (a fitted
    :class:`LearnedWhitening`, if the pipeline has one). Writes the field
    ``saliency`` so that the next :class:`EGMRegionDetector` detects on it. Patch
    descriptors of ``batch_size`` images are whitened and looked up in the graph's
    index together.

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
    precision : {'auto', 'float32', 'bfloat16'}, default='auto'
        Arithmetic of the exact search. ``'bfloat16'`` screens the products in
        bfloat16 and re-ranks the candidates in float32 with a margin that covers the
        rounding: the same neighbours as ``'float32'``, the maps equal within float32
        rounding; several times faster on CPUs with AVX512-BF16 (docs' benchmarks
        page), also faster on GPUs, but slower where bfloat16 is emulated. ``'auto'`` takes bfloat16 where it is native
        (:func:`~sklearn_salreg.utils.bfloat16_is_fast`).
    device : str or torch.device, default='cpu'
        Where the exact search runs (``'cuda'`` for a GPU). On a GPU the patch
        descriptors and their whitening are computed there too, the maps of a batch
        of one shape together (:func:`patch_descriptors_batch`); on the CPU they are
        computed image by image with NumPy. Maps and fitted attributes stay on the CPU.
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
    index_ : NNDescentIndex, IVFIndex or None
        The index built by ``fit`` for ``algorithm='nndescent'`` when the graph has
        none, or for ``'ivf'`` (also chosen by ``'auto'``); None otherwise.

    See Also
    --------
    object_saliency : the map of one image, by exact search.
    """

    _required_fields = ("feature_saliency", "graph")
    _reads_maps = True

    _parameter_constraints = {
        **OBJECT_SALIENCY_PARAMETERS,
        "beta": [PositiveReal, None],
        "graph": [HasMethods(["query"]), None],
        "batch_size": [PositiveInt],
        "algorithm": [StrOptions({"auto", "graph", "brute", "nndescent", "ivf"})],
        "epsilon": [NonNegativeReal],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, patch_size=3, n_neighbors=10, fs_exponent=2.0, region_exponent=3.0,
                 beta=None, graph=None, batch_size=256, algorithm="auto", epsilon=0.1,
                 precision="auto", device="cpu", random_state=None, n_jobs=None, verbose=0):
        self.patch_size = patch_size
        self.n_neighbors = n_neighbors
        self.fs_exponent = fs_exponent
        self.region_exponent = region_exponent
        self.beta = beta
        self.graph = graph
        self.batch_size = batch_size
        self.algorithm = algorithm
        self.epsilon = epsilon
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X, y=None):
        """Validate parameters; the discovery itself was fitted by :class:`CentralityGraph`.

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
        check_device(self.device, "ObjectSaliency")
        X = self._validate_collection(X, reset=True)
        graph = self._graph_of(X)
        self.index_ = None
        if self.algorithm == "nndescent" and not isinstance(graph.index_, NNDescentIndex):
            self.index_ = self._nndescent_index(graph)
        if self._algorithm(graph) == "ivf":
            self.index_ = IVFIndex(graph.descriptors_,
                                   random_state=check_random_state(self.random_state))
        return self

    def _algorithm(self, graph):
        """The algorithm, with ``'auto'`` resolved for this graph's database."""
        if self.algorithm != "auto":
            return self.algorithm
        return "ivf" if len(graph.descriptors_) >= IVF_MIN_REGIONS else "graph"

    def _nndescent_index(self, graph):
        V = graph.descriptors_
        degree = min(len(V) - 1, max(2 * self.n_neighbors, 30))
        index = NNDescentIndex(V, degree, random_state=check_random_state(self.random_state),
                               verbose=self.verbose)
        index.prepare()
        return index

    def _search(self, graph, device):
        """``search(U, k) -> (indices, similarities)`` for the chosen algorithm; the
        exact search runs on ``device`` (checked by the caller)."""
        algorithm = self._algorithm(graph)
        if algorithm == "ivf":
            index = getattr(self, "index_", None)
            if not isinstance(index, IVFIndex) or index.V is not graph.descriptors_:
                index = IVFIndex(graph.descriptors_,
                                 random_state=check_random_state(self.random_state))
            return partial(_ivf_query, index)
        if algorithm == "brute" or (algorithm == "graph"
                                         and not isinstance(graph.index_, NNDescentIndex)):
            precision = self.precision
            if precision == "auto":
                precision = "bfloat16" if bfloat16_is_fast(device) else "float32"
            return partial(ExactIndex(graph.descriptors_, precision).query, device=device)
        if algorithm == "nndescent":
            index = graph.index_
            if not isinstance(index, NNDescentIndex):
                index = getattr(self, "index_", None)
                if index is None or index.V is not graph.descriptors_:
                    index = self._nndescent_index(graph)
        else:  # 'graph' with an NN-descent graph: its own index
            index = graph.index_
        return partial(_nndescent_query, index, epsilon=self.epsilon)

    def _graph_of(self, X):
        graph = self.graph if self.graph is not None else X.context.get("graph")
        if graph is None:
            raise ValueError(
                "ObjectSaliency needs a fitted CentralityGraph: put one before it in the "
                "pipeline (its transform adds it to the collection's context) or pass graph=."
            )
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
        weight = _region_weights(graph.region_saliency_, graph.centrality_,
                                 self.region_exponent)
        device = check_device(self.device, type(self).__name__)
        kwargs = dict(search=self._search(graph, device), whitening=whitening,
                      patch_device=_patch_device(device),
                      n_dims=graph.descriptors_.shape[1], k=k, n_channels=self.n_channels_,
                      patch_size=self.patch_size, weight=weight, beta=beta,
                      fs_exponent=self.fs_exponent)
        starts = range(0, len(X), self.batch_size)
        if effective_n_jobs(self.n_jobs) == 1:
            maps = []
            for start in starts:
                maps.extend(_batch_saliency(X[start:start + self.batch_size], start, **kwargs))
                if self.verbose:
                    print(f"[ObjectSaliency] {min(start + self.batch_size, len(X))}/{len(X)} "
                          "images")
        else:
            batches = Parallel(n_jobs=self.n_jobs, prefer="threads",
                               verbose=max(0, 10 * int(self.verbose) - 1))(
                delayed(_batch_saliency)(X[start:start + self.batch_size], start, **kwargs)
                for start in starts)
            maps = [S for batch in batches for S in batch]
        return X.with_fields(saliency=maps)
