"""Multi-scale description: the normalised sum of a fitted pipeline's descriptors."""

import numpy as np
import pytest

from sklearn_salreg.multiscale import SCALES, multiscale_transform
from sklearn_salreg.pipelines import make_mac


def _scales(seed=0):
    rng = np.random.default_rng(seed)
    big = [rng.random((8, 10, 6), dtype=np.float32) for _ in range(4)]
    return big, [A[::2, ::2] for A in big]


def test_multiscale_is_the_normalised_sum_of_the_scales():
    big, small = _scales()
    mac = make_mac().fit(big)
    Y = multiscale_transform(mac, [big, small])
    a, b = mac.transform(big), mac.transform(small)
    expected = a / np.linalg.norm(a, axis=1, keepdims=True) + b / np.linalg.norm(
        b, axis=1, keepdims=True)
    np.testing.assert_allclose(Y, expected / np.linalg.norm(expected, axis=1, keepdims=True),
                               rtol=1e-5)
    assert Y.dtype == np.float32
    # one scale is the pipeline itself; a zero weight drops a scale
    np.testing.assert_allclose(multiscale_transform(mac, [big]), a, rtol=1e-5)
    np.testing.assert_allclose(multiscale_transform(mac, [big, small], weights=[1, 0]), a,
                               rtol=1e-5)
    assert SCALES[0] == 1.0 and SCALES[1] == pytest.approx(0.7071, abs=1e-4)


def test_multiscale_errors():
    big, small = _scales()
    mac = make_mac().fit(big)
    with pytest.raises(ValueError, match="at least one scale"):
        multiscale_transform(mac, [])
    with pytest.raises(ValueError, match="scale 1 holds 3"):
        multiscale_transform(mac, [big, small[:3]])
    with pytest.raises(ValueError, match="weights"):
        multiscale_transform(mac, [big, small], weights=[1.0])
