"""The paper's named configurations, one factory each.

Every factory returns an unfitted :class:`~sklearn.pipeline.Pipeline` from maps to
global descriptors. Step names are shared so that one parameter grid fits several
configurations: ``egm`` is always the detector whose regions are pooled into the
descriptor (on FS for FS.EGM, on OS for OS.EGM), ``agg`` the aggregator.

==========  ===========================================================================
name        steps
==========  ===========================================================================
MAC         detect (whole map) -> agg
Uniform     detect (R-MAC grid) -> agg
FS.EGM      fs -> egm (FS defaults) -> pool -> agg
OS.EGM      fs -> fs_egm -> pool -> whiten -> graph -> os -> egm (OS defaults) -> agg
OS.EGM-4    as OS.EGM, with R-MAC sub-regions at 2 scales inside each final region
*-tuned     OS.EGM and OS.EGM-4 with the levers chosen by the quality report (whole-image
            queries)
OS.EGM-box  OS.EGM with the levers chosen by the quality report for queries described
            from their box
==========  ===========================================================================

The paper's configurations keep the paper's behaviour for every lever; the tuned ones
are separate names, so that both stay reproducible.

Pass ``memory=`` (a folder or :class:`joblib.Memory`) so that a grid search over
later steps reuses the early ones.
"""

from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .detection import (BoxQueryEGMDetector, EGMRegionDetector, UniformRegionDetector,
                        WholeMapDetector)
from .discovery import CentralityGraph
from .pooling import RegionAggregator, RegionMaxPooler
from .saliency import FeatureSaliency, ObjectSaliency
from .whitening import LearnedWhitening, make_region_whitening

__all__ = ["CONFIGURATIONS", "make_configuration", "make_mac", "make_uniform", "make_fs_egm",
           "make_os_egm", "make_os_egm4", "make_os_egm_tuned", "make_os_egm4_tuned",
           "make_os_egm_box", "on_device", "add_images"]

#: The paper's FS.EGM and OS.EGM detector settings (section 4.2).
FS_EGM_DEFAULTS = dict(rho=5.0, tau=0.4, sigma=2.5)
OS_EGM_DEFAULTS = dict(rho=2.0, tau=0.0, sigma=2.0)


def _aggregator(whitening, n_jobs, aggregation=None):
    whitening = clone(whitening) if hasattr(whitening, "fit") else whitening
    return RegionAggregator(**(aggregation or {}), whitening=whitening, n_jobs=n_jobs)


def make_mac(*, whitening=None, memory=None, n_jobs=None):
    """MAC: global max pooling (one region, the whole map; the query box on the query side).

    Parameters
    ----------
    whitening : transformer or None, default=None
        Whitening of the global vector, fitted on the database (e.g.
        ``LearnedWhitening(n_components=128)``).
    memory : str, joblib.Memory or None, default=None
        Cache of the pipeline's early steps.
    n_jobs : int, default=None
        Joblib workers of the per-image steps.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.pipelines import make_mac
    >>> make_mac().fit_transform(make_maps(n_maps=4, n_channels=8)).shape
    (4, 8)
    """
    return Pipeline([("detect", WholeMapDetector()), ("agg", _aggregator(whitening, n_jobs))],
                    memory=memory)


def make_uniform(*, levels=3, whitening=None, memory=None, n_jobs=None):
    """Uniform (R-MAC): max pooling over the R-MAC grid of ``levels`` scales, summed.

    Parameters are those of :func:`make_mac`, plus ``levels`` of the grid.

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.pipelines import make_uniform
    >>> make_uniform(levels=2).fit_transform(make_maps(n_maps=4, n_channels=8)).shape
    (4, 8)
    """
    return Pipeline([("detect", UniformRegionDetector(levels=levels)),
                     ("agg", _aggregator(whitening, n_jobs))], memory=memory)


def make_fs_egm(*, egm=None, whitening=None, memory=None, n_jobs=None):
    """FS.EGM: regions detected by EGM on the feature saliency map.

    Parameters
    ----------
    egm : dict, default=None
        Parameters of the detector; the paper's ``rho=5, tau=0.4, sigma=2.5`` by default.
    whitening, memory, n_jobs
        As in :func:`make_mac`.

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_maps
    >>> from sklearn_salreg.pipelines import make_fs_egm
    >>> make_fs_egm(egm=dict(rho=2.0)).fit_transform(make_maps(n_maps=4, n_channels=8)).shape
    (4, 8)
    """
    return Pipeline([
        ("fs", FeatureSaliency(n_jobs=n_jobs)),
        ("egm", EGMRegionDetector(**{**FS_EGM_DEFAULTS, **(egm or {})}, n_jobs=n_jobs)),
        ("pool", RegionMaxPooler(n_jobs=n_jobs)),
        ("agg", _aggregator(whitening, n_jobs)),
    ], memory=memory)


def make_os_egm(*, fs_egm=None, egm=None, region_whitening=None, graph=None,
                object_saliency=None, aggregation=None, whitening=None, sub_levels=0,
                memory=None, n_jobs=None, random_state=None):
    """OS.EGM: regions detected by EGM on the object saliency map.

    Parameters
    ----------
    fs_egm : dict, default=None
        Parameters of the first detector (on FS); the paper's FS.EGM values by default.
    egm : dict, default=None
        Parameters of the final detector (on OS), a :class:`BoxQueryEGMDetector`; the
        paper's ``rho=2, tau=0, sigma=2``, and a query box described by the box alone.
    region_whitening : LearnedWhitening or None, default=None
        Whitening of the region descriptors that the graph links; None uses
        ``LearnedWhitening()`` (PCA whitening fitted on the database regions). Pass a
        ``FrozenEstimator`` around a whitening learned elsewhere to reuse it.
    graph : dict, default=None
        Parameters of :class:`CentralityGraph`.
    object_saliency : dict, default=None
        Parameters of :class:`ObjectSaliency`.
    aggregation : dict, default=None
        Parameters of :class:`RegionAggregator` (``weighting``, ``max_regions``); the
        paper's plain sum by default.
    whitening : transformer, "region" or None, default=None
        Whitening of the global vector.
    sub_levels : int, default=0
        2 gives OS.EGM-4.
    memory, n_jobs
        As in :func:`make_mac`.
    random_state : int or None, default=None
        Seed of the approximate k-NN graph (large databases).

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_object_maps
    >>> from sklearn_salreg.pipelines import make_os_egm
    >>> from sklearn_salreg.whitening import LearnedWhitening
    >>> maps = make_object_maps(n_objects=3, n_views=3, n_distractors=2, n_channels=16,
    ...                         random_state=0)[0]
    >>> os_egm = make_os_egm(region_whitening=LearnedWhitening(n_components=8), random_state=0)
    >>> os_egm.fit_transform(maps).shape
    (11, 16)
    """
    region_whitening = LearnedWhitening() if region_whitening is None else clone(region_whitening)
    return Pipeline([
        ("fs", FeatureSaliency(n_jobs=n_jobs)),
        ("fs_egm", EGMRegionDetector(**{**FS_EGM_DEFAULTS, **(fs_egm or {})}, n_jobs=n_jobs)),
        ("pool", RegionMaxPooler(n_jobs=n_jobs)),
        ("whiten", region_whitening),
        ("graph", CentralityGraph(**{"random_state": random_state, "n_jobs": n_jobs,
                                     **(graph or {})})),
        ("os", ObjectSaliency(**{"n_jobs": n_jobs, **(object_saliency or {})})),
        ("egm", BoxQueryEGMDetector(**{**OS_EGM_DEFAULTS, **(egm or {})},
                                    sub_levels=sub_levels, n_jobs=n_jobs)),
        ("agg", _aggregator(whitening, n_jobs, aggregation)),
    ], memory=memory)


def make_os_egm4(**kwargs):
    """OS.EGM-4: OS.EGM with uniform sub-regions at 2 scales inside each detected region.

    Examples
    --------
    >>> from sklearn_salreg.pipelines import make_os_egm4
    >>> make_os_egm4().named_steps["egm"].sub_levels
    2
    """
    return make_os_egm(sub_levels=2, **kwargs)


#: Levers chosen by ``python -m sklearn_salreg report`` (grid search on the training half
#: of the built-in benchmark's objects, seed 0, EfficientNet-Lite0 at 512, each fold of
#: whole objects scored as its own database): a sharper object saliency map for the
#: final detector (rho=10, tau=0.3), regions weighted by their share of the OS mass,
#: each region sum-pooled over activations weighted by the squared (max-normalised) OS
#: map, and region descriptors whitened to 64 dimensions (PCA, shrinkage 0.1).
TUNED_OS_EGM = dict(egm=dict(rho=10.0, tau=0.3),
                    aggregation=dict(weighting="mass", pooling="sum", saliency_exponent=2.0))


def _shipped_os_egm(levers, kwargs):
    """OS.EGM with shipped ``levers`` and the PCA region whitening, ``kwargs`` on top."""
    return make_os_egm(**{**levers, "region_whitening": make_region_whitening(supervised=False),
                          "random_state": 0, **kwargs})


def make_os_egm_tuned(**kwargs):
    """OS.EGM with the levers chosen by the quality report (see :data:`TUNED_OS_EGM`).

    Keyword arguments override the tuned values (they are passed to :func:`make_os_egm`).

    Examples
    --------
    >>> from sklearn_salreg.pipelines import make_os_egm_tuned
    >>> egm = make_os_egm_tuned().named_steps["egm"]
    >>> egm.rho, egm.tau
    (10.0, 0.3)
    """
    return _shipped_os_egm(TUNED_OS_EGM, kwargs)


def make_os_egm4_tuned(**kwargs):
    """OS.EGM-4 with the levers chosen by the quality report.

    Examples
    --------
    >>> from sklearn_salreg.pipelines import make_os_egm4_tuned
    >>> egm = make_os_egm4_tuned().named_steps["egm"]
    >>> egm.rho, egm.tau, egm.sub_levels
    (10.0, 0.3, 2)
    """
    return make_os_egm_tuned(sub_levels=2, **kwargs)


#: Levers chosen by ``python -m sklearn_salreg report`` under the box protocol (queries
#: described from their box, as in INSTRE and Table 1 of the paper): the grid search of
#: ``report.BOX_TUNING_GRID`` on the training half of the quick size (seed 0), scored by
#: ``make_box_scorer``: the final detector of the whole-image configuration, the query
#: described by its box and the regions EGM finds inside it, regions weighted by their
#: OS mass and sum-pooled over plain activations (no saliency weighting), PCA region
#: whitening to 64 dimensions (the whitening from discovered pairs was in the grid and lost).
BOX_OS_EGM = dict(egm=dict(rho=10.0, tau=0.3, query_regions="box+detect"),
                  aggregation=dict(weighting="mass", pooling="sum", saliency_exponent=0.0))


def make_os_egm_box(**kwargs):
    """OS.EGM for queries described from their box, with the levers of :data:`BOX_OS_EGM`.

    The whole-image protocol's configuration is :func:`make_os_egm_tuned`. Keyword
    arguments override the tuned values (they are passed to :func:`make_os_egm`).

    Examples
    --------
    >>> from sklearn_salreg.pipelines import make_os_egm_box
    >>> make_os_egm_box().named_steps["egm"].query_regions
    'box+detect'
    """
    return _shipped_os_egm(BOX_OS_EGM, kwargs)


#: Named configurations of Table 1 of the paper.
CONFIGURATIONS = {
    "MAC": make_mac,
    "Uniform": make_uniform,
    "FS.EGM": make_fs_egm,
    "OS.EGM": make_os_egm,
    "OS.EGM-4": make_os_egm4,
    "OS.EGM-tuned": make_os_egm_tuned,
    "OS.EGM-4-tuned": make_os_egm4_tuned,
    "OS.EGM-box": make_os_egm_box,
}


def make_configuration(name, **kwargs):
    """The pipeline of a named configuration (a key of :data:`CONFIGURATIONS`).

    Examples
    --------
    >>> from sklearn_salreg.pipelines import CONFIGURATIONS, make_configuration
    >>> sorted(CONFIGURATIONS)[:3]
    ['FS.EGM', 'MAC', 'OS.EGM']
    >>> [name for name, _ in make_configuration("FS.EGM").steps]
    ['fs', 'egm', 'pool', 'agg']
    """
    try:
        factory = CONFIGURATIONS[name]
    except KeyError:
        raise ValueError(f"unknown configuration {name!r}; choose from {list(CONFIGURATIONS)}.")
    return factory(**kwargs)


def on_device(pipeline, device):
    """Set ``device`` on every step of ``pipeline`` that has one, and return it.

    ``device`` means the same on every step: None computes on the CPU by the
    fastest implementation there; a torch device (``"cuda"``, ``"cuda:1"``,
    ``"cpu"``) computes in torch batches on that device. So
    ``on_device(make_os_egm(), "cuda")`` moves every heavy stage to the GPU, and
    ``on_device(pipeline, None)`` brings a pipeline fitted there back to the CPU: the
    fitted attributes are NumPy arrays on the CPU, so a pipeline fitted on a GPU
    loads anywhere.

    Parameters
    ----------
    pipeline : Pipeline
    device : str, torch.device or None

    Returns
    -------
    Pipeline
        ``pipeline`` itself, its steps' parameters changed.

    Examples
    --------
    >>> from sklearn_salreg.pipelines import make_os_egm, on_device
    >>> pipeline = on_device(make_os_egm(), "cpu")
    >>> {pipeline.get_params()[f"{name}__device"] for name in ("fs", "graph", "os", "agg")}
    {'cpu'}
    """
    names = [name for name, step in pipeline.steps
             if hasattr(step, "get_params") and "device" in step.get_params(deep=False)]
    return pipeline.set_params(**{f"{name}__device": device for name in names})


def add_images(pipeline, X):
    """Grow the database of a fitted object-discovery pipeline without refitting it.

    The steps before the :class:`CentralityGraph` transform the new images with what
    they learned (the region whitening is not refitted), and the graph takes their
    regions in with :meth:`CentralityGraph.partial_fit`: their k-NN lists, the old
    regions' lists updated, the mutual graph rebuilt and the centrality solved again
    from the previous solution. Object saliency has no fitted state of its own: from
    now on ``pipeline.transform`` computes every image's object saliency against the
    grown graph. The descriptors of images described before the call are the user's
    to recompute where they need the new centrality.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline with a :class:`CentralityGraph` step (OS.EGM and its
        variants).
    X : list of array-like of shape (h, w, c) or MapCollection
        The new database images.

    Returns
    -------
    Pipeline
        ``pipeline`` itself, its graph grown.

    Examples
    --------
    >>> from sklearn_salreg.datasets import make_object_maps
    >>> from sklearn_salreg.pipelines import add_images, make_os_egm
    >>> from sklearn_salreg.whitening import LearnedWhitening
    >>> maps = make_object_maps(n_objects=3, n_views=3, n_distractors=2, n_channels=16,
    ...                         random_state=0)[0]
    >>> os_egm = make_os_egm(region_whitening=LearnedWhitening(n_components=8), random_state=0)
    >>> os_egm = os_egm.fit(maps[:8])
    >>> len(os_egm.named_steps["graph"].centrality_)
    21
    >>> len(add_images(os_egm, maps[8:]).named_steps["graph"].centrality_)
    27
    >>> os_egm.transform(maps).shape
    (11, 16)
    """
    positions = [i for i, (_, step) in enumerate(pipeline.steps)
                 if isinstance(step, CentralityGraph)]
    if not positions:
        raise ValueError("add_images needs a pipeline with a CentralityGraph step "
                         f"(OS.EGM); the steps are {[name for name, _ in pipeline.steps]}.")
    graph = pipeline.steps[positions[0]][1]
    graph.partial_fit(pipeline[:positions[0]].transform(X))
    return pipeline
