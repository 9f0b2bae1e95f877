"""Small inputs shared by the benchmarks, built once per process (each setup takes
well under a second or two)."""

import functools
import warnings

import numpy as np


def one_thread():
    """Benchmarks run on one core, like the README's speed table."""
    import torch

    torch.set_num_threads(1)


@functools.lru_cache(maxsize=None)
def blob_maps(shape=(24, 32), n_maps=20, n_channels=512):
    """ReLU-sparse maps with blobs: (maps, their feature saliency maps)."""
    from sklearn_salreg import feature_saliency
    from sklearn_salreg.datasets import make_blob_maps

    maps = make_blob_maps(n_maps, shape, n_channels, random_state=0)
    return maps, [feature_saliency(A) for A in maps]


@functools.lru_cache(maxsize=None)
def object_maps():
    """A small database whose objects recur: (maps, labels)."""
    from sklearn_salreg.datasets import make_object_maps

    maps, labels, _ = make_object_maps(n_objects=6, n_views=4, n_distractors=8,
                                       shape=(12, 16), n_channels=64, random_state=0)
    return maps, labels


@functools.lru_cache(maxsize=None)
def descriptors(n=10_000, d=128, n_queries=100):
    """Clustered unit vectors: (database, queries), float32."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((n // 20, d))
    X = centres[rng.integers(0, len(centres), n + n_queries)]
    X = (X + 0.5 * rng.standard_normal(X.shape)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X[:n], X[n:]


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)
