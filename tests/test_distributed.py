"""Distributed execution (issue 6): the per-image stages under a dask cluster.

Every per-image stage goes through joblib, so ``joblib.parallel_config(backend="dask")``
with ``n_jobs=2`` spreads the images over the workers of a ``distributed`` cluster. The
descriptors must be those of a sequential run, for an in-memory and a disk-backed
collection (which travels to the workers as a path and an index).
"""

import warnings

import numpy as np
import pytest
from joblib import parallel_config

distributed = pytest.importorskip("distributed")

from sklearn_salreg import MapCollection, write_maps  # noqa: E402
from sklearn_salreg.pipelines import make_fs_egm, make_os_egm  # noqa: E402
from sklearn_salreg.datasets import make_blob_maps  # noqa: E402
from sklearn_salreg.whitening import LearnedWhitening  # noqa: E402


@pytest.fixture(scope="module")
def client():
    # In-process workers (threads): the scheduler, the task graph and joblib's dask
    # backend are all exercised, without the seconds of starting and importing torch
    # in worker processes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def maps():
    return make_blob_maps(24, (12, 16), 32, random_state=0)


def _fit_transform(pipeline, X, backend=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backend is None:
            return pipeline.fit_transform(X)
        with parallel_config(backend=backend):
            return pipeline.fit_transform(X)


@pytest.mark.parametrize("on_disk", [False, True])
def test_fs_egm_on_dask_equals_sequential(client, maps, tmp_path, on_disk):
    if on_disk:
        write_maps(tmp_path / "maps", maps)
        X = MapCollection.open(tmp_path / "maps")
    else:
        X = MapCollection(maps)
    expected = _fit_transform(make_fs_egm(), X)
    with distributed.get_task_stream(client) as tasks:
        got = _fit_transform(make_fs_egm(n_jobs=2), X, backend="dask")
    assert len(tasks.data) >= 3 * 2  # the images went through the cluster, in chunks
    np.testing.assert_array_equal(got, expected)
    assert expected.shape == (len(maps), 32) and np.isfinite(expected).all()


def test_os_egm_on_dask_equals_sequential(client, maps):
    X = MapCollection(maps)

    def pipeline(n_jobs):
        return make_os_egm(region_whitening=LearnedWhitening(n_components=8),
                           graph=dict(n_neighbors=5),
                           object_saliency=dict(n_neighbors=5, batch_size=5),
                           n_jobs=n_jobs, random_state=0)

    expected = _fit_transform(pipeline(None), X)
    got = _fit_transform(pipeline(2), X, backend="dask")
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert np.isfinite(expected).all()


def test_batched_stages_on_dask_equal_the_numpy_loops(client, maps):
    # the device paths send batches (map_batches), not images, through joblib
    from sklearn_salreg.pipelines import on_device

    X = MapCollection(maps)
    expected = _fit_transform(make_fs_egm(), X)
    pipe = on_device(make_fs_egm(n_jobs=2), "cpu").set_params(
        fs__batch_size=5, egm__batch_size=5, pool__batch_size=5, agg__batch_size=5)
    with distributed.get_task_stream(client) as tasks:
        got = _fit_transform(pipe, X, backend="dask")
    # the batches went through the cluster (joblib may group several into one task)
    assert sum("_run_batch" in task["key"] for task in tasks.data) >= 4
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_region_graph_blocks_on_dask_equal_one_search(client):
    from sklearn_salreg.discovery import CentralityGraph

    rng = np.random.default_rng(0)
    V = rng.normal(size=(300, 16)).astype(np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    expected = CentralityGraph(n_neighbors=6, algorithm="brute").fit(V)
    with distributed.get_task_stream(client) as tasks:
        with parallel_config(backend="dask"):
            got = CentralityGraph(n_neighbors=6, algorithm="brute", n_jobs=2).fit(V)
    assert len(tasks.data) >= 2  # the blocks went through the cluster
    np.testing.assert_array_equal(got.neighbors_, expected.neighbors_)
    np.testing.assert_array_equal(got.neighbor_similarities_, expected.neighbor_similarities_)
    np.testing.assert_array_equal(got.centrality_, expected.centrality_)
